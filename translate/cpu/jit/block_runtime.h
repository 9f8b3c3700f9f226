// What block functions with barriers or warp collectives share with the C++
// side: the per-thread collective slot, resume kinds, the kernel descriptor
// emitted by the blockify pass and the dispatcher that runs the regions.
#pragma once
#include "translate/cpu/kernel_abi.h"
#include <cstdint>

namespace cuvirt::cpu::jit {

/// One per CUDA thread: a collective's operands and its result. The layout is
/// mirrored by the IR the blockify pass emits (offsets below).
struct CollSlot {
  std::uint64_t value;      // 0
  std::uint32_t mask;       // 8
  std::uint32_t b;          // 12
  std::uint32_t c;          // 16
  std::uint32_t pred;       // 20
  std::uint64_t result;     // 24
  std::uint32_t resultPred; // 32
  std::uint32_t pad;        // 36
};
static_assert(sizeof(CollSlot) == 40);

/// What a resume point follows (kinds[resumeId] in KernelDesc).
enum ResumeKind : std::int32_t {
  kEntry = 0,
  kBarrier = 1,
  kBarRedPopc = 2,
  kBarRedAnd = 3,
  kBarRedOr = 4,
  kWarpFirst = 16,
  kShflIdx = kWarpFirst,
  kShflUp,
  kShflDown,
  kShflBfly,
  kVoteAll,
  kVoteAny,
  kVoteUni,
  kVoteBallot,
  kMatchAny32,
  kMatchAny64,
  kMatchAll32,
  kMatchAll64,
  kReduxAdd,
  kReduxMin,
  kReduxMax,
  kReduxUmin,
  kReduxUmax,
  kReduxAnd,
  kReduxOr,
  kReduxXor,
  kActiveMask,
  kWarpSync,
  kWarpLast = kWarpSync,
};

inline bool isWarpKind(std::int32_t k) { return k >= kWarpFirst && k <= kWarpLast; }

/// Thread states: a resume id, kExit, or a resume id | kParked (waiting at a
/// block barrier while warp collectives of other threads are resolved).
constexpr std::int32_t kExit = 0x3fffffff;
constexpr std::int32_t kParked = 0x40000000;

/// A region function runs every (non-parked, non-exited) thread of the block
/// from its resume point to its next barrier/collective or exit, storing each
/// thread's new state; it returns that state when all threads agree, else -1.
using RegionFn = std::int32_t (*)(BlockEnv *env, std::uint8_t *frame, std::int32_t *state, CollSlot *coll);

struct KernelDesc {
  std::int32_t numResume;
  std::int32_t frameBytes; ///< per-thread bytes of values kept across barriers
  const std::int32_t *kinds;
  const RegionFn *fast; ///< per resume id: all threads resume there
  RegionFn generic;     ///< any mix of states
};

/// Evaluates the warp collectives of all threads whose state is a warp kind.
void evalWarpCollectives(const KernelDesc &desc, const std::int32_t *state, CollSlot *coll, std::uint32_t n);

} // namespace cuvirt::cpu::jit

extern "C" {
/// Runs one block of a kernel with barriers/collectives (called by K.block).
void cuvirt_cpu_jit_run(cuvirt::cpu::BlockEnv *env, const cuvirt::cpu::jit::KernelDesc *desc);
std::uint64_t cuvirt_cpu_jit_globaltimer();
std::uint32_t cuvirt_cpu_jit_nsmid();
}
