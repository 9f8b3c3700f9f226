// Warp collectives evaluated over the 32 lanes of each warp once every lane
// of the block has stopped at a barrier, a collective or its end. The lanes
// taking part are those stopped at the same collective (same resume id), so
// divergent lanes at different collectives are evaluated separately, as with
// independent thread scheduling; a collective whose mask names lanes still on
// their way to it waits for them (they arrive after their own collectives).
// Lockstep points (legacy warp-synchronous code) are ordered: see
// laggingLockstep.
#include "translate/cpu/jit/block_runtime.h"
#include <algorithm>
#include <bit>
#include <cstring>
#include <iterator>

namespace cuvirt::cpu::jit {
namespace {

// PTX shfl.sync: source lane and whether it is in range.
void shfl(std::int32_t kind, std::uint32_t lane, const CollSlot &s, std::uint32_t present,
          const CollSlot *warp, CollSlot &out) {
  std::uint32_t b = s.b, segMask = (s.c >> 8) & 31, cval = s.c & 31;
  std::uint32_t maxLane = (lane & segMask) | (cval & ~segMask);
  std::uint32_t minLane = lane & segMask;
  std::int32_t j = 0;
  bool inRange = false;
  switch (kind) {
  case kShflUp:
    j = std::int32_t(lane) - std::int32_t(b);
    inRange = j >= std::int32_t(maxLane);
    break;
  case kShflDown:
    j = std::int32_t(lane + b);
    inRange = j <= std::int32_t(maxLane);
    break;
  case kShflBfly:
    j = std::int32_t(lane ^ b);
    inRange = j <= std::int32_t(maxLane);
    break;
  default: // idx
    j = std::int32_t(minLane | ((b & 31) & ~segMask));
    inRange = j <= std::int32_t(maxLane);
    break;
  }
  if (!inRange || j < 0 || j > 31 || !(present >> j & 1u))
    j = std::int32_t(lane); // out of range, or a lane not there: own value
  out.result = warp[j].value & 0xffffffffu;
  out.resultPred = inRange;
}

void evalLane(std::int32_t kind, std::uint32_t lane, std::uint32_t present, const CollSlot *warp,
              CollSlot &out) {
  const CollSlot &s = warp[lane];
  // Lanes that take part: here at this collective and named by the mask.
  std::uint32_t members = present & (s.mask | (1u << lane));
  auto each = [&](auto f) {
    for (std::uint32_t m = members; m; m &= m - 1)
      f(std::uint32_t(std::countr_zero(m)));
  };
  switch (kind) {
  case kShflIdx:
  case kShflUp:
  case kShflDown:
  case kShflBfly:
    shfl(kind, lane, s, present, warp, out);
    return;
  case kVoteAll:
  case kVoteAny:
  case kVoteUni:
  case kVoteBallot: {
    std::uint32_t ballot = 0;
    each([&](std::uint32_t l) { ballot |= (warp[l].pred ? 1u : 0u) << l; });
    std::uint64_t r = 0;
    if (kind == kVoteAll)
      r = ballot == members;
    else if (kind == kVoteAny)
      r = ballot != 0;
    else if (kind == kVoteUni)
      r = ballot == 0 || ballot == members;
    else
      r = ballot;
    out.result = r;
    out.resultPred = r != 0;
    return;
  }
  case kMatchAny32:
  case kMatchAny64:
  case kMatchAll32:
  case kMatchAll64: {
    bool wide = kind == kMatchAny64 || kind == kMatchAll64;
    std::uint64_t mine = wide ? s.value : (s.value & 0xffffffffu);
    std::uint32_t same = 0;
    each([&](std::uint32_t l) {
      std::uint64_t v = wide ? warp[l].value : (warp[l].value & 0xffffffffu);
      same |= (v == mine ? 1u : 0u) << l;
    });
    if (kind == kMatchAny32 || kind == kMatchAny64) {
      out.result = same;
      out.resultPred = 1;
    } else {
      bool all = same == members;
      out.result = all ? members : 0;
      out.resultPred = all;
    }
    return;
  }
  case kReduxAdd:
  case kReduxMin:
  case kReduxMax:
  case kReduxUmin:
  case kReduxUmax:
  case kReduxAnd:
  case kReduxOr:
  case kReduxXor: {
    std::uint32_t acc = 0;
    bool first = true;
    each([&](std::uint32_t l) {
      std::uint32_t v = std::uint32_t(warp[l].value);
      if (first) {
        acc = v;
        first = false;
        return;
      }
      switch (kind) {
      case kReduxAdd:
        acc += v;
        break;
      case kReduxMin:
        acc = std::uint32_t(std::min(std::int32_t(acc), std::int32_t(v)));
        break;
      case kReduxMax:
        acc = std::uint32_t(std::max(std::int32_t(acc), std::int32_t(v)));
        break;
      case kReduxUmin:
        acc = std::min(acc, v);
        break;
      case kReduxUmax:
        acc = std::max(acc, v);
        break;
      case kReduxAnd:
        acc &= v;
        break;
      case kReduxOr:
        acc |= v;
        break;
      default:
        acc ^= v;
        break;
      }
    });
    out.result = acc;
    out.resultPred = 1;
    return;
  }
  case kActiveMask:
    out.result = present;
    out.resultPred = 1;
    return;
  default: // warpsync: only the rendezvous matters
    out.result = 0;
    out.resultPred = 1;
    return;
  }
}

// Whether the lanes `present` at collective kind `kind` may be evaluated: every
// lane their masks name has arrived or exited. A lane still elsewhere (e.g. in
// the other side of a branch, reaching this collective later) is waited for.
bool groupReady(std::int32_t kind, bool inlineShfl, std::uint32_t present, const std::int32_t *ws,
                const CollSlot *wc, std::uint32_t lanes) {
  if (kind == kActiveMask || kind == kLockstep)
    return true; // reports who is here now / syncs who is here: nobody to wait for
  std::uint32_t need = 0;
  for (std::uint32_t m = present; m; m &= m - 1)
    need |= inlineShfl ? 0xffffffffu : wc[std::countr_zero(m)].mask;
  if (lanes < 32)
    need &= (1u << lanes) - 1;
  for (std::uint32_t m = need & ~present; m; m &= m - 1)
    if (ws[std::countr_zero(m)] != kExit)
      return false;
  return true;
}

// Legacy warp-synchronous code (kLockstep points) expects a pre-Volta warp:
// lanes that diverged wait where the paths meet again. So lanes at a
// lockstep point wait while lanes of their warp are at an earlier lockstep
// point or collective (a lower resume id: ids follow reverse post-order in
// such kernels); a collective whose mask names only such waiting lanes
// besides its own is evaluated by the tie-break (no group ready), with the
// lanes present, as the lanes still in a loop vote without those that left
// it (CuPy's partition kernel). Lanes deferred at the same states for
// kLockstepPatience rounds in a row (an intra-warp spin wait on a flag a
// later statement sets, which hangs a pre-Volta GPU) go on once, as with
// independent thread scheduling.
constexpr std::uint32_t kLockstepPatience = 1u << 16;

// Bit l set for the lanes of warp `ws` at a lockstep point after the
// warp's earliest lockstep point or collective.
std::uint32_t laggingLockstep(const KernelDesc &desc, const std::int32_t *ws, std::uint32_t lanes) {
  std::int32_t first = -1;
  std::uint32_t at = 0;
  for (std::uint32_t l = 0; l < lanes; ++l) {
    std::int32_t s = ws[l];
    if (s < 0 || s >= desc.numResume || !isWarpKind(desc.kinds[s]))
      continue;
    at |= (desc.kinds[s] == kLockstep ? 1u : 0u) << l;
    first = first < 0 ? s : std::min(first, s);
  }
  std::uint32_t later = 0;
  for (std::uint32_t m = at; m; m &= m - 1)
    if (ws[std::countr_zero(m)] != first)
      later |= 1u << std::countr_zero(m);
  return later;
}

// Whether lockstep deferral should stand this round (see kLockstepPatience).
bool keepDeferring(const std::int32_t *state, std::uint32_t n) {
  thread_local std::uint64_t lastSig = 0;
  thread_local std::uint32_t same = 0;
  std::uint64_t sig = std::uint64_t(reinterpret_cast<std::uintptr_t>(state)) * 0x9e3779b97f4a7c15ull;
  for (std::uint32_t t = 0; t < n; ++t)
    sig = (sig ^ std::uint32_t(state[t])) * 0x100000001b3ull;
  same = sig == lastSig ? same + 1 : 0;
  lastSig = sig;
  if (same < kLockstepPatience)
    return true;
  same = 0;
  return false;
}

} // namespace

void evalWarpCollectives(const KernelDesc &desc, std::int32_t *state, CollSlot *coll, std::uint32_t n,
                         const std::uint8_t *frame, bool deferUnready) {
  // With deferUnready, lanes whose mask names lanes still on their way are
  // parked for a round, as long as some group in the block can go ahead;
  // when none can (lanes wait at a block barrier, or at another collective),
  // every group is evaluated with the lanes present, which breaks the tie.
  std::uint32_t lagging[32] = {}; // per warp (n <= 1024), see laggingLockstep
  if (deferUnready) {
    bool any = false;
    for (std::uint32_t w = 0; w * 32 < n && w < 32; ++w)
      any |=
          (lagging[w] = laggingLockstep(desc, state + w * 32, std::min<std::uint32_t>(32, n - w * 32))) != 0;
    if (any && !keepDeferring(state, n))
      std::fill(std::begin(lagging), std::end(lagging), 0u);
  }
  bool evalAll = !deferUnready;
  if (deferUnready) {
    bool anyReady = false;
    for (std::uint32_t w = 0; w * 32 < n && !anyReady; ++w) {
      std::uint32_t lanes = std::min<std::uint32_t>(32, n - w * 32);
      const std::int32_t *ws = state + w * 32;
      for (std::uint32_t l = 0; l < lanes && !anyReady; ++l) {
        std::int32_t s = ws[l];
        if (s < 0 || s >= desc.numResume || !isWarpKind(desc.kinds[s]) || (w < 32 && lagging[w] >> l & 1u))
          continue;
        std::uint32_t present = 0;
        for (std::uint32_t k = 0; k < lanes; ++k)
          present |= (ws[k] == s ? 1u : 0u) << k;
        anyReady = groupReady(desc.kinds[s], desc.shfl[3 * s] >= 0, present, ws, coll + w * 32, lanes);
      }
    }
    evalAll = !anyReady;
  }
  for (std::uint32_t w = 0; w * 32 < n; ++w) {
    std::uint32_t lanes = std::min<std::uint32_t>(32, n - w * 32);
    std::int32_t *ws = state + w * 32;
    CollSlot *wc = coll + w * 32;
    // Results go to a copy so every lane reads the operands, not results.
    CollSlot out[32];
    std::uint32_t done = 0, deferred = w < 32 ? lagging[w] : 0;
    for (std::uint32_t l = 0; l < lanes; ++l) {
      std::int32_t s = ws[l];
      if ((done | deferred) >> l & 1u || s < 0 || s >= desc.numResume || !isWarpKind(desc.kinds[s]))
        continue;
      std::uint32_t present = 0;
      for (std::uint32_t k = l; k < lanes; ++k)
        present |= (ws[k] == s ? 1u : 0u) << k;
      const std::int32_t *sh = desc.shfl + 3 * s;
      if (!evalAll && !groupReady(desc.kinds[s], sh[0] >= 0, present, ws, wc, lanes)) {
        deferred |= present;
        continue;
      }
      if (sh[0] >= 0) {
        // An inline shuffle: its operand is in a frame slot, b and c constant.
        const auto *values = frame + std::size_t(n) * std::uint32_t(sh[0]);
        for (std::uint32_t m = present; m; m &= m - 1) {
          std::uint32_t k = std::uint32_t(std::countr_zero(m));
          std::uint32_t v;
          std::memcpy(&v, values + 4 * (std::size_t(w) * 32 + k), 4);
          wc[k].value = v;
          wc[k].mask = 0xffffffffu;
          wc[k].b = std::uint32_t(sh[1]);
          wc[k].c = std::uint32_t(sh[2]);
        }
      }
      if (desc.kinds[s] == kWarpMatrix) // once per warp; results go to the lanes' own buffers
        evalWarpMatrix(present, wc);
      for (std::uint32_t m = present; m; m &= m - 1) {
        std::uint32_t k = std::uint32_t(std::countr_zero(m));
        out[k] = wc[k];
        evalLane(desc.kinds[s], k, present, wc, out[k]);
      }
      done |= present;
    }
    for (std::uint32_t m = done; m; m &= m - 1) {
      std::uint32_t k = std::uint32_t(std::countr_zero(m));
      wc[k].result = out[k].result;
      wc[k].resultPred = out[k].resultPred;
    }
    for (std::uint32_t m = deferred; m; m &= m - 1)
      ws[std::countr_zero(m)] |= kParked;
  }
}

} // namespace cuvirt::cpu::jit
