// The dispatcher of block functions with barriers or warp collectives. Each
// round runs every waiting thread up to its next barrier/collective/exit; a
// round in which all threads agree (the ordinary case) uses the region's
// vectorisable loop, any other mix the generic loop that switches per thread.
#include "translate/cpu/jit/block_runtime.h"
#include "translate/cpu/jit/spin_wait.h"
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cuda.h>
#include <memory>
#include <pthread.h>
#include <thread>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

// The backend defines it (cpu_executor.cpp); unit tests of the JIT alone may not.
#pragma weak cuvirt_cpu_fail

namespace cuvirt::cpu::jit {
namespace {

constexpr std::size_t alignUp(std::size_t v, std::size_t a) { return (v + a - 1) / a * a; }

// One block runs at a time per worker thread, so a grow-only buffer per thread
// holds the per-thread frames without a malloc per block.
struct Scratch {
  std::unique_ptr<std::uint8_t, decltype(&std::free)> data{nullptr, &std::free};
  std::size_t size = 0;
  std::uint8_t *get(std::size_t bytes) {
    if (bytes > size) {
      std::size_t want = alignUp(std::max<std::size_t>(bytes, 64 * 1024), 4096);
      data.reset(static_cast<std::uint8_t *>(std::aligned_alloc(64, want)));
      size = data ? want : 0;
    }
    return data.get();
  }
};
thread_local Scratch scratch;

void evalBarRed(const KernelDesc &d, const std::int32_t *state, CollSlot *coll, std::uint32_t n) {
  std::uint64_t popc = 0;
  bool all = true, any = false;
  for (std::uint32_t t = 0; t < n; ++t) {
    std::int32_t s = state[t] & ~kParked;
    if (s >= d.numResume)
      continue;
    std::int32_t k = d.kinds[s];
    if (k < kBarRedPopc || k > kBarRedOr)
      continue;
    bool p = coll[t].pred != 0;
    popc += p;
    all = all && p;
    any = any || p;
  }
  for (std::uint32_t t = 0; t < n; ++t) {
    std::int32_t s = state[t] & ~kParked;
    if (s >= d.numResume)
      continue;
    std::int32_t k = d.kinds[s];
    if (k == kBarRedPopc)
      coll[t].result = popc;
    else if (k == kBarRedAnd)
      coll[t].result = all;
    else if (k == kBarRedOr)
      coll[t].result = any;
  }
}

// Clears the parked bits and returns the state every thread that has not
// exited holds, -1 if they differ, kExit if all have exited. Runs once per
// round of a mixed block (e.g. warp 0's shuffles after the other warps have
// returned): four lanes at a time.
std::int32_t liveAgreement(std::int32_t *state, std::uint32_t n) {
  std::uint32_t t = 0;
  std::int32_t first = kExit;
  while (t < n && first == kExit) { // kExit has no parked bit
    state[t] &= ~kParked;
    first = state[t++];
  }
  if (first == kExit)
    return kExit;
  bool differ = false;
#ifdef __SSE2__
  const __m128i park = _mm_set1_epi32(~kParked), ex = _mm_set1_epi32(kExit), ag = _mm_set1_epi32(first);
  __m128i ok = _mm_set1_epi32(-1);
  for (; t + 4 <= n; t += 4) {
    auto *p = reinterpret_cast<__m128i *>(state + t);
    __m128i v = _mm_and_si128(_mm_loadu_si128(p), park);
    _mm_storeu_si128(p, v);
    ok = _mm_and_si128(ok, _mm_or_si128(_mm_cmpeq_epi32(v, ag), _mm_cmpeq_epi32(v, ex)));
  }
  differ = _mm_movemask_epi8(ok) != 0xffff;
#endif
  for (; t < n; ++t) {
    state[t] &= ~kParked;
    differ = differ || (state[t] != kExit && state[t] != first);
  }
  return differ ? -1 : first;
}

// Bit l set when lane l of a warp (`lanes` of them from s) is in state `st`.
std::uint32_t lanesIn(const std::int32_t *s, std::uint32_t lanes, std::int32_t st) {
  std::uint32_t m = 0, l = 0;
#ifdef __SSE2__
  const __m128i v = _mm_set1_epi32(st);
  for (; l + 4 <= lanes; l += 4) {
    __m128i eq = _mm_cmpeq_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i *>(s + l)), v);
    m |= std::uint32_t(_mm_movemask_ps(_mm_castsi128_ps(eq))) << l;
  }
#endif
  for (; l < lanes; ++l)
    m |= std::uint32_t(s[l] == st) << l;
  return m;
}

// ---- mbarrier waits ----------------------------------------------------------
// A thread at a kMbarWait resume point goes on once the phase it waits for has
// completed; until then the block's other threads run (and arrive). When every
// live thread waits and none can go on, they all resume with "not complete" (a
// try_wait may time out), so a program's own retry loop brings them back.
// Past kMbarStallRounds such rounds in a row each backs off (the spin-wait
// pause, then sleeps: a block of the same cluster may still arrive remotely),
// and kMbarStallTime of them with the waited-on objects unchanged is a
// deadlock (nothing can arrive any more): the launch fails.
constexpr std::uint32_t kMbarStallRounds = 64;
constexpr std::chrono::milliseconds kMbarStallTime{1000};

struct MbarStall {
  std::uint32_t rounds = 0;
  std::uint64_t hash = 0;
  std::chrono::steady_clock::time_point since;
};

std::uint64_t mbarLoad(std::uint64_t address) {
  return std::atomic_ref<std::uint64_t>(*reinterpret_cast<std::uint64_t *>(address))
      .load(std::memory_order_acquire);
}

bool mbarReady(const CollSlot &c) {
  std::uint32_t now = mbar::phase(mbarLoad(c.value));
  if (c.c != 0) // phase parity: the phase of that parity has completed once the current one differs
    return ((now ^ std::uint32_t(c.result)) & 1u) != 0;
  return now != mbar::phase(c.result);
}

bool isMbarWait(const KernelDesc &d, std::int32_t st) {
  st &= ~kParked;
  return st >= 0 && st < d.numResume && d.kinds[st] == kMbarWait;
}

// Sets resultPred of every thread at an mbarrier wait; whether all of them
// (the first `n` threads) may go on.
bool mbarAllReady(const KernelDesc &d, const std::int32_t *state, CollSlot *coll, std::uint32_t n) {
  bool all = true;
  for (std::uint32_t t = 0; t < n; ++t)
    if (isMbarWait(d, state[t])) {
      coll[t].resultPred = mbarReady(coll[t]) ? 1 : 0;
      all = all && coll[t].resultPred != 0;
    }
  return all;
}

enum class MbarRound { None, Scheduled, Deadlock };

// A mixed round without loop rounds or warp collectives pending: threads at
// mbarrier waits that may go on run alone (threads at block barriers wait for
// them); if none may, the others run (block barriers as without mbarriers);
// if there are no others, a stall round (see above).
MbarRound mbarRound(const KernelDesc &d, std::int32_t *state, CollSlot *coll, std::uint32_t n,
                    MbarStall &stall) {
  std::uint32_t waiting = 0, ready = 0, others = 0;
  for (std::uint32_t t = 0; t < n; ++t) {
    if (state[t] == kExit)
      continue;
    if (!isMbarWait(d, state[t])) {
      ++others;
      continue;
    }
    ++waiting;
    coll[t].resultPred = mbarReady(coll[t]) ? 1 : 0;
    ready += coll[t].resultPred;
  }
  if (waiting == 0)
    return MbarRound::None;
  if (ready != 0 || others != 0) {
    stall.rounds = 0;
    for (std::uint32_t t = 0; t < n; ++t) {
      if (state[t] == kExit)
        continue;
      bool go = ready != 0 ? isMbarWait(d, state[t]) && coll[t].resultPred != 0 : !isMbarWait(d, state[t]);
      state[t] = go ? state[t] & ~kParked : state[t] | kParked;
    }
    return MbarRound::Scheduled;
  }
  std::uint64_t h = 0;
  for (std::uint32_t t = 0; t < n; ++t)
    if (state[t] != kExit)
      h = (h ^ mbarLoad(coll[t].value) ^ coll[t].value) * 0x100000001b3ull;
  stall.rounds = stall.rounds != 0 && h == stall.hash ? stall.rounds + 1 : 1;
  stall.hash = h;
  if (stall.rounds == 1) {
    stall.since = std::chrono::steady_clock::now();
    cuvirt_cpu_jit_spin_begin();
  }
  if (stall.rounds >= kMbarStallRounds) {
    if (std::chrono::steady_clock::now() - stall.since >= kMbarStallTime)
      return MbarRound::Deadlock;
    cuvirt_cpu_jit_spin_wait();
  }
  for (std::uint32_t t = 0; t < n; ++t)
    if (state[t] != kExit)
      state[t] &= ~kParked;
  return MbarRound::Scheduled;
}

// Whether the kernel has mbarrier waits at all (mixed rounds of kernels
// without them skip mbarRound's scan of the threads).
bool hasMbarWaits(const KernelDesc &d) {
  for (std::int32_t r = 0; r < d.numResume; ++r)
    if (d.kinds[r] == kMbarWait)
      return true;
  return false;
}

[[noreturn]] void mbarDeadlock(cuvirt::cpu::BlockEnv *env, const KernelDesc &d, const std::int32_t *state,
                               std::uint32_t n) {
  std::uint32_t waiting = 0, first = n;
  for (std::uint32_t t = 0; t < n; ++t)
    if (state[t] != kExit && isMbarWait(d, state[t])) {
      ++waiting;
      first = std::min(first, t);
    }
  char msg[256];
  std::snprintf(msg, sizeof msg,
                "deadlock in block (%u,%u,%u): %u threads (thread %u first) wait on mbarrier phases that no "
                "thread can complete any more (every live thread of the block waits)",
                env->blockIdx[0], env->blockIdx[1], env->blockIdx[2], waiting, first);
  if (&cuvirt_cpu_fail != nullptr)
    cuvirt_cpu_fail(env, CUDA_ERROR_LAUNCH_FAILED, msg);
  std::fprintf(stderr, "cuvirt: %s\n", msg);
  std::abort();
}

} // namespace
} // namespace cuvirt::cpu::jit

using namespace cuvirt::cpu::jit;

// ---- mbarrier objects (the layout: block_runtime.h) ---------------------------
namespace {
std::uint64_t mbarPack(std::uint64_t pending, std::uint64_t expected, std::int64_t tx, std::uint32_t phase) {
  using namespace cuvirt::cpu::jit::mbar;
  return (pending & kCountMask) << kPendingShift | (expected & kCountMask) << kExpectedShift |
         (std::uint64_t(tx) & kTxMask) << kTxShift | std::uint64_t(phase & 7u) << kPhaseShift;
}

// The object after an arrival (see cuvirt_cpu_mbar_arrive); `token` gets the state token.
std::uint64_t mbarNext(std::uint64_t w, std::uint32_t count, std::int32_t tx, std::int32_t flags,
                       std::uint64_t &token) {
  using namespace cuvirt::cpu::jit::mbar;
  std::uint64_t pending = (w >> kPendingShift) & kCountMask, expected = (w >> kExpectedShift) & kCountMask;
  std::int64_t txv = std::int64_t((w >> kTxShift) & kTxMask);
  if (txv & (1 << 20))
    txv -= std::int64_t(1) << 21; // sign
  std::uint32_t ph = phase(w);
  if ((flags & kNoArrive) == 0) {
    pending -= std::min<std::uint64_t>(count, pending); // more arrivals than pending: undefined in PTX
    if ((flags & kDrop) != 0)
      expected -= std::min<std::uint64_t>(count, expected);
  }
  txv += tx;
  token = mbarPack(pending, expected, txv, ph);
  if (pending == 0 && txv == 0 && (flags & kNoComplete) == 0) // the phase completes
    return mbarPack(expected, expected, 0, ph + 1);
  return mbarPack(pending, expected, txv, ph);
}
} // namespace

extern "C" __attribute__((visibility("default"))) void cuvirt_cpu_mbar_init(std::uint64_t *bar,
                                                                            std::uint32_t count) {
  std::atomic_ref<std::uint64_t>(*bar).store(mbarPack(count, count, 0, 0), std::memory_order_release);
}

extern "C" __attribute__((visibility("default"))) void cuvirt_cpu_mbar_inval(std::uint64_t *bar) {
  std::atomic_ref<std::uint64_t>(*bar).store(0, std::memory_order_release);
}

// Atomic: the block's own threads run on one worker, but a block of the same
// cluster may arrive remotely (shared::cluster) from another.
extern "C" __attribute__((visibility("default"))) std::uint64_t
cuvirt_cpu_mbar_arrive(std::uint64_t *bar, std::uint32_t count, std::int32_t tx, std::int32_t flags) {
  std::atomic_ref<std::uint64_t> obj(*bar);
  std::uint64_t w = obj.load(std::memory_order_relaxed);
  for (;;) {
    std::uint64_t token = 0, next = mbarNext(w, count, tx, flags, token);
    if (obj.compare_exchange_weak(w, next, std::memory_order_acq_rel, std::memory_order_relaxed))
      return token;
  }
}

extern "C" __attribute__((visibility("default"))) std::uint32_t cuvirt_cpu_mbar_pending(std::uint64_t token) {
  using namespace cuvirt::cpu::jit::mbar;
  return std::uint32_t((token >> kPendingShift) & kCountMask);
}

// isspacep.local: a thread's local memory is its slot in this worker's frame
// buffer, or (for out-of-line device functions) the worker's own stack.
extern "C" __attribute__((visibility("default"))) bool cuvirt_cpu_islocal(std::uint64_t addr) {
  auto within = [addr](const void *begin, std::size_t size) {
    return addr - reinterpret_cast<std::uintptr_t>(begin) < size;
  };
  if (scratch.data && within(scratch.data.get(), scratch.size))
    return true;
  thread_local std::pair<void *, std::size_t> stack = [] {
    std::pair<void *, std::size_t> s{nullptr, 0};
    pthread_attr_t attr;
    if (pthread_getattr_np(pthread_self(), &attr) == 0) {
      pthread_attr_getstack(&attr, &s.first, &s.second);
      pthread_attr_destroy(&attr);
    }
    return s;
  }();
  return stack.second != 0 && within(stack.first, stack.second);
}

extern "C" __attribute__((visibility("default"))) void cuvirt_cpu_jit_run(cuvirt::cpu::BlockEnv *env,
                                                                          const KernelDesc *desc) {
  const KernelDesc &d = *desc;
  std::uint32_t n = env->blockDim[0] * env->blockDim[1] * env->blockDim[2];
  std::size_t frameBytes = alignUp(std::size_t(n) * std::size_t(d.frameBytes), 64);
  // state[n]: the lockstep flag; state[n + 1]: 1 + the last live thread (fastLive regions)
  std::size_t stateBytes = alignUp((std::size_t(n) + 2) * 4, 64);
  std::uint8_t *base = scratch.get(frameBytes + stateBytes + std::size_t(n) * sizeof(CollSlot));
  if (!base)
    std::abort(); // out of memory for the block's frames: nothing sensible to return
  std::uint8_t *frame = base;
  auto *state = reinterpret_cast<std::int32_t *>(base + frameBytes);
  auto *coll = reinterpret_cast<CollSlot *>(base + frameBytes + stateBytes);

  // state[n] != 0 while every round has been a fast one (all threads from
  // one resume point to one other): loop counters are then the same in
  // every thread (see blockify's loop rounds).
  state[n] = 1;
  // Threads at and past liveEnd have exited (an exit is final): the scans of
  // mixed rounds stop there (warp 0's shuffles after warps 1-7 returned scan
  // 32 states, not 256).
  std::uint32_t liveEnd = n;
  MbarStall stall;
  int mbarKernel = -1; // whether the kernel has mbarrier waits: looked up at the first mixed barrier round
  std::int32_t s = d.fast[0](env, frame, state, coll);
  for (;;) {
    if (s == kExit)
      return;
    if (s >= 0 && s < d.numResume && d.kinds[s] == kMbarWait && !mbarAllReady(d, state, coll, n))
      s = -1; // some waits cannot complete yet: a mixed round
    if (s >= 0 && s < d.numResume) {
      // Every thread stopped at the same point: evaluate it, resume them all.
      std::int32_t k = d.kinds[s];
      // (inline shuffles: the region reads the lanes itself; lockstep points only synchronise)
      if (isWarpKind(k) && k != kLockstep && d.shfl[3 * s] < 0)
        evalWarpCollectives(d, state, coll, n, frame);
      else if (k >= kBarRedPopc && k <= kBarRedOr)
        evalBarRed(d, state, coll, n);
      s = d.fast[s](env, frame, state, coll);
      continue;
    }
    // A mix: threads in a loop round run first (they wait for nothing), then
    // warp collectives, block barriers only once every thread is at one (or
    // has exited).
    state[n] = 0;
    std::int32_t agreed = liveAgreement(state, liveEnd);
    if (agreed == kExit)
      return; // every thread has exited
    if (agreed >= 0 && d.kinds[agreed] == kMbarWait && !mbarAllReady(d, state, coll, liveEnd))
      agreed = -1;
    if (agreed >= 0) {
      // The threads still running agree: as above, skipping the exited ones.
      std::int32_t k = d.kinds[agreed];
      while (liveEnd > 0 && state[liveEnd - 1] == kExit)
        --liveEnd;
      if (isWarpKind(k) && d.shfl[3 * agreed] >= 0) {
        for (std::uint32_t w = 0; w * 32 < liveEnd; ++w)
          coll[w * 32].pad = lanesIn(state + w * 32, std::min(32u, n - w * 32), agreed);
      } else if (isWarpKind(k) && k != kLockstep) {
        evalWarpCollectives(d, state, coll, n, frame);
      } else if (k >= kBarRedPopc && k <= kBarRedOr) {
        evalBarRed(d, state, coll, n);
      }
      state[n + 1] = std::int32_t(liveEnd);
      s = d.fastLive[agreed](env, frame, state, coll);
      continue;
    }
    bool inLoop = false;
    for (std::uint32_t t = 0; t < n && !inLoop; ++t)
      inLoop = state[t] != kExit && d.kinds[state[t]] == kLoop;
    if (inLoop) {
      for (std::uint32_t t = 0; t < n; ++t)
        if (state[t] != kExit && d.kinds[state[t]] != kLoop)
          state[t] |= kParked;
      s = d.generic(env, frame, state, coll);
      continue;
    }
    bool pendingWarp = false, live = false;
    for (std::uint32_t t = 0; t < n; ++t) {
      std::int32_t st = state[t];
      if (st >= 0 && st < d.numResume && isWarpKind(d.kinds[st]))
        pendingWarp = true;
      if (st != kExit)
        live = true;
    }
    if (!live)
      return;
    if (pendingWarp) {
      evalWarpCollectives(d, state, coll, n, frame, /*deferUnready=*/true);
      for (std::uint32_t t = 0; t < n; ++t)
        if (state[t] >= 0 && state[t] < d.numResume && !isWarpKind(d.kinds[state[t]]))
          state[t] |= kParked;
    } else {
      if (mbarKernel < 0)
        mbarKernel = hasMbarWaits(d) ? 1 : 0;
      MbarRound m = mbarKernel != 0 ? mbarRound(d, state, coll, n, stall) : MbarRound::None;
      if (m == MbarRound::Deadlock)
        mbarDeadlock(env, d, state, n);
      if (m == MbarRound::None)
        for (std::uint32_t t = 0; t < n; ++t)
          if (state[t] != kExit)
            state[t] &= ~kParked;
      evalBarRed(d, state, coll, n);
    }
    s = d.generic(env, frame, state, coll);
  }
}

extern "C" __attribute__((visibility("default"))) bool cuvirt_cpu_jit_uniform64(const std::uint64_t *p,
                                                                                std::uint64_t n) {
  // Runs once per loop round: eight independent lanes, so it vectorises.
  const std::uint64_t v = p[0];
  std::uint64_t d[8] = {};
  std::uint64_t t = 0;
  for (; t + 8 <= n; t += 8)
    for (int k = 0; k < 8; ++k)
      d[k] |= p[t + std::uint64_t(k)] ^ v;
  for (; t < n; ++t)
    d[0] |= p[t] ^ v;
  return (d[0] | d[1] | d[2] | d[3] | d[4] | d[5] | d[6] | d[7]) == 0;
}

extern "C" __attribute__((visibility("default"))) std::uint64_t cuvirt_cpu_jit_globaltimer() {
  return std::uint64_t(std::chrono::duration_cast<std::chrono::nanoseconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count());
}

extern "C" __attribute__((visibility("default"))) std::uint32_t cuvirt_cpu_jit_nsmid() {
  static const std::uint32_t n = std::max(1u, std::thread::hardware_concurrency());
  return n;
}
