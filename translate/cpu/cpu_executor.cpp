// Runs a grid's blocks over all cores, and turns faults inside kernels into
// CUDA errors (sticky, as on a GPU) instead of killing the process.
#include "runtime/log.h"
#include "translate/cpu/cpu_backend.h"
#include "translate/cpu/device_launch.h"
#include "translate/cpu/jit/kernel_output.h"
#include "translate/cpu/jit/spin_wait.h"
#include <atomic>
#include <condition_variable>
#include <csetjmp>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <mutex>
#include <oneapi/tbb/global_control.h>
#include <oneapi/tbb/parallel_for.h>
#include <pthread.h>
#include <sys/prctl.h>

namespace cuvirt::cpu {

struct LaunchState {
  std::atomic<bool> failed{false};
  std::mutex mutex;
  CUresult code = CUDA_SUCCESS;
  std::string message;
  DeviceLaunches *children = nullptr; ///< grids launched from its device code

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
    struct sigaction sa{};
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

/// Where a block's shared memory starts: .shared variables declared with
/// .align up to this (numba: cuda.shared.array(alignment=256)) get it as
/// addresses, as on a GPU whose shared window starts at 0.
constexpr std::size_t kSharedAlign = 4096;

std::uint8_t *sharedBuffer(std::size_t bytes) {
  // Plain pointers: no thread-exit destructor (the buffer lives as long as
  // its thread, which is as long as the pool).
  thread_local std::uint8_t *buffer = nullptr;
  thread_local std::size_t capacity = 0;
  if (capacity < bytes) {
    ::operator delete[](buffer, std::align_val_t(kSharedAlign));
    capacity = std::max<std::size_t>(bytes, std::size_t(64) << 10);
    buffer = static_cast<std::uint8_t *>(::operator new[](capacity, std::align_val_t(kSharedAlign)));
  }
  return buffer;
}

/// What a cooperative grid's block thread uses instead of the pool's.
struct CoopBlock {
  std::uint8_t *shared;
  std::uint64_t gridWorkspace;
  std::uint32_t smid;
};

/// Runs blocks [begin, end) of the grid on this thread.
void runBlocks(const LaunchOp &op, const CpuKernel &kernel, void *const *params, LaunchState &state,
               std::size_t begin, std::size_t end, const CoopBlock *coop = nullptr) {
  const std::size_t staticBytes = (kernel.staticSharedBytes + 15u) & ~std::size_t(15);
  BlockEnv env{};
  std::memcpy(env.gridDim, op.grid, sizeof(env.gridDim));
  std::memcpy(env.blockDim, op.block, sizeof(env.blockDim));
  env.dynamicSharedBytes = op.dynamicSharedBytes;
  env.shared = coop != nullptr ? coop->shared : sharedBuffer(staticBytes + op.dynamicSharedBytes + 16);
  env.params = params;
  env.launch = &state;
  env.smid =
      coop != nullptr ? coop->smid : static_cast<std::uint32_t>(tbb::this_task_arena::current_thread_index());
  env.gridWorkspace = coop != nullptr ? coop->gridWorkspace : 0;

  KernelOutputScope output(op.output); // before sigsetjmp: a longjmp back never skips it
  sigjmp_buf jump;
  sigjmp_buf *outer = t_jump;
  LaunchState *outerLaunch = t_launch;
  std::size_t b = begin;
  if (int signal = sigsetjmp(jump, 0); signal != 0) {
    // Back from a fault or a trap: signals stay blocked after a longjmp out
    // of a handler, so unblock them again.
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGSEGV);
    sigaddset(&set, SIGBUS);
    sigaddset(&set, SIGFPE);
    pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
    // A trap or assert longjmps with 1 after recording its own error; a
    // signal number means a fault, wherever it was (address 0 included).
    if (signal != 1) {
      state.fail(CUDA_ERROR_ILLEGAL_ADDRESS,
                 fmt::format("kernel {}: illegal memory access at address 0x{:x} in block ({},{},{})",
                             op.name, t_faultAddress, env.blockIdx[0], env.blockIdx[1], env.blockIdx[2]));
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

/// The grid workspace cooperative_groups expects at %envreg1:%envreg2
/// (cooperative_groups/details/driver_abi.h): {u32 size, u32 barrier}, zeroed.
struct alignas(64) GridWorkspace {
  std::uint32_t size = sizeof(GridWorkspace);
  std::atomic<std::uint32_t> barrier{0};
};

std::int64_t monotonicNs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return std::int64_t(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

/// How long every block of a cooperative grid may poll, with its grid
/// barrier mid-round and unchanged, before the launch fails as a deadlock
/// (CUVIRT_GRID_SYNC_TIMEOUT_MS, default 5 s; 0 = wait forever, as a GPU).
std::int64_t gridSyncTimeoutNs() {
  static const std::int64_t ns = [] {
    const char *v = std::getenv("CUVIRT_GRID_SYNC_TIMEOUT_MS");
    return v != nullptr && *v != '\0' ? std::int64_t(std::strtoll(v, nullptr, 10)) * 1000000 : 5000000000;
  }();
  return ns;
}

/// A block of a cooperative grid as its launcher sees it.
struct BlockWatch {
  jit::SpinWatch spin; // its spin-waits (jit/spin_wait.cpp)
  std::atomic<bool> done{false};
};

// A cooperative grid: every block gets its own thread, so blocks spinning in
// a grid-wide sync (this_grid().sync() polls the workspace barrier) cannot
// keep the blocks they wait for from running. The runtime has capped the grid
// at what the device reports resident at once (occupancy x SM count).
void runCooperative(const LaunchOp &op, const CpuKernel &kernel, void *const *params, LaunchState &state) {
  const std::size_t blocks = std::size_t(op.grid[0]) * op.grid[1] * op.grid[2];
  const std::size_t sharedStride = (((kernel.staticSharedBytes + 15u) & ~std::size_t(15)) +
                                    op.dynamicSharedBytes + 16 + kSharedAlign - 1) &
                                   ~(kSharedAlign - 1);
  auto workspace = std::make_unique<GridWorkspace>();
  std::vector<std::uint8_t> sharedMemory(sharedStride * blocks + kSharedAlign);
  auto *shared = reinterpret_cast<std::uint8_t *>(
      (reinterpret_cast<std::uintptr_t>(sharedMemory.data()) + kSharedAlign - 1) & ~(kSharedAlign - 1));
  const auto sms = static_cast<std::uint32_t>(std::max(1, tbb::this_task_arena::max_concurrency()));

  struct Shared {
    const LaunchOp &op;
    const CpuKernel &kernel;
    void *const *params;
    LaunchState &state;
    std::mutex mutex;
    std::condition_variable cv;
    std::size_t finished = 0;
  } sh{op, kernel, params, state, {}, {}, 0};
  struct Arg {
    Shared *sh;
    std::size_t block;
    CoopBlock coop;
    std::int64_t spin; // ns a grid-sync waiter pauses before sleeping
    BlockWatch *watch;
  };
  std::vector<Arg> args(blocks);
  auto watches = std::make_unique<BlockWatch[]>(blocks);
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 64u << 20); // as the pool's workers
  std::vector<pthread_t> threads;
  threads.reserve(blocks);
  for (std::size_t b = 0; b < blocks; ++b) {
    args[b] = {&sh,
               b,
               {shared + b * sharedStride, reinterpret_cast<std::uintptr_t>(workspace.get()),
                static_cast<std::uint32_t>(b % sms)},
               blocks > sms ? 0 : 10000, // more blocks than cores: a spinning waiter only delays them
               &watches[b]};
    // once the launch has failed, a waiting block unwinds at its next poll
    watches[b].spin.stop = &state.failed;
    watches[b].spin.onStop = [] {
      if (t_jump != nullptr)
        siglongjmp(*t_jump, 1);
    };
    pthread_t t;
    int rc = pthread_create(
        &t, &attr,
        [](void *p) -> void * {
          auto *a = static_cast<Arg *>(p);
          prctl(PR_SET_TIMERSLACK, 1000UL); // short sleeps in spin-waits stay short (jit/spin_wait.cpp)
          jit::setSpinBudget(a->spin);
          jit::setSpinWatch(&a->watch->spin);
          runBlocks(a->sh->op, a->sh->kernel, a->sh->params, a->sh->state, a->block, a->block + 1, &a->coop);
          jit::setSpinWatch(nullptr);
          a->watch->done.store(true, std::memory_order_release);
          std::lock_guard lock(a->sh->mutex);
          ++a->sh->finished;
          a->sh->cv.notify_one();
          return nullptr;
        },
        &args[b]);
    if (rc != 0) {
      state.fail(CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES,
                 fmt::format("cooperative launch of {}: cannot start a thread for block {} of {} ({})",
                             op.name, b, blocks, std::strerror(rc)));
      break;
    }
    threads.push_back(t);
  }
  pthread_attr_destroy(&attr);
  {
    // A failed block never arrives at the grid barrier: once the launch has
    // failed, keep flipping the barrier's phase bit so that the blocks
    // waiting there run out instead of spinning forever.
    // A grid sync that some block never reaches (it exited, or waits for
    // something else) hangs a GPU; here, once every block still running has
    // polled for the timeout in waits it entered before, with the barrier
    // mid-round (arrivals below bit 31) and unchanged, the launch fails.
    const std::int64_t timeout = gridSyncTimeoutNs();
    std::int64_t stuckAt = 0, stuckLatest = 0;
    std::uint32_t stuckBarrier = 0;
    unsigned tick = 0;
    std::unique_lock lock(sh.mutex);
    while (
        !sh.cv.wait_for(lock, std::chrono::milliseconds(1), [&] { return sh.finished == threads.size(); })) {
      if (state.failed.load(std::memory_order_relaxed)) {
        workspace->barrier.fetch_xor(0x80000000u, std::memory_order_acq_rel);
        continue;
      }
      if (timeout <= 0 || ++tick % 64 != 0 || threads.size() != blocks)
        continue;
      const std::uint32_t barrier = workspace->barrier.load(std::memory_order_acquire);
      const std::int64_t now = monotonicNs();
      bool stuck = (barrier & 0x7fffffffu) != 0;
      std::int64_t latest = 0;
      std::size_t exited = 0, firstExited = 0;
      for (std::size_t b = 0; b < blocks && stuck; ++b) {
        if (watches[b].done.load(std::memory_order_acquire)) {
          firstExited = exited++ == 0 ? b : firstExited;
          continue;
        }
        const std::int64_t beat = watches[b].spin.beat.load(std::memory_order_relaxed);
        stuck = beat != 0 && now - beat < 1000000000; // polling within the last second
        latest = std::max(latest, watches[b].spin.since.load(std::memory_order_relaxed));
      }
      if (!stuck || stuckAt == 0 || barrier != stuckBarrier || latest != stuckLatest) {
        stuckAt = stuck ? now : 0;
        stuckBarrier = barrier;
        stuckLatest = latest;
        continue;
      }
      if (now - stuckAt < timeout)
        continue;
      std::string why =
          exited != 0
              ? fmt::format("cooperative launch of {}: deadlock: {} of {} blocks (block {} first) finished "
                            "without arriving at a grid-wide sync (this_grid().sync()) the other blocks have "
                            "waited in for {} ms (thread 0 of a block, or all of it, returned before the "
                            "sync; every thread must reach each grid sync)",
                            op.name, exited, blocks, firstExited, (now - stuckAt) / 1000000)
              : fmt::format("cooperative launch of {}: deadlock: all {} blocks have waited {} ms, the grid "
                            "barrier mid-round (not every block reached this grid sync)",
                            op.name, blocks, (now - stuckAt) / 1000000);
      log().warn("{}", why); // a hang turned into an error: say why
      state.fail(CUDA_ERROR_LAUNCH_TIMEOUT, std::move(why));
    }
  }
  for (pthread_t t : threads)
    pthread_join(t, nullptr);
}

/// A launch's thread block clusters: its own shape, else the kernel's
/// __cluster_dims__ (launches from graphs and device code carry none).
std::array<std::uint32_t, 3> clusterShape(const LaunchOp &op, const CpuKernel &kernel) {
  if (op.cluster[0] * op.cluster[1] * op.cluster[2] > 1 || kernel.info == nullptr)
    return {op.cluster[0], op.cluster[1], op.cluster[2]};
  return kernel.info->clusterShape();
}

/// The blocks of one cluster at a time, a thread each (a team): their shared
/// memories side by side (rank r's at arena + r * stride, so `mapa` is
/// address arithmetic) and their cluster barrier.
struct ClusterTeam {
  alignas(64) std::atomic<std::uint32_t> arrived{0};
  std::atomic<std::uint32_t> generation{0};
  std::uint32_t dim[3] = {1, 1, 1};
  std::uint32_t size = 1;
  std::size_t stride = 0;
  std::uint8_t *arena = nullptr;
  LaunchState *state = nullptr;
  const char *kernel = "";
};

thread_local ClusterTeam *t_team = nullptr;
thread_local std::uint32_t t_rank = 0;
thread_local bool t_clusterArrived = false; ///< this block arrived at the cluster barrier

// A cluster launch: teams of one thread per block of a cluster take the
// clusters in turn (team k runs clusters k, k + teams, ...), so the blocks
// of a cluster always run at once and may wait for each other.
void runClusters(const LaunchOp &launch, const std::array<std::uint32_t, 3> &cluster, const CpuKernel &kernel,
                 void *const *params, LaunchState &state) {
  LaunchOp op = launch;
  std::copy(cluster.begin(), cluster.end(), op.cluster);
  const std::uint32_t *cd = op.cluster;
  if (op.grid[0] % cd[0] != 0 || op.grid[1] % cd[1] != 0 || op.grid[2] % cd[2] != 0) {
    state.fail(CUDA_ERROR_INVALID_CLUSTER_SIZE,
               fmt::format("cluster launch of {}: clusters of {}x{}x{} do not divide the grid ({},{},{})",
                           op.name, cd[0], cd[1], cd[2], op.grid[0], op.grid[1], op.grid[2]));
    return;
  }
  const std::uint32_t size = cd[0] * cd[1] * cd[2];
  const std::uint32_t cgrid[3] = {op.grid[0] / cd[0], op.grid[1] / cd[1], op.grid[2] / cd[2]};
  const std::size_t clusters = std::size_t(cgrid[0]) * cgrid[1] * cgrid[2];
  const auto cores = static_cast<std::size_t>(std::max(1, tbb::this_task_arena::max_concurrency()));
  const std::size_t teams = std::max<std::size_t>(1, std::min(clusters, cores / size));
  const std::size_t stride = (((kernel.staticSharedBytes + 15u) & ~std::size_t(15)) + op.dynamicSharedBytes +
                              16 + kSharedAlign - 1) &
                             ~(kSharedAlign - 1);
  std::vector<std::uint8_t> sharedMemory(stride * size * teams + kSharedAlign);
  auto *shared = reinterpret_cast<std::uint8_t *>(
      (reinterpret_cast<std::uintptr_t>(sharedMemory.data()) + kSharedAlign - 1) & ~(kSharedAlign - 1));
  auto team = std::make_unique<ClusterTeam[]>(teams);
  for (std::size_t k = 0; k < teams; ++k) {
    std::copy(cd, cd + 3, team[k].dim);
    team[k].size = size;
    team[k].stride = stride;
    team[k].arena = shared + k * size * stride;
    team[k].state = &state;
    team[k].kernel = op.name.c_str();
  }
  struct Arg {
    const LaunchOp *op;
    const CpuKernel *kernel;
    void *const *params;
    LaunchState *state;
    ClusterTeam *team;
    std::size_t first, step, clusters;
    std::uint32_t rank, smid;
    const std::uint32_t *cgrid;
  };
  std::vector<Arg> args;
  for (std::size_t k = 0; k < teams; ++k)
    for (std::uint32_t r = 0; r < size; ++r)
      args.push_back({&op, &kernel, params, &state, &team[k], k, teams, clusters, r,
                      static_cast<std::uint32_t>(k * size + r), cgrid});
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 64u << 20); // as the pool's workers
  std::vector<pthread_t> threads;
  for (Arg &a : args) {
    pthread_t t;
    int rc = pthread_create(
        &t, &attr,
        [](void *p) -> void * {
          auto *a = static_cast<Arg *>(p);
          const LaunchOp &op = *a->op;
          const std::uint32_t *cd = op.cluster;
          const std::uint32_t rx = a->rank % cd[0], ry = a->rank / cd[0] % cd[1],
                              rz = a->rank / (cd[0] * cd[1]);
          t_team = a->team;
          t_rank = a->rank;
          CoopBlock coop{a->team->arena + a->rank * a->team->stride, 0, a->smid};
          for (std::size_t c = a->first; c < a->clusters; c += a->step) {
            const std::size_t cx = c % a->cgrid[0], cy = c / a->cgrid[0] % a->cgrid[1],
                              cz = c / (std::size_t(a->cgrid[0]) * a->cgrid[1]);
            const std::size_t bx = cx * cd[0] + rx, by = cy * cd[1] + ry, bz = cz * cd[2] + rz;
            const std::size_t b = bx + op.grid[0] * (by + std::size_t(op.grid[1]) * bz);
            t_clusterArrived = false;
            runBlocks(op, *a->kernel, a->params, *a->state, b, b + 1, &coop);
          }
          t_team = nullptr;
          return nullptr;
        },
        &a);
    if (rc != 0) {
      state.fail(CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES,
                 fmt::format("cluster launch of {}: cannot start a thread for a block ({})", op.name,
                             std::strerror(rc)));
      break;
    }
    threads.push_back(t);
  }
  pthread_attr_destroy(&attr);
  for (pthread_t t : threads)
    pthread_join(t, nullptr);
}

} // namespace

DeviceLaunches *currentDeviceLaunches() { return t_launch != nullptr ? t_launch->children : nullptr; }

Status runGrid(const LaunchOp &op, int depth) {
  installFaultHandlers();
  (void)stackControl();
  const auto &kernel = *static_cast<const CpuKernel *>(op.kernel);
  std::vector<void *> params(op.layout.size());
  auto *data = const_cast<std::uint8_t *>(op.params.data());
  for (std::size_t i = 0; i < op.layout.size(); ++i)
    params[i] = data + op.layout[i].offset;

  LaunchState state;
  DeviceLaunches children(op, depth);
  state.children = &children;
  const std::size_t blocks = std::size_t(op.grid[0]) * op.grid[1] * op.grid[2];
  const std::size_t threads = std::size_t(op.block[0]) * op.block[1] * op.block[2];
  // Small grids of small blocks are not worth waking the pool for.
  if (op.cooperative) {
    runCooperative(op, kernel, params.data(), state);
  } else if (const auto cluster = clusterShape(op, kernel); cluster[0] * cluster[1] * cluster[2] > 1) {
    runClusters(op, cluster, kernel, params.data(), state);
  } else if (blocks == 1 || blocks * threads < 4096) {
    runBlocks(op, kernel, params.data(), state, 0, blocks);
  } else {
    tbb::parallel_for(tbb::blocked_range<std::size_t>(0, blocks),
                      [&](const tbb::blocked_range<std::size_t> &r) {
                        runBlocks(op, kernel, params.data(), state, r.begin(), r.end());
                      });
  }
  if (state.failed)
    return report(state.code, state.message);
  return children.runChildren();
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

extern "C" __attribute__((visibility("default"))) void cuvirt_cpu_fail(BlockEnv *env, int code,
                                                                       const char *message) {
  auto *state = env != nullptr ? env->launch : cuvirt::cpu::t_launch;
  if (state != nullptr)
    state->fail(CUresult(code), message);
  if (cuvirt::cpu::t_jump != nullptr)
    siglongjmp(*cuvirt::cpu::t_jump, 1);
  std::abort();
}

extern "C" __attribute__((visibility("default"))) void
cuvirt_cpu_assertfail(const char *message, const char *file, unsigned line, const char *function,
                      BlockEnv *env, unsigned tidX, unsigned tidY, unsigned tidZ) {
  // CUDA's own wording, so scripts that grep for it keep working.
  cuvirt::cpu::writeKernelOutput(
      2, fmt::format("{}:{}: {}: block: [{},{},{}], thread: [{},{},{}] Assertion `{}` failed.\n",
                     file ? file : "?", line, function ? function : "?", env ? env->blockIdx[0] : 0,
                     env ? env->blockIdx[1] : 0, env ? env->blockIdx[2] : 0, tidX, tidY, tidZ,
                     message ? message : "?"));
  auto *state = env != nullptr ? env->launch : cuvirt::cpu::t_launch;
  if (state != nullptr)
    state->fail(CUDA_ERROR_ASSERT, fmt::format("device-side assert triggered: {}", message ? message : "?"));
  if (cuvirt::cpu::t_jump != nullptr)
    siglongjmp(*cuvirt::cpu::t_jump, 1);
  std::abort();
}

using cuvirt::cpu::t_clusterArrived;
using cuvirt::cpu::t_rank;
using cuvirt::cpu::t_team;

// %cluster_nctaid.{x,y,z}: 1 outside cluster launches.
extern "C" __attribute__((visibility("default"))) std::uint32_t cuvirt_cpu_cluster_dim(std::uint32_t d) {
  return t_team != nullptr && d < 3 ? t_team->dim[d] : 1;
}

// mapa (generic): the same shared-memory location in block `rank` of the
// cluster; 0 for an address outside this block's shared memory or a rank
// outside the cluster (the access then faults, as on a GPU).
extern "C" __attribute__((visibility("default"))) std::uint64_t cuvirt_cpu_cluster_map(std::uint64_t address,
                                                                                       std::uint32_t rank) {
  if (t_team == nullptr)
    return rank == 0 ? address : 0;
  auto mine = reinterpret_cast<std::uintptr_t>(t_team->arena) + t_rank * t_team->stride;
  if (rank >= t_team->size || address - mine >= t_team->stride)
    return 0;
  return address - mine + reinterpret_cast<std::uintptr_t>(t_team->arena) + rank * t_team->stride;
}

// barrier.cluster.arrive: the block's threads arrive (they all do, before
// the block barrier that barrier.cluster.wait starts with).
extern "C" __attribute__((visibility("default"))) void cuvirt_cpu_cluster_arrive() {
  t_clusterArrived = true;
}

// barrier.cluster.wait, after its block barrier: the block's first thread
// there waits for every block of the cluster; the others find it done.
extern "C" __attribute__((visibility("default"))) void cuvirt_cpu_cluster_wait() {
  using namespace cuvirt::cpu;
  if (!t_clusterArrived)
    return;
  t_clusterArrived = false;
  ClusterTeam *team = t_team;
  if (team == nullptr || team->size == 1)
    return;
  const std::uint32_t generation = team->generation.load(std::memory_order_acquire);
  if (team->arrived.fetch_add(1, std::memory_order_acq_rel) + 1 == team->size) {
    team->arrived.store(0, std::memory_order_relaxed);
    team->generation.fetch_add(1, std::memory_order_acq_rel);
    return;
  }
  const std::int64_t start = monotonicNs(), timeout = gridSyncTimeoutNs();
  for (unsigned spins = 0; team->generation.load(std::memory_order_acquire) == generation; ++spins) {
    if (team->state->failed.load(std::memory_order_relaxed) && t_jump != nullptr)
      siglongjmp(*t_jump, 1); // another block of the launch failed
    if (spins < 1000)
      continue;
    struct timespec pause{0, 20000};
    nanosleep(&pause, nullptr);
    if (timeout > 0 && spins % 256 == 0 && monotonicNs() - start > timeout)
      cuvirt_cpu_fail(nullptr, CUDA_ERROR_LAUNCH_TIMEOUT,
                      fmt::format("cluster launch of {}: deadlock: a block waited {} ms at a cluster barrier "
                                  "(cluster.sync()) that another block of its cluster never reached",
                                  team->kernel, (monotonicNs() - start) / 1000000)
                          .c_str());
  }
}
