// Warp collectives, mixed barrier/collective kernels, irregular shapes, traps.
#include "driver.h"
#include "translate/cpu/jit/engine.h"
#include <bit>
#include <doctest.h>

using namespace cpujit_test;
using cuvirt::cpu::BlockFn;
using cuvirt::cpu::CompiledModule;

namespace {

std::unique_ptr<CompiledModule> compile(const std::string &body, const cuvirt::ModuleInfo &info) {
  std::string log;
  auto m = cuvirt::cpu::jit::compileIr(std::string(kDecls) + body, info, {}, log);
  INFO(log);
  REQUIRE(m.ok());
  return m.take();
}

BlockFn kernelOf(const std::unique_ptr<CompiledModule> &m, const char *name) {
  BlockFn fn = m->kernel(name);
  REQUIRE(bool(fn));
  return fn;
}

// Common prologue: %out = params[0], %in = params[1], %tid, %ntid, %ctaid, %gid, %g64, %lane.
const char *const kProlog = R"(
  %p0 = load ptr, ptr %params
  %out = load ptr, ptr %p0
  %p1p = getelementptr ptr, ptr %params, i64 1
  %p1 = load ptr, ptr %p1p
  %in = load ptr, ptr %p1
  %tid = call i32 @cuvirt.tid.x()
  %ntid = call i32 @cuvirt.ntid.x()
  %ctaid = call i32 @cuvirt.ctaid.x()
  %m = mul i32 %ctaid, %ntid
  %gid = add i32 %m, %tid
  %g64 = zext i32 %gid to i64
  %lane = call i32 @cuvirt.laneid()
  %inp = getelementptr i32, ptr %in, i64 %g64
  %v0 = load i32, ptr %inp
  %outp = getelementptr i32, ptr %out, i64 %g64
)";

std::string kernel(const char *name, const char *body) {
  return std::string("define void @") + name + "(ptr %params) #0 {\nentry:\n" + kProlog + body + "\n}\n";
}

struct Run {
  std::vector<std::int32_t> in, out;
};

Run run(BlockFn fn, std::uint32_t blocks, std::uint32_t block, std::uint32_t shared = 0) {
  Run r;
  r.in.resize(blocks * block);
  r.out.assign(blocks * block, -7);
  for (std::size_t i = 0; i < r.in.size(); ++i)
    r.in[i] = std::int32_t((i * 2654435761u) >> 7) % 1000;
  auto *po = r.out.data();
  auto *pi = r.in.data();
  REQUIRE(launch(fn, {blocks}, {block}, {&po, &pi}, shared));
  return r;
}

} // namespace

TEST_CASE("warp shuffles: down-reduction in a loop, up-scan with the range predicate, idx, bfly") {
  auto m = compile(kernel("reduce", R"(
  br label %loop
loop:
  %v = phi i32 [ %v0, %entry ], [ %v1, %loop ]
  %off = phi i32 [ 16, %entry ], [ %off1, %loop ]
  %r = call {i32, i1} @cuvirt.shfl.down(i32 -1, i32 %v, i32 %off, i32 31)
  %rv = extractvalue {i32, i1} %r, 0
  %v1 = add i32 %v, %rv
  %off1 = lshr i32 %off, 1
  %more = icmp ne i32 %off1, 0
  br i1 %more, label %loop, label %done
done:
  store i32 %v1, ptr %outp
  ret void)") + kernel("scan", R"(
  br label %loop
loop:
  %v = phi i32 [ %v0, %entry ], [ %v1, %loop ]
  %d = phi i32 [ 1, %entry ], [ %d1, %loop ]
  %r = call {i32, i1} @cuvirt.shfl.up(i32 -1, i32 %v, i32 %d, i32 0)
  %rv = extractvalue {i32, i1} %r, 0
  %rp = extractvalue {i32, i1} %r, 1
  %add = select i1 %rp, i32 %rv, i32 0
  %v1 = add i32 %v, %add
  %d1 = shl i32 %d, 1
  %more = icmp ult i32 %d1, 32
  br i1 %more, label %loop, label %done
done:
  store i32 %v1, ptr %outp
  ret void)") + kernel("idxbfly", R"(
  %a = call {i32, i1} @cuvirt.shfl.idx(i32 -1, i32 %v0, i32 3, i32 6175)
  %av = extractvalue {i32, i1} %a, 0
  %b = call {i32, i1} @cuvirt.shfl.bfly(i32 -1, i32 %v0, i32 1, i32 31)
  %bv = extractvalue {i32, i1} %b, 0
  %hi = shl i32 %bv, 16
  %s = or i32 %av, %hi
  store i32 %s, ptr %outp
  ret void)"),
                   infoFor("reduce"));
  const std::uint32_t blocks = 3, block = 128;
  {
    Run r = run(kernelOf(m, "reduce"), blocks, block);
    // Lane l holds the sum of lanes l..l+k for the in-range sources of each step: check lane 0 (whole
    // warp) and every lane against a simulation of the same shuffles.
    for (std::uint32_t w = 0; w < blocks * block / 32; ++w) {
      std::int32_t v[32];
      for (int l = 0; l < 32; ++l)
        v[l] = r.in[w * 32 + l];
      for (int off = 16; off; off >>= 1) {
        std::int32_t nv[32];
        for (int l = 0; l < 32; ++l)
          nv[l] = v[l] + (l + off <= 31 ? v[l + off] : v[l]);
        std::copy(nv, nv + 32, v);
      }
      for (int l = 0; l < 32; ++l)
        REQUIRE(r.out[w * 32 + l] == v[l]);
      std::int32_t sum = 0;
      for (int l = 0; l < 32; ++l)
        sum += r.in[w * 32 + l];
      REQUIRE(r.out[w * 32] == sum);
    }
  }
  {
    Run r = run(kernelOf(m, "scan"), blocks, block);
    for (std::uint32_t w = 0; w < blocks * block / 32; ++w) {
      std::int32_t acc = 0;
      for (int l = 0; l < 32; ++l) {
        acc += r.in[w * 32 + l];
        REQUIRE(r.out[w * 32 + l] == acc);
      }
    }
  }
  {
    // idx with width 8 (c = (24 << 8) | 31): lane 3 of each group of 8; bfly 1: the neighbour.
    Run r = run(kernelOf(m, "idxbfly"), blocks, block);
    for (std::uint32_t i = 0; i < blocks * block; ++i) {
      std::uint32_t lane = i % 32, base = i - lane;
      std::int32_t want = r.in[base + ((lane & ~7u) | 3)] | (r.in[base + (lane ^ 1)] << 16);
      REQUIRE(r.out[i] == want);
    }
  }
}

TEST_CASE("ballot, vote, activemask and match with partial masks and a partial last warp") {
  // lanes < 16: ballot(0x0000ffff, p) ; others: ballot(0xffff0000, p), each from its own branch.
  // out = ballot ^ (all << 30) ^ (any << 29) ^ activemask-ish check bit 28
  auto m = compile(kernel("votes", R"(
  %bit = and i32 %v0, 1
  %p = icmp ne i32 %bit, 0
  %low = icmp ult i32 %lane, 16
  br i1 %low, label %a, label %b
a:
  %ba = call i32 @cuvirt.vote.ballot(i32 65535, i1 %p)
  %alla = call i1 @cuvirt.vote.all(i32 65535, i1 %p)
  %ama = call i32 @cuvirt.activemask()
  br label %join
b:
  %bb = call i32 @cuvirt.vote.ballot(i32 -65536, i1 %p)
  %allb = call i1 @cuvirt.vote.any(i32 -65536, i1 %p)
  %amb = call i32 @cuvirt.activemask()
  br label %join
join:
  %bal = phi i32 [ %ba, %a ], [ %bb, %b ]
  %vt = phi i1 [ %alla, %a ], [ %allb, %b ]
  %am = phi i32 [ %ama, %a ], [ %amb, %b ]
  %full = call i32 @cuvirt.vote.ballot(i32 -1, i1 %p)
  %vtz = zext i1 %vt to i32
  store i32 %bal, ptr %outp
  %o2 = getelementptr i32, ptr %outp, i64 4096
  store i32 %vtz, ptr %o2
  %o3 = getelementptr i32, ptr %outp, i64 8192
  store i32 %am, ptr %o3
  %o4 = getelementptr i32, ptr %outp, i64 12288
  store i32 %full, ptr %o4
  %key = and i32 %v0, 3
  %mt = call i32 @cuvirt.match.any.i32(i32 -1, i32 %key)
  %o5 = getelementptr i32, ptr %outp, i64 16384
  store i32 %mt, ptr %o5
  %sum = call i32 @cuvirt.redux.add(i32 -1, i32 %v0)
  %o6 = getelementptr i32, ptr %outp, i64 20480
  store i32 %sum, ptr %o6
  ret void)"),
                   infoFor("votes"));
  BlockFn fn = kernelOf(m, "votes");
  const std::uint32_t blocks = 2, block = 48; // the second warp of each block has 16 lanes
  std::vector<std::int32_t> in(blocks * block), out(6 * 4096, -7);
  for (std::size_t i = 0; i < in.size(); ++i)
    in[i] = std::int32_t((i * 2654435761u) >> 9);
  in[5] |= 1; // make sure some halves are all-true / all-false
  for (int i = 16; i < 32; ++i)
    in[i] &= ~1;
  auto *po = out.data();
  auto *pi = in.data();
  REQUIRE(launch(fn, {blocks}, {block}, {&po, &pi}));
  for (std::uint32_t b = 0; b < blocks; ++b)
    for (std::uint32_t t = 0; t < block; ++t) {
      std::uint32_t i = b * block + t, lane = t % 32, w0 = i - lane;
      std::uint32_t lanes = std::min(32u, block - (t - lane));
      std::uint32_t present = lanes == 32 ? ~0u : (1u << lanes) - 1;
      std::uint32_t half = lane < 16 ? 0x0000ffffu : 0xffff0000u;
      std::uint32_t ballot = 0, keyMask = 0;
      for (std::uint32_t l = 0; l < lanes; ++l) {
        ballot |= std::uint32_t(in[w0 + l] & 1) << l;
        keyMask |= std::uint32_t((in[w0 + l] & 3) == (in[i] & 3)) << l;
      }
      std::uint32_t members = half & present;
      INFO("block " << b << " thread " << t);
      REQUIRE(std::uint32_t(out[i]) == (ballot & members));
      bool vt = lane < 16 ? (ballot & members) == members : (ballot & members) != 0;
      REQUIRE(out[4096 + i] == std::int32_t(vt));
      REQUIRE(std::uint32_t(out[8192 + i]) == members);
      REQUIRE(std::uint32_t(out[12288 + i]) == ballot);
      REQUIRE(std::uint32_t(out[16384 + i]) == keyMask);
      std::uint32_t sum = 0; // redux.sync.add wraps modulo 2^32
      for (std::uint32_t l = 0; l < lanes; ++l)
        sum += std::uint32_t(in[w0 + l]);
      REQUIRE(std::uint32_t(out[20480 + i]) == sum);
    }
}

TEST_CASE("block reduce: warp shuffles, a barrier, then shuffles in warp 0 only") {
  // v = warpsum(v); if lane==0 s[warp]=v; sync; if warp==0 { v = lane < nwarps ? s[lane] : 0; v = warpsum(v);
  // if lane==0 out[ctaid] = v }
  auto m = compile(kernel("blockreduce", R"(
  %sh = call ptr @cuvirt.shared.base()
  %warp = call i32 @cuvirt.warpid()
  br label %r1
r1:
  %v = phi i32 [ %v0, %entry ], [ %v1, %r1 ]
  %off = phi i32 [ 16, %entry ], [ %off1, %r1 ]
  %r = call {i32, i1} @cuvirt.shfl.bfly(i32 -1, i32 %v, i32 %off, i32 31)
  %rv = extractvalue {i32, i1} %r, 0
  %v1 = add i32 %v, %rv
  %off1 = lshr i32 %off, 1
  %more = icmp ne i32 %off1, 0
  br i1 %more, label %r1, label %d1
d1:
  %l0 = icmp eq i32 %lane, 0
  br i1 %l0, label %w1, label %s1
w1:
  %w64 = zext i32 %warp to i64
  %sp = getelementptr i32, ptr %sh, i64 %w64
  store i32 %v1, ptr %sp
  br label %s1
s1:
  call void @cuvirt.barrier(i32 0, i32 0)
  %isw0 = icmp eq i32 %warp, 0
  br i1 %isw0, label %w0, label %exit
w0:
  %nw0 = add i32 %ntid, 31
  %nw = lshr i32 %nw0, 5
  %has = icmp ult i32 %lane, %nw
  %l64 = zext i32 %lane to i64
  %lp = getelementptr i32, ptr %sh, i64 %l64
  br i1 %has, label %ld, label %r2.pre
ld:
  %x = load i32, ptr %lp
  br label %r2.pre
r2.pre:
  %x0 = phi i32 [ %x, %ld ], [ 0, %w0 ]
  br label %r2
r2:
  %u = phi i32 [ %x0, %r2.pre ], [ %u1, %r2 ]
  %o = phi i32 [ 16, %r2.pre ], [ %o1, %r2 ]
  %q = call {i32, i1} @cuvirt.shfl.down(i32 -1, i32 %u, i32 %o, i32 31)
  %qv = extractvalue {i32, i1} %q, 0
  %u1 = add i32 %u, %qv
  %o1 = lshr i32 %o, 1
  %m2 = icmp ne i32 %o1, 0
  br i1 %m2, label %r2, label %d2
d2:
  br i1 %l0, label %w2, label %exit
w2:
  %c64 = zext i32 %ctaid to i64
  %cp = getelementptr i32, ptr %out, i64 %c64
  store i32 %u1, ptr %cp
  br label %exit
exit:
  ret void)"),
                   infoFor("blockreduce", 128));
  BlockFn fn = kernelOf(m, "blockreduce");
  for (std::uint32_t block : {1024u, 256u, 96u}) {
    const std::uint32_t blocks = 3;
    Run r = run(fn, blocks, block, 128);
    for (std::uint32_t b = 0; b < blocks; ++b) {
      std::int32_t sum = 0;
      for (std::uint32_t t = 0; t < block; ++t)
        sum += r.in[b * block + t];
      REQUIRE(r.out[b] == sum);
    }
  }
}

TEST_CASE("irregular shapes: early exit before a barrier, bar.red.popc, warpsync through shared memory") {
  // if (tid >= limit) return; s[tid] = v; sync; out[gid] = s[limit-1-tid] + popc(barrier.red(v odd))
  auto m = compile(kernel("early", R"(
  %sh = call ptr @cuvirt.shared.base()
  %limit = sub i32 %ntid, 5
  %gone = icmp uge i32 %tid, %limit
  br i1 %gone, label %exit, label %work
work:
  %t64 = zext i32 %tid to i64
  %sp = getelementptr i32, ptr %sh, i64 %t64
  store i32 %v0, ptr %sp
  %odd = trunc i32 %v0 to i1
  %cnt = call i32 @cuvirt.barrier.red.popc(i32 0, i32 0, i1 %odd)
  %r0 = sub i32 %limit, 1
  %r = sub i32 %r0, %tid
  %r64 = zext i32 %r to i64
  %rp = getelementptr i32, ptr %sh, i64 %r64
  %x = load i32, ptr %rp
  %y = mul i32 %cnt, 100000
  %z = add i32 %x, %y
  store i32 %z, ptr %outp
  br label %exit
exit:
  ret void)") + kernel("syncwarp", R"(
  %sh = call ptr @cuvirt.shared.base()
  %t64 = zext i32 %tid to i64
  %sp = getelementptr i32, ptr %sh, i64 %t64
  store i32 %v0, ptr %sp
  call void @cuvirt.warpsync(i32 -1)
  %n = xor i32 %tid, 1
  %n64 = zext i32 %n to i64
  %np = getelementptr i32, ptr %sh, i64 %n64
  %x = load i32, ptr %np
  store i32 %x, ptr %outp
  ret void)"),
                   infoFor("early", 4096));
  const std::uint32_t blocks = 2, block = 100;
  {
    Run r = run(kernelOf(m, "early"), blocks, block, 4096);
    const std::uint32_t limit = block - 5;
    for (std::uint32_t b = 0; b < blocks; ++b) {
      std::int32_t cnt = 0;
      for (std::uint32_t t = 0; t < limit; ++t)
        cnt += r.in[b * block + t] & 1;
      for (std::uint32_t t = 0; t < block; ++t) {
        std::int32_t want = t >= limit ? -7 : r.in[b * block + limit - 1 - t] + cnt * 100000;
        REQUIRE(r.out[b * block + t] == want);
      }
    }
  }
  {
    cuvirt::ModuleInfo info = infoFor("syncwarp", 4096);
    Run r = run(kernelOf(m, "syncwarp"), blocks, 64, 4096);
    for (std::uint32_t i = 0; i < blocks * 64; ++i)
      REQUIRE(r.out[i] == r.in[i ^ 1]);
  }
}

TEST_CASE("trap ends the launch; recursion runs per thread; printf reaches cuvirt_cpu_vprintf") {
  auto m = compile(R"(
define internal i32 @fact(i32 %n) {
entry:
  %small = icmp ule i32 %n, 1
  br i1 %small, label %one, label %rec
one:
  ret i32 1
rec:
  %n1 = sub i32 %n, 1
  %f = call i32 @fact(i32 %n1)
  %r = mul i32 %n, %f
  ret i32 %r
}
define void @facts(ptr %params) #0 {
entry:
  %p0 = load ptr, ptr %params
  %out = load ptr, ptr %p0
  %tid = call i32 @cuvirt.tid.x()
  %n = and i32 %tid, 7
  %f = call i32 @fact(i32 %n)
  %t64 = zext i32 %tid to i64
  %op = getelementptr i32, ptr %out, i64 %t64
  store i32 %f, ptr %op
  ret void
}
define void @traps(ptr %params) #0 {
entry:
  %p0 = load ptr, ptr %params
  %out = load ptr, ptr %p0
  %tid = call i32 @cuvirt.tid.x()
  %t64 = zext i32 %tid to i64
  %op = getelementptr i32, ptr %out, i64 %t64
  store i32 1, ptr %op
  %bad = icmp eq i32 %tid, 5
  br i1 %bad, label %trap, label %exit
trap:
  call void @cuvirt.trap()
  unreachable
exit:
  ret void
}
)",
                   infoFor("facts"));
  std::vector<std::int32_t> out(64, 0);
  auto *po = out.data();
  REQUIRE(launch(kernelOf(m, "facts"), {1}, {64}, {&po}));
  const std::int32_t f[8] = {1, 1, 2, 6, 24, 120, 720, 5040};
  for (int t = 0; t < 64; ++t)
    REQUIRE(out[t] == f[t & 7]);
  std::fill(out.begin(), out.end(), 0);
  CHECK(!launch(kernelOf(m, "traps"), {1}, {64}, {&po}));
  CHECK(trapped == 1);
  CHECK(out[5] == 1); // threads before the trapping one ran
}
