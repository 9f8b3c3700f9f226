// The dispatcher of block functions with barriers or warp collectives. Each
// round runs every waiting thread up to its next barrier/collective/exit; a
// round in which all threads agree (the ordinary case) uses the region's
// vectorisable loop, any other mix the generic loop that switches per thread.
#include "translate/cpu/jit/block_runtime.h"
#include <chrono>
#include <cstdlib>
#include <memory>
#include <thread>

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

} // namespace
} // namespace cuvirt::cpu::jit

using namespace cuvirt::cpu::jit;

extern "C" __attribute__((visibility("default"))) void cuvirt_cpu_jit_run(cuvirt::cpu::BlockEnv *env,
                                                                          const KernelDesc *desc) {
  const KernelDesc &d = *desc;
  std::uint32_t n = env->blockDim[0] * env->blockDim[1] * env->blockDim[2];
  std::size_t frameBytes = alignUp(std::size_t(n) * std::size_t(d.frameBytes), 64);
  std::size_t stateBytes = alignUp(std::size_t(n) * 4, 64);
  std::uint8_t *base = scratch.get(frameBytes + stateBytes + std::size_t(n) * sizeof(CollSlot));
  if (!base)
    std::abort(); // out of memory for the block's frames: nothing sensible to return
  std::uint8_t *frame = base;
  auto *state = reinterpret_cast<std::int32_t *>(base + frameBytes);
  auto *coll = reinterpret_cast<CollSlot *>(base + frameBytes + stateBytes);

  std::int32_t s = d.fast[0](env, frame, state, coll);
  for (;;) {
    if (s == kExit)
      return;
    if (s >= 0 && s < d.numResume) {
      // Every thread stopped at the same point: evaluate it, resume them all.
      std::int32_t k = d.kinds[s];
      if (isWarpKind(k))
        evalWarpCollectives(d, state, coll, n);
      else if (k >= kBarRedPopc && k <= kBarRedOr)
        evalBarRed(d, state, coll, n);
      s = d.fast[s](env, frame, state, coll);
      continue;
    }
    // A mix: warp collectives first, block barriers only once every thread
    // is at one (or has exited).
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
      evalWarpCollectives(d, state, coll, n);
      for (std::uint32_t t = 0; t < n; ++t)
        if (state[t] >= 0 && state[t] < d.numResume && !isWarpKind(d.kinds[state[t]]))
          state[t] |= kParked;
    } else {
      for (std::uint32_t t = 0; t < n; ++t)
        if (state[t] != kExit)
          state[t] &= ~kParked;
      evalBarRed(d, state, coll, n);
    }
    s = d.generic(env, frame, state, coll);
  }
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
