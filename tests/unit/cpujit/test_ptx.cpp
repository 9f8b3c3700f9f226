// PTX from nvcc -> compilePtx (front end + blockify + JIT) -> run; and the
// disk cache. Skipped, loudly, when the build had no nvcc.
#include "driver.h"
#include "translate/cpu/jit/dump.h"
#include "translate/cpu/jit/engine.h"
#ifdef CPUJIT_HAVE_FRONTEND
#include "translate/ptx/ptx.h"
#endif
#include <cstdio>
#include <cstdlib>
#include <doctest.h>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <sstream>
#include <unistd.h>

using namespace cpujit_test;
using cuvirt::cpu::BlockFn;
using cuvirt::cpu::CompiledModule;

namespace {

std::string readPtx() {
#ifdef CPUJIT_PTX_FILE
  std::ifstream in(CPUJIT_PTX_FILE);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
#else
  return {};
#endif
}

bool havePtx() {
#if defined(CPUJIT_PTX_FILE) && defined(CPUJIT_HAVE_FRONTEND)
  return true;
#else
  MESSAGE("SKIPPED: PTX-level tests need nvcc at build time and the PTX front end (cuvirt_ptx_llvm)");
  return false;
#endif
}

// The module's .global/.const variables, allocated and initialised as the
// runtime does before compiling.
std::vector<std::vector<std::uint8_t>> gStorage;

cuvirt::cpu::CompileOptions withGlobals(cuvirt::cpu::CompileOptions opts) {
#ifdef CPUJIT_HAVE_FRONTEND
  std::string log;
  auto info = cuvirt::ptx::moduleInfo(readPtx(), log);
  INFO(log);
  REQUIRE(info.ok());
  for (const cuvirt::GlobalInfo &g : info->globals) {
    std::vector<std::uint8_t> mem(std::max<std::uint64_t>(g.size, 1) + 64, 0);
    std::copy(g.init.begin(), g.init.end(), mem.begin());
    gStorage.push_back(std::move(mem));
    opts.globals[g.name] = reinterpret_cast<std::uint64_t>(gStorage.back().data());
  }
#endif
  return opts;
}

std::unique_ptr<CompiledModule> compilePtxOrFail(const cuvirt::cpu::CompileOptions &base = {}) {
  std::string log;
  auto m = cuvirt::cpu::compilePtx(readPtx(), withGlobals(base), log);
  INFO(log);
  REQUIRE(m.ok());
  return m.take();
}

BlockFn kernelOf(const std::unique_ptr<CompiledModule> &m, const char *name) {
  BlockFn fn = m->kernel(name);
  INFO(name);
  REQUIRE(bool(fn));
  return fn;
}

} // namespace

TEST_CASE("ptx: vecAdd, blockSum, warpSum, sgemm, reverseDyn from nvcc") {
  if (!havePtx())
    return;
  auto m = compilePtxOrFail();
  {
    const int n = 1000;
    std::vector<float> a(n), b(n), c(n, -1);
    for (int i = 0; i < n; ++i) {
      a[i] = float(i) * 0.5f;
      b[i] = float(3 * i);
    }
    float *pa = a.data(), *pb = b.data(), *pc = c.data();
    int nn = n;
    REQUIRE(launch(kernelOf(m, "vecAdd"), {(n + 255) / 256}, {256}, {&pa, &pb, &pc, &nn}));
    for (int i = 0; i < n; ++i)
      REQUIRE(c[i] == a[i] + b[i]);
  }
  {
    const std::uint32_t blocks = 5, block = 256;
    std::vector<int> in(blocks * block), out(blocks, -1);
    for (std::size_t i = 0; i < in.size(); ++i)
      in[i] = int(i % 97) - 40;
    int *pi = in.data(), *po = out.data();
    REQUIRE(launch(kernelOf(m, "blockSum"), {blocks}, {block}, {&pi, &po}, 1024));
    for (std::uint32_t b = 0; b < blocks; ++b)
      REQUIRE(out[b] == std::accumulate(in.begin() + b * block, in.begin() + (b + 1) * block, 0));
  }
  {
    const std::uint32_t blocks = 3, block = 128;
    std::vector<int> in(blocks * block), out(2 * blocks * block / 32, -1);
    for (std::size_t i = 0; i < in.size(); ++i)
      in[i] = int((i * 2654435761u) >> 11) % 1000;
    int *pi = in.data(), *po = out.data();
    REQUIRE(launch(kernelOf(m, "warpSum"), {blocks}, {block}, {&pi, &po}));
    for (std::size_t w = 0; w < in.size() / 32; ++w) {
      int sum = 0;
      unsigned odd = 0;
      for (int l = 0; l < 32; ++l) {
        sum += in[w * 32 + l];
        odd |= unsigned(in[w * 32 + l] & 1) << l;
      }
      REQUIRE(out[2 * w] == sum);
      REQUIRE(unsigned(out[2 * w + 1]) == odd);
    }
  }
  {
    const int n = 64;
    std::vector<float> a(n * n), b(n * n), c(n * n, -1), want(n * n, 0);
    for (int i = 0; i < n * n; ++i) {
      a[i] = float(i % 5) - 2;
      b[i] = float(i % 3);
    }
    for (int i = 0; i < n; ++i)
      for (int k = 0; k < n; ++k)
        for (int j = 0; j < n; ++j)
          want[i * n + j] += a[i * n + k] * b[k * n + j];
    float *pa = a.data(), *pb = b.data(), *pc = c.data();
    int nn = n;
    REQUIRE(launch(kernelOf(m, "sgemm"), {n / 16, n / 16}, {16, 16}, {&pa, &pb, &pc, &nn}, 2048));
    for (int i = 0; i < n * n; ++i)
      REQUIRE(c[i] == want[i]);
  }
  {
    const std::uint32_t blocks = 2, block = 72;
    std::vector<int> data(blocks * block);
    std::iota(data.begin(), data.end(), 0);
    int *pd = data.data();
    REQUIRE(launch(kernelOf(m, "reverseDyn"), {blocks}, {block}, {&pd}, 0, block * 4));
    for (std::uint32_t i = 0; i < data.size(); ++i)
      REQUIRE(data[i] == int(i / block * block + block - 1 - i % block));
  }
}

TEST_CASE("ptx: a block reduction's running sum keeps one frame slot, and sums right") {
  if (!havePtx())
    return;
#ifdef CPUJIT_HAVE_FRONTEND
  // Its register's value, the loop phi, the exit phi and that phi's reload
  // after the first shuffle are one value: one 4-byte slot, not four. The
  // rest: the round counter (8), the shuffle operand (4), the warp index
  // and a few more kept across the barrier.
  std::string log;
  auto ir = cuvirt::cpu::jit::dumpPtx(readPtx(), cuvirt::cpu::jit::DumpStage::BlockIR, log);
  INFO(log);
  REQUIRE(ir.ok());
  const std::string tag = "@gridReduce.desc = private constant { i32, i32, ptr, ptr, ptr, ptr, ptr } { i32 ";
  auto at = ir->find(tag);
  REQUIRE(at != std::string::npos);
  at = ir->find(", i32 ", at + tag.size());
  REQUIRE(at != std::string::npos);
  const int frameBytes = std::stoi(ir->substr(at + 6));
  INFO("gridReduce frame bytes per thread: " << frameBytes);
  CHECK(frameBytes <= 64); // 112 before slots were shared
#endif
  auto m = compilePtxOrFail();
  std::vector<float> x(100003);
  double exact = 0;
  for (std::size_t i = 0; i < x.size(); ++i)
    exact += x[i] = float(i % 1000) / 8;
  for (auto [grid, block] : {std::pair{64u, 256u}, std::pair{7u, 96u}, std::pair{1u, 32u}}) {
    float sum = 0, *px = x.data(), *ps = &sum;
    int n = int(x.size());
    REQUIRE(launch(kernelOf(m, "gridReduce"), {grid}, {block}, {&px, &n, &ps}, 32 * sizeof(float)));
    INFO("grid " << grid << " block " << block);
    CHECK(double(sum) == doctest::Approx(exact).epsilon(1e-5));
  }
}

TEST_CASE("ptx: device printf goes through cuvirt_cpu_vprintf") {
  if (!havePtx())
    return;
  auto m = compilePtxOrFail();
  // Capture stdout in a file for the duration of the launch.
  std::fflush(stdout);
  char path[] = "/tmp/cpujit-printf-XXXXXX";
  int fd = ::mkstemp(path);
  REQUIRE(fd >= 0);
  int saved = ::dup(1);
  ::dup2(fd, 1);
  int x = 42;
  bool ok = launch(kernelOf(m, "hello"), {2}, {32}, {&x});
  std::fflush(stdout);
  ::dup2(saved, 1);
  ::close(saved);
  ::close(fd);
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  std::remove(path);
  CHECK(ok);
  CHECK(ss.str() == "hello from block 0: x=42 f=1.50 s=ok\nhello from block 1: x=42 f=1.50 s=ok\n");
}

TEST_CASE("disk cache: the second compilation loads the object and binds globals anew") {
  // Kernel IR with a module global, so that the cached object's binding is checked too.
  const std::string ir = std::string(kDecls) + R"(
@counter = external global [8 x i8], align 4
define void @bump(ptr %params) #0 {
entry:
  %tid = call i32 @cuvirt.tid.x()
  %old = atomicrmw add ptr @counter, i32 1 monotonic
  %p0 = load ptr, ptr %params
  %v = load i32, ptr %p0
  %g2 = getelementptr i8, ptr @counter, i64 4
  store i32 %v, ptr %g2
  ret void
}
)";
  auto dir = std::filesystem::temp_directory_path() / ("cpujit-cache-test-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  cuvirt::ModuleInfo info = infoFor("bump");
  std::int32_t g1[2] = {0, 0}, g2[2] = {100, 0};
  cuvirt::cpu::CompileOptions opts;
  opts.cacheDir = dir.string();
  opts.globals["counter"] = reinterpret_cast<std::uint64_t>(&g1[0]);
  auto before = cuvirt::cpu::jit::jitStats();
  std::string log;
  auto first = cuvirt::cpu::jit::compileIr(ir, info, opts, log);
  INFO(log);
  REQUIRE(first.ok());
  auto mid = cuvirt::cpu::jit::jitStats();
  CHECK(mid.cacheMisses == before.cacheMisses + 1);
  CHECK(mid.codegens == before.codegens + 1);
  CHECK(mid.cacheHits == before.cacheHits);
  opts.globals["counter"] = reinterpret_cast<std::uint64_t>(&g2[0]);
  auto second = cuvirt::cpu::jit::compileIr(ir, info, opts, log);
  REQUIRE(second.ok());
  auto after = cuvirt::cpu::jit::jitStats();
  CHECK(after.cacheHits == mid.cacheHits + 1);
  CHECK(after.codegens == mid.codegens); // no LLVM optimisation/codegen the second time
  int v = 9;
  REQUIRE(launch(kernelOf(first.operator*(), "bump"), {2}, {10}, {&v}));
  CHECK(g1[0] == 20);
  CHECK(g1[1] == 9);
  v = 11;
  REQUIRE(launch(kernelOf(second.operator*(), "bump"), {1}, {5}, {&v}));
  CHECK(g2[0] == 105);
  CHECK(g2[1] == 11);
  CHECK(g1[0] == 20);
  // A different source is a different key.
  auto other = cuvirt::cpu::jit::compileIr(ir + "\n; changed\n", info, opts, log);
  REQUIRE(other.ok());
  CHECK(cuvirt::cpu::jit::jitStats().codegens == after.codegens + 1);
  // The PTX path uses the same cache.
  if (havePtx()) {
    auto p1 = compilePtxOrFail(opts);
    auto s1 = cuvirt::cpu::jit::jitStats();
    auto p2 = compilePtxOrFail(opts);
    auto s2 = cuvirt::cpu::jit::jitStats();
    CHECK(s2.cacheHits == s1.cacheHits + 1);
    CHECK(s2.codegens == s1.codegens);
    CHECK(bool(p2->kernel("sgemm")));
  }
  std::filesystem::remove_all(dir);
}

TEST_CASE("vprintf: CUDA's packed argument buffer") {
  // "%d %5.2f %s %lld %x %c|%%|%-4u|%p\n" with args at natural alignment.
  alignas(8) unsigned char buf[64] = {};
  std::size_t off = 0;
  auto put = [&](const auto &v) {
    off = (off + sizeof(v) - 1) / sizeof(v) * sizeof(v);
    std::memcpy(buf + off, &v, sizeof(v));
    off += sizeof(v);
  };
  put(std::int32_t(-7));
  put(3.14159);
  put(reinterpret_cast<std::uintptr_t>("str"));
  put(std::int64_t(1) << 40);
  put(std::uint32_t(0xbeef));
  put(std::int32_t('Z'));
  put(std::uint32_t(5));
  put(std::uintptr_t(0));
  std::fflush(stdout);
  char path[] = "/tmp/cpujit-vprintf-XXXXXX";
  int fd = ::mkstemp(path);
  REQUIRE(fd >= 0);
  int saved = ::dup(1);
  ::dup2(fd, 1);
  int n = cuvirt_cpu_vprintf("%d %5.2f %s %lld %x %c|%%|%-4u|%p\n", buf);
  std::fflush(stdout);
  ::dup2(saved, 1);
  ::close(saved);
  ::close(fd);
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  std::remove(path);
  CHECK(n == 8);
  char want[128];
  std::snprintf(want, sizeof want, "-7  3.14 str 1099511627776 beef Z|%%|5   |%p\n", nullptr);
  CHECK(ss.str() == want);
  CHECK(cuvirt_cpu_vprintf(nullptr, buf) == -1);
  void *p = cuvirt_cpu_malloc(100);
  CHECK(reinterpret_cast<std::uintptr_t>(p) % 16 == 0);
  cuvirt_cpu_free(p);
}

TEST_CASE("ptx: malformed PTX is an error with a log, not a crash") {
  if (!havePtx())
    return;
  std::string log;
  auto m = cuvirt::cpu::compilePtx(
      ".version 8.0\n.target sm_80\n.address_size 64\n.visible .entry k() { bogus; }\n", {}, log);
  CHECK(!m.ok());
  CHECK(m.status().code() == CUDA_ERROR_INVALID_PTX);
  CHECK(!log.empty());
}
