// Hand-written per-thread kernels (translate/KERNEL_IR.md) -> block functions
// -> run over grids; results checked exactly.
#include "driver.h"
#include "translate/cpu/jit/engine.h"
#include <doctest.h>
#include <numeric>

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

// Loads parameter `i` (a pointer-sized or 32-bit value) the way the front end does.
const char *const kVadd = R"(
define void @vadd(ptr %params) #0 {
entry:
  %pa = load ptr, ptr %params
  %a = load ptr, ptr %pa
  %pbp = getelementptr ptr, ptr %params, i64 1
  %pb = load ptr, ptr %pbp
  %b = load ptr, ptr %pb
  %pcp = getelementptr ptr, ptr %params, i64 2
  %pc = load ptr, ptr %pcp
  %c = load ptr, ptr %pc
  %pnp = getelementptr ptr, ptr %params, i64 3
  %pn = load ptr, ptr %pnp
  %n = load i32, ptr %pn
  %tid = call i32 @cuvirt.tid.x()
  %ntid = call i32 @cuvirt.ntid.x()
  %ctaid = call i32 @cuvirt.ctaid.x()
  %m = mul i32 %ctaid, %ntid
  %i = add i32 %m, %tid
  %in = icmp slt i32 %i, %n
  br i1 %in, label %body, label %exit
body:
  %i64 = sext i32 %i to i64
  %ap = getelementptr float, ptr %a, i64 %i64
  %bp = getelementptr float, ptr %b, i64 %i64
  %cp = getelementptr float, ptr %c, i64 %i64
  %av = load float, ptr %ap
  %bv = load float, ptr %bp
  %s = fadd float %av, %bv
  store float %s, ptr %cp
  br label %exit
exit:
  ret void
}
)";

} // namespace

TEST_CASE("vector add: a plain thread loop") {
  auto m = compile(kVadd, infoFor("vadd"));
  BlockFn fn = kernelOf(m, "vadd");
  const int n = 1000;
  std::vector<float> a(n), b(n), c(n, -1.0f);
  for (int i = 0; i < n; ++i) {
    a[i] = float(i);
    b[i] = float(2 * i + 1);
  }
  float *pa = a.data(), *pb = b.data(), *pc = c.data();
  int nn = n;
  std::vector<void *> params{&pa, &pb, &pc, &nn};
  REQUIRE(launch(fn, {(n + 127) / 128}, {128}, params));
  for (int i = 0; i < n; ++i)
    REQUIRE(c[i] == float(3 * i + 1));
  CHECK(!m->kernel("nope"));
}

TEST_CASE("tree reduction: __syncthreads inside a loop") {
  // s[tid] = in[gid]; sync; for (st = ntid/2; st > 0; st >>= 1) { if (tid < st) s[tid] += s[tid+st]; sync; }
  // if (tid == 0) out[ctaid] = s[0];
  auto m = compile(R"(
define void @reduce(ptr %params) #0 {
entry:
  %p0 = load ptr, ptr %params
  %in = load ptr, ptr %p0
  %p1p = getelementptr ptr, ptr %params, i64 1
  %p1 = load ptr, ptr %p1p
  %out = load ptr, ptr %p1
  %tid = call i32 @cuvirt.tid.x()
  %ntid = call i32 @cuvirt.ntid.x()
  %ctaid = call i32 @cuvirt.ctaid.x()
  %m = mul i32 %ctaid, %ntid
  %gid = add i32 %m, %tid
  %sh = call ptr @cuvirt.shared.base()
  %g64 = sext i32 %gid to i64
  %gp = getelementptr i32, ptr %in, i64 %g64
  %v = load i32, ptr %gp
  %t64 = zext i32 %tid to i64
  %sp = getelementptr i32, ptr %sh, i64 %t64
  store i32 %v, ptr %sp
  call void @cuvirt.barrier(i32 0, i32 0)
  %st0 = lshr i32 %ntid, 1
  br label %loop
loop:
  %st = phi i32 [ %st0, %entry ], [ %st1, %latch ]
  %more = icmp ugt i32 %st, 0
  br i1 %more, label %body, label %done
body:
  %lt = icmp ult i32 %tid, %st
  br i1 %lt, label %add, label %latch
add:
  %o = add i32 %tid, %st
  %o64 = zext i32 %o to i64
  %op = getelementptr i32, ptr %sh, i64 %o64
  %x = load i32, ptr %op
  %y = load i32, ptr %sp
  %z = add i32 %x, %y
  store i32 %z, ptr %sp
  br label %latch
latch:
  call void @cuvirt.barrier(i32 0, i32 0)
  %st1 = lshr i32 %st, 1
  br label %loop
done:
  %first = icmp eq i32 %tid, 0
  br i1 %first, label %write, label %exit
write:
  %r = load i32, ptr %sh
  %c64 = zext i32 %ctaid to i64
  %outp = getelementptr i32, ptr %out, i64 %c64
  store i32 %r, ptr %outp
  br label %exit
exit:
  ret void
}
)",
                   infoFor("reduce", 1024));
  BlockFn fn = kernelOf(m, "reduce");
  for (std::uint32_t block : {256u, 64u, 32u, 1u}) {
    const std::uint32_t blocks = 7;
    std::vector<std::int32_t> in(blocks * block), out(blocks, -1);
    for (std::size_t i = 0; i < in.size(); ++i)
      in[i] = std::int32_t(i * 7 % 101) - 50;
    auto *pin = in.data();
    auto *pout = out.data();
    REQUIRE(launch(fn, {blocks}, {block}, {&pin, &pout}, 1024));
    for (std::uint32_t b = 0; b < blocks; ++b) {
      std::int32_t want = std::accumulate(in.begin() + b * block, in.begin() + (b + 1) * block, 0);
      REQUIRE(out[b] == want);
    }
  }
}

TEST_CASE("barriers inside a uniform conditional, different on each side") {
  // if (ctaid % 2 == 0) { s[tid] = 2*tid; sync; out[gid] = s[ntid-1-tid]; }
  // else                { s[tid] = 3*tid; sync; out[gid] = s[ntid-1-tid] + 1; }
  auto m = compile(R"(
define void @cond(ptr %params) #0 {
entry:
  %p0 = load ptr, ptr %params
  %out = load ptr, ptr %p0
  %tid = call i32 @cuvirt.tid.x()
  %ntid = call i32 @cuvirt.ntid.x()
  %ctaid = call i32 @cuvirt.ctaid.x()
  %m = mul i32 %ctaid, %ntid
  %gid = add i32 %m, %tid
  %sh = call ptr @cuvirt.shared.base()
  %t64 = zext i32 %tid to i64
  %sp = getelementptr i32, ptr %sh, i64 %t64
  %rt = sub i32 %ntid, 1
  %r = sub i32 %rt, %tid
  %r64 = zext i32 %r to i64
  %rp = getelementptr i32, ptr %sh, i64 %r64
  %g64 = zext i32 %gid to i64
  %op = getelementptr i32, ptr %out, i64 %g64
  %odd = and i32 %ctaid, 1
  %even = icmp eq i32 %odd, 0
  br i1 %even, label %a, label %b
a:
  %va = mul i32 %tid, 2
  store i32 %va, ptr %sp
  call void @cuvirt.barrier(i32 0, i32 0)
  %xa = load i32, ptr %rp
  store i32 %xa, ptr %op
  br label %exit
b:
  %vb = mul i32 %tid, 3
  store i32 %vb, ptr %sp
  call void @cuvirt.barrier(i32 0, i32 0)
  %xb = load i32, ptr %rp
  %xb1 = add i32 %xb, 1
  store i32 %xb1, ptr %op
  br label %exit
exit:
  ret void
}
)",
                   infoFor("cond", 512));
  BlockFn fn = kernelOf(m, "cond");
  const std::uint32_t blocks = 4, block = 96;
  std::vector<std::int32_t> out(blocks * block, -1);
  auto *po = out.data();
  REQUIRE(launch(fn, {blocks}, {block}, {&po}, 512));
  for (std::uint32_t b = 0; b < blocks; ++b)
    for (std::uint32_t t = 0; t < block; ++t) {
      std::int32_t r = std::int32_t(block - 1 - t);
      REQUIRE(out[b * block + t] == (b % 2 == 0 ? 2 * r : 3 * r + 1));
    }
}

TEST_CASE("2D and 3D blocks: transpose through a shared tile, and thread coordinates") {
  // tile[ty][tx] = in[(by*16+ty)*W + bx*16+tx]; sync; out[(bx*16+ty)*H + by*16+tx] = tile[tx][ty]
  auto m = compile(R"(
define void @transpose(ptr %params) #0 {
entry:
  %p0 = load ptr, ptr %params
  %in = load ptr, ptr %p0
  %p1p = getelementptr ptr, ptr %params, i64 1
  %p1 = load ptr, ptr %p1p
  %out = load ptr, ptr %p1
  %tx = call i32 @cuvirt.tid.x()
  %ty = call i32 @cuvirt.tid.y()
  %bx = call i32 @cuvirt.ctaid.x()
  %by = call i32 @cuvirt.ctaid.y()
  %gx = call i32 @cuvirt.nctaid.x()
  %gy = call i32 @cuvirt.nctaid.y()
  %w = mul i32 %gx, 16
  %h = mul i32 %gy, 16
  %sh = call ptr @cuvirt.shared.base()
  %by16 = mul i32 %by, 16
  %bx16 = mul i32 %bx, 16
  %row = add i32 %by16, %ty
  %col = add i32 %bx16, %tx
  %rw = mul i32 %row, %w
  %ii = add i32 %rw, %col
  %ii64 = zext i32 %ii to i64
  %ip = getelementptr float, ptr %in, i64 %ii64
  %v = load float, ptr %ip
  %ty16 = mul i32 %ty, 16
  %s1 = add i32 %ty16, %tx
  %s164 = zext i32 %s1 to i64
  %sp1 = getelementptr float, ptr %sh, i64 %s164
  store float %v, ptr %sp1
  call void @cuvirt.barrier(i32 0, i32 0)
  %tx16 = mul i32 %tx, 16
  %s2 = add i32 %tx16, %ty
  %s264 = zext i32 %s2 to i64
  %sp2 = getelementptr float, ptr %sh, i64 %s264
  %t = load float, ptr %sp2
  %orow = add i32 %bx16, %ty
  %ocol = add i32 %by16, %tx
  %orh = mul i32 %orow, %h
  %oi = add i32 %orh, %ocol
  %oi64 = zext i32 %oi to i64
  %op = getelementptr float, ptr %out, i64 %oi64
  store float %t, ptr %op
  ret void
}

define void @coords(ptr %params) #0 {
entry:
  %p0 = load ptr, ptr %params
  %out = load ptr, ptr %p0
  %x = call i32 @cuvirt.tid.x()
  %y = call i32 @cuvirt.tid.y()
  %z = call i32 @cuvirt.tid.z()
  %nx = call i32 @cuvirt.ntid.x()
  %ny = call i32 @cuvirt.ntid.y()
  %nz = call i32 @cuvirt.ntid.z()
  %bz = call i32 @cuvirt.ctaid.z()
  %lane = call i32 @cuvirt.laneid()
  %warp = call i32 @cuvirt.warpid()
  %zy = mul i32 %bz, %nz
  %zz = add i32 %zy, %z
  %l1 = mul i32 %zz, %ny
  %l2 = add i32 %l1, %y
  %l3 = mul i32 %l2, %nx
  %lin = add i32 %l3, %x
  %e1 = mul i32 %x, 1000000
  %e2 = mul i32 %y, 10000
  %e3 = mul i32 %z, 100
  %e4 = add i32 %e1, %e2
  %e5 = add i32 %e4, %e3
  %e6 = add i32 %e5, %lane
  %w1 = mul i32 %warp, 1000
  %val = add i32 %e6, %w1
  %lin64 = zext i32 %lin to i64
  %op = getelementptr i32, ptr %out, i64 %lin64
  store i32 %val, ptr %op
  ret void
}
)",
                   infoFor("transpose", 1024));
  BlockFn fn = kernelOf(m, "transpose");
  const std::uint32_t gx = 3, gy = 2, w = gx * 16, h = gy * 16;
  std::vector<float> in(w * h), out(w * h, -1);
  for (std::size_t i = 0; i < in.size(); ++i)
    in[i] = float(i);
  float *pi = in.data(), *po = out.data();
  REQUIRE(launch(fn, {gx, gy}, {16, 16}, {&pi, &po}, 1024));
  for (std::uint32_t r = 0; r < h; ++r)
    for (std::uint32_t c = 0; c < w; ++c)
      REQUIRE(out[c * h + r] == in[r * w + c]);

  BlockFn coords = kernelOf(m, "coords");
  const std::uint32_t bx = 5, by = 3, bz = 4, grid = 2;
  std::vector<std::int32_t> res(bx * by * bz * grid, -1);
  auto *pr = res.data();
  REQUIRE(launch(coords, {1, 1, grid}, {bx, by, bz}, {&pr}));
  for (std::uint32_t g = 0; g < grid; ++g)
    for (std::uint32_t z = 0; z < bz; ++z)
      for (std::uint32_t y = 0; y < by; ++y)
        for (std::uint32_t x = 0; x < bx; ++x) {
          std::uint32_t t = (z * by + y) * bx + x;
          std::int32_t want = std::int32_t(x * 1000000 + y * 10000 + z * 100 + t % 32 + t / 32 * 1000);
          REQUIRE(res[((g * bz + z) * by + y) * bx + x] == want);
        }
}

TEST_CASE("dynamic shared memory after the static part") {
  // static s (4 bytes, at 0); dyn buf[] at 16: buf[tid] = tid + 100; sync; out[gid] = buf[ntid-1-tid] +
  // dynsize; s = 7
  auto m = compile(R"(
define void @dyn(ptr %params) #0 {
entry:
  %p0 = load ptr, ptr %params
  %out = load ptr, ptr %p0
  %tid = call i32 @cuvirt.tid.x()
  %ntid = call i32 @cuvirt.ntid.x()
  %ctaid = call i32 @cuvirt.ctaid.x()
  %sh = call ptr @cuvirt.shared.base()
  store i32 7, ptr %sh
  %dyn = call ptr @cuvirt.dynshared.base()
  %size = call i32 @cuvirt.dynshared.size()
  %t64 = zext i32 %tid to i64
  %dp = getelementptr i32, ptr %dyn, i64 %t64
  %v = add i32 %tid, 100
  store i32 %v, ptr %dp
  call void @cuvirt.barrier(i32 0, i32 0)
  %rt = sub i32 %ntid, 1
  %r = sub i32 %rt, %tid
  %r64 = zext i32 %r to i64
  %rp = getelementptr i32, ptr %dyn, i64 %r64
  %x = load i32, ptr %rp
  %s = load i32, ptr %sh
  %xs = add i32 %x, %size
  %y = add i32 %xs, %s
  %m = mul i32 %ctaid, %ntid
  %gid = add i32 %m, %tid
  %g64 = zext i32 %gid to i64
  %op = getelementptr i32, ptr %out, i64 %g64
  store i32 %y, ptr %op
  ret void
}
)",
                   infoFor("dyn", 4));
  BlockFn fn = kernelOf(m, "dyn");
  const std::uint32_t blocks = 3, block = 40, dynBytes = block * 4;
  std::vector<std::int32_t> out(blocks * block, -1);
  auto *po = out.data();
  REQUIRE(launch(fn, {blocks}, {block}, {&po}, 4, dynBytes));
  for (std::uint32_t i = 0; i < out.size(); ++i)
    REQUIRE(out[i] == std::int32_t(block - 1 - i % block + 100 + dynBytes + 7));
}

TEST_CASE("tiled matrix multiply: two barriers per tile") {
  // C = A * B, N x N, 16x16 tiles, sum kept across the barriers of the tile loop.
  auto m = compile(R"(
define void @sgemm(ptr %params) #0 {
entry:
  %p0 = load ptr, ptr %params
  %A = load ptr, ptr %p0
  %p1p = getelementptr ptr, ptr %params, i64 1
  %p1 = load ptr, ptr %p1p
  %B = load ptr, ptr %p1
  %p2p = getelementptr ptr, ptr %params, i64 2
  %p2 = load ptr, ptr %p2p
  %C = load ptr, ptr %p2
  %p3p = getelementptr ptr, ptr %params, i64 3
  %p3 = load ptr, ptr %p3p
  %N = load i32, ptr %p3
  %tx = call i32 @cuvirt.tid.x()
  %ty = call i32 @cuvirt.tid.y()
  %bx = call i32 @cuvirt.ctaid.x()
  %by = call i32 @cuvirt.ctaid.y()
  %sh = call ptr @cuvirt.shared.base()
  %Bs = getelementptr i8, ptr %sh, i64 1024
  %by16 = shl i32 %by, 4
  %row = add i32 %by16, %tx
  %row2 = add i32 %by16, %ty
  %bx16 = shl i32 %bx, 4
  %col = add i32 %bx16, %tx
  %tiles = lshr i32 %N, 4
  %ty16 = shl i32 %ty, 4
  %sidx = add i32 %ty16, %tx
  %sidx64 = zext i32 %sidx to i64
  %asp = getelementptr float, ptr %sh, i64 %sidx64
  %bsp = getelementptr float, ptr %Bs, i64 %sidx64
  br label %tile
tile:
  %t = phi i32 [ 0, %entry ], [ %t1, %tile.end ]
  %sum = phi float [ 0.0, %entry ], [ %sum2, %tile.end ]
  %t16 = shl i32 %t, 4
  %acol = add i32 %t16, %tx
  %arow = mul i32 %row2, %N
  %ai = add i32 %arow, %acol
  %ai64 = zext i32 %ai to i64
  %ap = getelementptr float, ptr %A, i64 %ai64
  %av = load float, ptr %ap
  store float %av, ptr %asp
  %brow = add i32 %t16, %ty
  %brn = mul i32 %brow, %N
  %bi = add i32 %brn, %col
  %bi64 = zext i32 %bi to i64
  %bp = getelementptr float, ptr %B, i64 %bi64
  %bv = load float, ptr %bp
  store float %bv, ptr %bsp
  call void @cuvirt.barrier(i32 0, i32 0)
  br label %k.loop
k.loop:
  %k = phi i32 [ 0, %tile ], [ %k1, %k.loop ]
  %acc = phi float [ %sum, %tile ], [ %acc1, %k.loop ]
  %ak = add i32 %ty16, %k
  %ak64 = zext i32 %ak to i64
  %akp = getelementptr float, ptr %sh, i64 %ak64
  %a = load float, ptr %akp
  %k16 = shl i32 %k, 4
  %bk = add i32 %k16, %tx
  %bk64 = zext i32 %bk to i64
  %bkp = getelementptr float, ptr %Bs, i64 %bk64
  %b = load float, ptr %bkp
  %prod = fmul float %a, %b
  %acc1 = fadd float %acc, %prod
  %k1 = add i32 %k, 1
  %kdone = icmp eq i32 %k1, 16
  br i1 %kdone, label %tile.end, label %k.loop
tile.end:
  %sum2 = phi float [ %acc1, %k.loop ]
  call void @cuvirt.barrier(i32 0, i32 0)
  %t1 = add i32 %t, 1
  %tmore = icmp ult i32 %t1, %tiles
  br i1 %tmore, label %tile, label %store
store:
  %crow = mul i32 %row2, %N
  %ci = add i32 %crow, %col
  %ci64 = zext i32 %ci to i64
  %cp = getelementptr float, ptr %C, i64 %ci64
  store float %sum2, ptr %cp
  ret void
}
)",
                   infoFor("sgemm", 2048));
  BlockFn fn = kernelOf(m, "sgemm");
  const std::uint32_t n = 64;
  std::vector<float> a(n * n), b(n * n), c(n * n, -1), want(n * n, 0);
  for (std::uint32_t i = 0; i < n * n; ++i) {
    a[i] = float(i % 5) - 2;
    b[i] = float(i % 3);
  }
  for (std::uint32_t i = 0; i < n; ++i)
    for (std::uint32_t k = 0; k < n; ++k)
      for (std::uint32_t j = 0; j < n; ++j)
        want[i * n + j] += a[i * n + k] * b[k * n + j];
  float *pa = a.data(), *pb = b.data(), *pc = c.data();
  std::uint32_t nn = n;
  REQUIRE(launch(fn, {n / 16, n / 16}, {16, 16}, {&pa, &pb, &pc, &nn}, 2048));
  for (std::uint32_t i = 0; i < n * n; ++i)
    REQUIRE(c[i] == want[i]);
}

TEST_CASE("bounds guards: rows fully inside, partly inside and outside; early-return form; wrap-around") {
  // 2D: x = ctaid.x*ntid.x + tid.x; if (x >= w) return; out[y*w + x] = x + 1000*y   (w from a parameter)
  auto m = compile(R"(
define void @guard2d(ptr %params) #0 {
entry:
  %p0 = load ptr, ptr %params
  %out = load ptr, ptr %p0
  %p1p = getelementptr ptr, ptr %params, i64 1
  %p1 = load ptr, ptr %p1p
  %w = load i32, ptr %p1
  %tx = call i32 @cuvirt.tid.x()
  %ty = call i32 @cuvirt.tid.y()
  %nx = call i32 @cuvirt.ntid.x()
  %ny = call i32 @cuvirt.ntid.y()
  %bx = call i32 @cuvirt.ctaid.x()
  %by = call i32 @cuvirt.ctaid.y()
  %bxn = mul i32 %bx, %nx
  %x = add i32 %bxn, %tx
  %byn = mul i32 %by, %ny
  %y = add i32 %byn, %ty
  %out.of = icmp sge i32 %x, %w
  br i1 %out.of, label %exit, label %body
body:
  %yw = mul i32 %y, %w
  %i = add i32 %yw, %x
  %i64 = sext i32 %i to i64
  %p = getelementptr i32, ptr %out, i64 %i64
  %y1000 = mul i32 %y, 1000
  %v = add i32 %x, %y1000
  store i32 %v, ptr %p
  br label %exit
exit:
  ret void
}

define void @wrap(ptr %params) #0 {
entry:
  %p0 = load ptr, ptr %params
  %out = load ptr, ptr %p0
  %p1p = getelementptr ptr, ptr %params, i64 1
  %p1 = load ptr, ptr %p1p
  %base = load i32, ptr %p1
  %tx = call i32 @cuvirt.tid.x()
  %x = add i32 %base, %tx
  %neg = icmp slt i32 %x, 0
  %t64 = zext i32 %tx to i64
  %p = getelementptr i32, ptr %out, i64 %t64
  br i1 %neg, label %a, label %b
a:
  store i32 1, ptr %p
  ret void
b:
  store i32 2, ptr %p
  ret void
}
)",
                   infoFor("guard2d"));
  BlockFn fn = kernelOf(m, "guard2d");
  for (std::int32_t w : {64, 50, 7}) {
    const std::uint32_t bx = 16, by = 4, gx = 4, gy = 2, h = by * gy;
    std::vector<std::int32_t> out(std::size_t(w) * h + 64, -1);
    auto *po = out.data();
    REQUIRE(launch(fn, {gx, gy}, {bx, by}, {&po, &w}));
    for (std::int32_t y = 0; y < std::int32_t(h); ++y)
      for (std::int32_t x = 0; x < w; ++x)
        REQUIRE(out[std::size_t(y * w + x)] == x + 1000 * y);
    for (std::size_t i = std::size_t(w) * h; i < out.size(); ++i)
      REQUIRE(out[i] == -1);
  }
  // x = base + tid.x crosses INT_MAX inside the row: the guard is not the same for the whole row.
  BlockFn wrap = kernelOf(m, "wrap");
  for (std::int32_t base : {INT32_MAX - 10, -5, 100, -100}) {
    std::vector<std::int32_t> out(32, 0);
    auto *po = out.data();
    REQUIRE(launch(wrap, {1}, {32}, {&po, &base}));
    for (std::int32_t t = 0; t < 32; ++t) {
      std::int32_t x = std::int32_t(std::uint32_t(base) + std::uint32_t(t));
      REQUIRE(out[std::size_t(t)] == (x < 0 ? 1 : 2));
    }
  }
}
