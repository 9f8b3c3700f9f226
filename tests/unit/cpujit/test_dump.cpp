// The debugging dumps of each stage.
#include "driver.h"
#include "translate/cpu/jit/dump.h"
#include <cstdio>
#include <cstdlib>
#include <doctest.h>

using namespace cpujit_test;
using cuvirt::cpu::jit::DumpStage;

namespace {
const char *const kSaxpy = R"(
define void @saxpy(ptr %params) #0 {
entry:
  %pa = load ptr, ptr %params
  %x = load ptr, ptr %pa
  %pbp = getelementptr ptr, ptr %params, i64 1
  %pb = load ptr, ptr %pbp
  %y = load ptr, ptr %pb
  %tid = call i32 @cuvirt.tid.x()
  %ntid = call i32 @cuvirt.ntid.x()
  %ctaid = call i32 @cuvirt.ctaid.x()
  %m = mul i32 %ctaid, %ntid
  %i = add i32 %m, %tid
  %i64 = sext i32 %i to i64
  %xp = getelementptr float, ptr %x, i64 %i64
  %yp = getelementptr float, ptr %y, i64 %i64
  %xv = load float, ptr %xp
  %yv = load float, ptr %yp
  %ax = fmul float %xv, 2.0
  %s = fadd float %ax, %yv
  store float %s, ptr %yp
  ret void
}
)";
} // namespace

TEST_CASE("dump: each stage of a kernel as text") {
  std::string ir = std::string(kDecls) + kSaxpy;
  // CPUJIT_DUMP=file.ll dumps that file's stages instead (a debugging aid).
  const char *file = std::getenv("CPUJIT_DUMP");
  std::string shared = std::getenv("CPUJIT_SHARED") ? std::getenv("CPUJIT_SHARED") : "0";
  cuvirt::ModuleInfo info = infoFor("saxpy");
  if (file) {
    FILE *f = std::fopen(file, "rb");
    REQUIRE(f);
    ir.assign(kDecls);
    char buf[4096];
    for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;)
      ir.append(buf, n);
    std::fclose(f);
    info = infoFor(std::getenv("CPUJIT_KERNEL") ? std::getenv("CPUJIT_KERNEL") : "k", std::stoul(shared));
  }
  const char *names[] = {"thread", "block", "optimized", "asm"};
  if (const char *ptxFile = std::getenv("CPUJIT_DUMP_PTX")) { // a debugging aid: the stages of a PTX file
    FILE *f = std::fopen(ptxFile, "rb");
    REQUIRE(f);
    std::string ptx;
    char buf[4096];
    for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;)
      ptx.append(buf, n);
    std::fclose(f);
    for (DumpStage stage :
         {DumpStage::ThreadIR, DumpStage::BlockIR, DumpStage::OptimizedIR, DumpStage::Assembly}) {
      std::string log;
      auto text = cuvirt::cpu::jit::dumpPtx(ptx, stage, log);
      INFO(log);
      REQUIRE(text.ok());
      std::printf("==== %s ====\n%s\n", names[int(stage)], text->c_str());
    }
    return;
  }
  for (DumpStage stage :
       {DumpStage::ThreadIR, DumpStage::BlockIR, DumpStage::OptimizedIR, DumpStage::Assembly}) {
    std::string log;
    auto text = cuvirt::cpu::jit::dumpIr(ir, info, stage, log);
    INFO(log);
    REQUIRE(text.ok());
    if (file)
      std::printf("==== %s ====\n%s\n", names[int(stage)], text->c_str());
    else if (stage == DumpStage::ThreadIR)
      CHECK(text->find("define void @saxpy(") != std::string::npos);
    else if (stage == DumpStage::BlockIR || stage == DumpStage::OptimizedIR)
      CHECK(text->find("define void @saxpy.block(ptr") != std::string::npos);
    else
      CHECK(text->find("saxpy.block:") != std::string::npos);
  }
  std::string log;
  CHECK(!cuvirt::cpu::jit::dumpIr("this is not IR", info, DumpStage::BlockIR, log).ok());
  CHECK(!log.empty());
}
