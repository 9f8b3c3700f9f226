// Runs a grid's blocks over all cores, and turns faults inside kernels into
// CUDA errors (sticky, as on a GPU) instead of killing the process.
#include "translate/cpu/cpu_backend.h"
#include "runtime/log.h"
#include <atomic>
#include <csetjmp>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <oneapi/tbb/global_control.h>
#include <oneapi/tbb/parallel_for.h>

namespace cuvirt::cpu {

struct LaunchState {
  std::atomic<bool> failed{false};
  std::mutex mutex;
  CUresult code = CUDA_SUCCESS;
  std::string message;

  void fail(CUresult c, std::string m) {
    std::lock_guard lock(mutex);
    if (!failed.exchange(true)) {
      code = c;
      message = std::move(m);
    }
  }
};

namespace {

thread_local sigjmp_buf *t_jump = nullptr;
thread_local LaunchState *t_launch = nullptr;
thread_local std::uintptr_t t_faultAddress = 0;

struct sigaction g_previousSegv, g_previousBus, g_previousFpe;

void onFault(int sig, siginfo_t *info, void *context) {
  if (t_jump != nullptr) {
    t_faultAddress = reinterpret_cast<std::uintptr_t>(info->si_addr);
    siglongjmp(*t_jump, sig);
  }
  // Not inside a kernel: the fault is the host program's own; let the
  // previous handler (or the default action) have it.
  struct sigaction *prev = sig == SIGSEGV ? &g_previousSegv : sig == SIGBUS ? &g_previousBus : &g_previousFpe;
  if ((prev->sa_flags & SA_SIGINFO) != 0 && prev->sa_sigaction != nullptr) {
    prev->sa_sigaction(sig, info, context);
    return;
  }
  if (prev->sa_handler != SIG_DFL && prev->sa_handler != SIG_IGN && prev->sa_handler != nullptr) {
    prev->sa_handler(sig);
    return;
  }
  signal(sig, SIG_DFL);
  raise(sig);
}

void installFaultHandlers() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction sa {};
    sa.sa_sigaction = onFault;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, &g_previousSegv);
    sigaction(SIGBUS, &sa, &g_previousBus);
    sigaction(SIGFPE, &sa, &g_previousFpe);
  });
}

tbb::global_control &stackControl() {
  // TBB workers run blocks too; give them big stacks.
  static tbb::global_control control(tbb::global_control::thread_stack_size, 64u << 20);
  return control;
}

std::uint8_t *sharedBuffer(std::size_t bytes) {
  // Plain pointers: no thread-exit destructor (the buffer lives as long as
  // its thread, which is as long as the pool).
  thread_local std::uint8_t *buffer = nullptr;
  thread_local std::size_t capacity = 0;
  if (capacity < bytes) {
    ::operator delete[](buffer, std::align_val_t(64));
    capacity = std::max<std::size_t>(bytes, std::size_t(64) << 10);
    buffer = static_cast<std::uint8_t *>(::operator new[](capacity, std::align_val_t(64)));
  }
  return buffer;
}

/// Runs blocks [begin, end) of the grid on this thread.
void runBlocks(const LaunchOp &op, const CpuKernel &kernel, void *const *params, LaunchState &state,
               std::size_t begin, std::size_t end) {
  const std::size_t staticBytes = (kernel.staticSharedBytes + 15u) & ~std::size_t(15);
  BlockEnv env{};
  std::memcpy(env.gridDim, op.grid, sizeof(env.gridDim));
  std::memcpy(env.blockDim, op.block, sizeof(env.blockDim));
  env.dynamicSharedBytes = op.dynamicSharedBytes;
  env.shared = sharedBuffer(staticBytes + op.dynamicSharedBytes + 16);
  env.params = params;
  env.launch = &state;
  env.smid = static_cast<std::uint32_t>(tbb::this_task_arena::current_thread_index());

  sigjmp_buf jump;
  sigjmp_buf *outer = t_jump;
  LaunchState *outerLaunch = t_launch;
  std::size_t b = begin;
  if (sigsetjmp(jump, 0) != 0) {
    // Back from a fault or a trap: signals stay blocked after a longjmp out
    // of a handler, so unblock them again.
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGSEGV);
    sigaddset(&set, SIGBUS);
    sigaddset(&set, SIGFPE);
    pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
    if (t_faultAddress != 0) {
      state.fail(CUDA_ERROR_ILLEGAL_ADDRESS,
                 fmt::format("kernel {}: illegal memory access at address 0x{:x} in block ({},{},{})", op.name,
                             t_faultAddress, env.blockIdx[0], env.blockIdx[1], env.blockIdx[2]));
      t_faultAddress = 0;
    }
    t_jump = outer;
    t_launch = outerLaunch;
    return;
  }
  t_jump = &jump;
  t_launch = &state;
  const std::uint64_t gx = op.grid[0], gy = op.grid[1];
  for (; b < end; ++b) {
    if (state.failed.load(std::memory_order_relaxed))
      break;
    env.blockIdx[0] = static_cast<std::uint32_t>(b % gx);
    env.blockIdx[1] = static_cast<std::uint32_t>((b / gx) % gy);
    env.blockIdx[2] = static_cast<std::uint32_t>(b / (gx * gy));
    kernel.fn(&env);
  }
  t_jump = outer;
  t_launch = outerLaunch;
}

} // namespace

Status runGrid(const LaunchOp &op) {
  installFaultHandlers();
  (void)stackControl();
  const auto &kernel = *static_cast<const CpuKernel *>(op.kernel);
  std::vector<void *> params(op.layout.size());
  auto *data = const_cast<std::uint8_t *>(op.params.data());
  for (std::size_t i = 0; i < op.layout.size(); ++i)
    params[i] = data + op.layout[i].offset;

  LaunchState state;
  const std::size_t blocks = std::size_t(op.grid[0]) * op.grid[1] * op.grid[2];
  const std::size_t threads = std::size_t(op.block[0]) * op.block[1] * op.block[2];
  // Small grids of small blocks are not worth waking the pool for.
  if (blocks == 1 || blocks * threads < 4096) {
    runBlocks(op, kernel, params.data(), state, 0, blocks);
  } else {
    tbb::parallel_for(tbb::blocked_range<std::size_t>(0, blocks), [&](const tbb::blocked_range<std::size_t> &r) {
      runBlocks(op, kernel, params.data(), state, r.begin(), r.end());
    });
  }
  if (state.failed)
    return report(state.code, state.message);
  return {};
}

} // namespace cuvirt::cpu

using cuvirt::cpu::BlockEnv;

extern "C" __attribute__((visibility("default"))) void cuvirt_cpu_trap(BlockEnv *env) {
  auto *state = env != nullptr ? env->launch : cuvirt::cpu::t_launch;
  if (state != nullptr)
    state->fail(CUDA_ERROR_LAUNCH_FAILED, "kernel executed a trap instruction");
  if (cuvirt::cpu::t_jump != nullptr)
    siglongjmp(*cuvirt::cpu::t_jump, 1);
  std::abort(); // not inside a kernel: cannot happen through the JIT
}

extern "C" __attribute__((visibility("default"))) void
cuvirt_cpu_assertfail(const char *message, const char *file, unsigned line, const char *function, BlockEnv *env,
                      unsigned tidX, unsigned tidY, unsigned tidZ) {
  // CUDA's own wording, so scripts that grep for it keep working.
  std::fprintf(stderr, "%s:%u: %s: block: [%u,%u,%u], thread: [%u,%u,%u] Assertion `%s` failed.\n",
               file ? file : "?", line, function ? function : "?", env ? env->blockIdx[0] : 0,
               env ? env->blockIdx[1] : 0, env ? env->blockIdx[2] : 0, tidX, tidY, tidZ, message ? message : "?");
  std::fflush(stderr);
  auto *state = env != nullptr ? env->launch : cuvirt::cpu::t_launch;
  if (state != nullptr)
    state->fail(CUDA_ERROR_ASSERT, fmt::format("device-side assert triggered: {}", message ? message : "?"));
  if (cuvirt::cpu::t_jump != nullptr)
    siglongjmp(*cuvirt::cpu::t_jump, 1);
  std::abort();
}
