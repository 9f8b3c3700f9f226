// Test launcher and the backend's trap/assert hooks, done with longjmp.
#include "driver.h"
#include <cstring>

namespace cpujit_test {

thread_local int trapped = 0;
thread_local std::string assertMessage;
namespace {
thread_local std::jmp_buf *escape = nullptr;
}

namespace {
// Kept apart from the setjmp frame so no local of it lives across a longjmp.
[[gnu::noinline]] void runGrid(cuvirt::cpu::BlockFn fn, cuvirt::cpu::BlockEnv *env, Dim grid,
                               std::vector<std::uint8_t> *shared) {
  for (std::uint32_t z = 0; z < grid.z; ++z)
    for (std::uint32_t y = 0; y < grid.y; ++y)
      for (std::uint32_t x = 0; x < grid.x; ++x) {
        env->blockIdx[0] = x;
        env->blockIdx[1] = y;
        env->blockIdx[2] = z;
        std::memset(shared->data(), 0xcd, shared->size()); // not zeroed on a GPU either
        fn(env);
      }
}

[[gnu::noinline]] bool guarded(cuvirt::cpu::BlockFn fn, cuvirt::cpu::BlockEnv *env, Dim grid,
                               std::vector<std::uint8_t> *shared) {
  std::jmp_buf buf;
  escape = &buf;
  trapped = 0;
  if (setjmp(buf) != 0) {
    escape = nullptr;
    return false;
  }
  runGrid(fn, env, grid, shared);
  escape = nullptr;
  return true;
}
} // namespace

bool launch(cuvirt::cpu::BlockFn fn, Dim grid, Dim block, std::vector<void *> params,
            std::uint32_t staticShared, std::uint32_t dynShared) {
  std::vector<std::uint8_t> shared((staticShared + 15) / 16 * 16 + dynShared + 16);
  cuvirt::cpu::BlockEnv env{};
  env.gridDim[0] = grid.x;
  env.gridDim[1] = grid.y;
  env.gridDim[2] = grid.z;
  env.blockDim[0] = block.x;
  env.blockDim[1] = block.y;
  env.blockDim[2] = block.z;
  env.dynamicSharedBytes = dynShared;
  env.shared = shared.data();
  env.params = params.data();
  return guarded(fn, &env, grid, &shared);
}

const char *const kDecls = R"(
declare i32 @cuvirt.tid.x()
declare i32 @cuvirt.tid.y()
declare i32 @cuvirt.tid.z()
declare i32 @cuvirt.ntid.x()
declare i32 @cuvirt.ntid.y()
declare i32 @cuvirt.ntid.z()
declare i32 @cuvirt.ctaid.x()
declare i32 @cuvirt.ctaid.y()
declare i32 @cuvirt.ctaid.z()
declare i32 @cuvirt.nctaid.x()
declare i32 @cuvirt.nctaid.y()
declare i32 @cuvirt.laneid()
declare i32 @cuvirt.warpid()
declare i32 @cuvirt.lanemask.lt()
declare ptr @cuvirt.shared.base()
declare ptr @cuvirt.dynshared.base()
declare i32 @cuvirt.dynshared.size()
declare void @cuvirt.barrier(i32, i32)
declare void @cuvirt.warpsync(i32)
declare {i32, i1} @cuvirt.shfl.down(i32, i32, i32, i32)
declare {i32, i1} @cuvirt.shfl.up(i32, i32, i32, i32)
declare {i32, i1} @cuvirt.shfl.idx(i32, i32, i32, i32)
declare {i32, i1} @cuvirt.shfl.bfly(i32, i32, i32, i32)
declare i1 @cuvirt.vote.all(i32, i1)
declare i1 @cuvirt.vote.any(i32, i1)
declare i1 @cuvirt.vote.uni(i32, i1)
declare i32 @cuvirt.vote.ballot(i32, i1)
declare i32 @cuvirt.match.any.i32(i32, i32)
declare i32 @cuvirt.redux.add(i32, i32)
declare i32 @cuvirt.activemask()
declare i32 @cuvirt.barrier.red.popc(i32, i32, i1)
declare void @cuvirt.trap()
declare i32 @vprintf(ptr, ptr)
attributes #0 = { "cuvirt-kernel" }
)";

cuvirt::ModuleInfo infoFor(const std::string &kernel, std::uint32_t staticShared) {
  cuvirt::ModuleInfo info;
  cuvirt::KernelInfo k;
  k.name = kernel;
  k.staticSharedBytes = staticShared;
  info.kernels.push_back(k);
  return info;
}

} // namespace cpujit_test

extern "C" [[noreturn]] void cuvirt_cpu_trap(cuvirt::cpu::BlockEnv *) {
  cpujit_test::trapped = 1;
  std::longjmp(*cpujit_test::escape, 1);
}

extern "C" [[noreturn]] void cuvirt_cpu_assertfail(const char *message, const char *, unsigned, const char *,
                                                   cuvirt::cpu::BlockEnv *, unsigned, unsigned, unsigned) {
  cpujit_test::trapped = 2;
  cpujit_test::assertMessage = message ? message : "";
  std::longjmp(*cpujit_test::escape, 1);
}
