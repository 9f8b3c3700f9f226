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
  std::uint32_t pad;        // 36 (present lanes of a warp, see KernelDesc::fastLive)
};
static_assert(sizeof(CollSlot) == 40);

/// What a resume point follows (kinds[resumeId] in KernelDesc).
enum ResumeKind : std::int32_t {
  kEntry = 0,
  kBarrier = 1,
  kBarRedPopc = 2,
  kBarRedAnd = 3,
  kBarRedOr = 4,
  kLoop = 5, ///< the top of a per-thread loop: no synchronisation, threads run in rounds
  /// mbarrier test_wait/try_wait: the CollSlot holds the object's address
  /// (value), the state token or phase parity (result) and whether it is a
  /// parity (c); a thread resumes when that phase has completed (resultPred 1),
  /// or with 0 when every live thread waits and none can complete.
  kMbarWait = 6,
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
  /// A volatile shared-memory access of legacy warp-synchronous code: the
  /// lanes of a warp that are here synchronise (no operands, no result);
  /// resume ids follow the kernel's reverse post-order, so a lower id is
  /// earlier (blockify's insertLockstepPoints, warp_ops.cpp).
  kLockstep,
  /// cuvirt.warp.matrix (translate/ptx/matrix_abi.h): value = the lane's
  /// fragment buffer, b = descriptor, c = types; evaluated per warp
  /// (evalWarpMatrix, jit/warp_matrix.cpp).
  kWarpMatrix,
  kWarpLast = kWarpMatrix,
};

/// Blocks with fewer threads run per-thread loops whole, not in rounds (a
/// second block function, compiled without them).
constexpr std::uint32_t kMinRoundThreads = 64;

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
  /// Per resume id, 3 values: inline shuffles (constant b and c) keep their
  /// operand in a 4-byte frame slot at byte prefix [0] (thread t's at
  /// frame + n * prefix + 4 * t) with b = [1], c = [2]; the fast region
  /// computes the result itself. -1 at [0]: the operands are in the CollSlot.
  const std::int32_t *shfl;
  /// Per resume id: all threads that have not exited resume there (exited
  /// ones are skipped; an inline shuffle finds its warp's present lanes in
  /// the `pad` of the warp's first CollSlot).
  const RegionFn *fastLive;
};

/// The 64-bit mbarrier object (shared memory; the layout is the CPU target's):
/// pending arrivals [0,20), expected arrivals [20,40), pending transaction
/// bytes [40,61) (signed), phase [61,64). A state token is the object's value
/// after the arrival with the phase before it.
namespace mbar {
constexpr int kPendingShift = 0, kExpectedShift = 20, kTxShift = 40, kPhaseShift = 61;
constexpr std::uint64_t kCountMask = (1u << 20) - 1, kTxMask = (1u << 21) - 1;
/// cuvirt.mbarrier.arrive's flags (translate/KERNEL_IR.md)
constexpr std::int32_t kNoComplete = 1, kDrop = 2, kNoArrive = 4;
inline std::uint32_t phase(std::uint64_t w) { return std::uint32_t(w >> kPhaseShift); }
} // namespace mbar

/// The warp matrix collective of the lanes `present` of one warp (its 32
/// CollSlots at wc): tensor-core mma, ldmatrix, stmatrix, movmatrix.
void evalWarpMatrix(std::uint32_t present, CollSlot *wc);

/// Evaluates the warp collectives of all threads whose state is a warp kind.
/// With deferUnready (block of mixed states), a group whose masks name lanes
/// that are neither there nor exited is parked instead, while another group
/// can go ahead.
void evalWarpCollectives(const KernelDesc &desc, std::int32_t *state, CollSlot *coll, std::uint32_t n,
                         const std::uint8_t *frame, bool deferUnready = false);

} // namespace cuvirt::cpu::jit

extern "C" {
/// Runs one block of a kernel with barriers/collectives (called by K.block).
void cuvirt_cpu_jit_run(cuvirt::cpu::BlockEnv *env, const cuvirt::cpu::jit::KernelDesc *desc);
/// isspacep.local: whether addr is in the calling worker's local memory.
bool cuvirt_cpu_islocal(std::uint64_t addr);
std::uint64_t cuvirt_cpu_jit_globaltimer();
/// Whether the n values at p are all equal (a region's lockstep check).
bool cuvirt_cpu_jit_uniform64(const std::uint64_t *p, std::uint64_t n);
std::uint32_t cuvirt_cpu_jit_nsmid();
/// mbarrier.init / inval / arrive (all forms) and pending_count (block_runtime.cpp).
void cuvirt_cpu_mbar_init(std::uint64_t *bar, std::uint32_t count);
void cuvirt_cpu_mbar_inval(std::uint64_t *bar);
std::uint64_t cuvirt_cpu_mbar_arrive(std::uint64_t *bar, std::uint32_t count, std::int32_t tx,
                                     std::int32_t flags);
std::uint32_t cuvirt_cpu_mbar_pending(std::uint64_t token);
}
