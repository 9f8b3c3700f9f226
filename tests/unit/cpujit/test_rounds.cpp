// Loops that run in rounds (blockify's kLoop resume points) with prefetches of
// later rounds: the lockstep nest prefetches, and results stay exact when
// threads leave the loop at different iterations, return early from inside
// it, or the block is not a multiple of the vector width.
#include "driver.h"
#include "translate/cpu/jit/dump.h"
#include "translate/cpu/jit/engine.h"
#include <doctest.h>

using namespace cpujit_test;

namespace {

// for (i = t; i < n; i += stride) { v = x[i] + x2[-i]; if (v == stop) { out[t] = -1 - i; return; } s += v; }
// out[t] = s. x2 points at the end of an array and walks down (a negative step).
const char *const kGridStride = R"(
define void @gsum(ptr %params) #0 {
entry:
  %px = load ptr, ptr %params
  %x = load ptr, ptr %px
  %pnp = getelementptr ptr, ptr %params, i64 1
  %pn = load ptr, ptr %pnp
  %n = load i32, ptr %pn
  %pop = getelementptr ptr, ptr %params, i64 2
  %po = load ptr, ptr %pop
  %out = load ptr, ptr %po
  %psp = getelementptr ptr, ptr %params, i64 3
  %ps = load ptr, ptr %psp
  %stop = load i32, ptr %ps
  %pxp = getelementptr ptr, ptr %params, i64 4
  %px2 = load ptr, ptr %pxp
  %x2 = load ptr, ptr %px2
  %tid = call i32 @cuvirt.tid.x()
  %tidy = call i32 @cuvirt.tid.y()
  %ntid = call i32 @cuvirt.ntid.x()
  %ntidy = call i32 @cuvirt.ntid.y()
  %ctaid = call i32 @cuvirt.ctaid.x()
  %nctaid = call i32 @cuvirt.nctaid.x()
  %bt = mul i32 %ntid, %ntidy
  %row = mul i32 %tidy, %ntid
  %tb = add i32 %row, %tid
  %m = mul i32 %ctaid, %bt
  %t = add i32 %m, %tb
  %c0 = icmp slt i32 %t, %n
  br i1 %c0, label %ph, label %done
ph:
  %stride = mul i32 %nctaid, %bt
  br label %loop
loop:
  %i = phi i32 [ %t, %ph ], [ %i.next, %latch ]
  %s = phi i32 [ 0, %ph ], [ %s.next, %latch ]
  %i64 = sext i32 %i to i64
  %p = getelementptr i32, ptr %x, i64 %i64
  %v1 = load i32, ptr %p
  %ni = sub i64 0, %i64
  %p2 = getelementptr i32, ptr %x2, i64 %ni
  %v2 = load i32, ptr %p2
  %v = add i32 %v1, %v2
  %hit = icmp eq i32 %v, %stop
  br i1 %hit, label %early, label %latch
latch:
  %s.next = add i32 %s, %v
  %i.next = add i32 %i, %stride
  %more = icmp slt i32 %i.next, %n
  br i1 %more, label %loop, label %exit
early:
  %t64e = sext i32 %t to i64
  %oe = getelementptr i32, ptr %out, i64 %t64e
  %neg = sub i32 -1, %i
  store i32 %neg, ptr %oe
  ret void
exit:
  br label %done
done:
  %sf = phi i32 [ 0, %entry ], [ %s.next, %exit ]
  %t64 = sext i32 %t to i64
  %o = getelementptr i32, ptr %out, i64 %t64
  store i32 %sf, ptr %o
  ret void
}
)";

} // namespace

TEST_CASE("loop rounds: the lockstep nest prefetches later rounds") {
  std::string log;
  auto ir = cuvirt::cpu::jit::dumpIr(std::string(kDecls) + kGridStride, infoFor("gsum"),
                                     cuvirt::cpu::jit::DumpStage::BlockIR, log);
  INFO(log);
  REQUIRE(ir.ok());
  CHECK((*ir).find("@llvm.prefetch") != std::string::npos);
  CHECK((*ir).find("pf.loop") != std::string::npos);
  CHECK((*ir).find("cuvirt.jit.prefetch") == std::string::npos); // every marker lowered
}

TEST_CASE("loop rounds with prefetches: ragged exits, early returns, partial vectors, 2-D blocks") {
  std::string log;
  auto compiled = cuvirt::cpu::jit::compileIr(std::string(kDecls) + kGridStride, infoFor("gsum"), {}, log);
  INFO(log);
  REQUIRE(compiled.ok());
  auto m = compiled.take();
  cuvirt::cpu::BlockFn fn = m->kernel("gsum");
  REQUIRE(bool(fn));
  const int len = 20011;
  std::vector<int> x(len), x2(len);
  for (int i = 0; i < len; ++i) {
    x[i] = i % 97 - 40;
    x2[i] = (i * 7) % 13;
  }
  struct Shape {
    std::uint32_t grid, bx, by;
  };
  // 100 threads: six 16-lane vectors and a partial one; 33 and 48 run the
  // variant without rounds; 256 the usual case; 32x4 a 2-D block.
  for (Shape sh : {Shape{7, 100, 1}, Shape{5, 33, 1}, Shape{5, 48, 1}, Shape{9, 256, 1}, Shape{3, 32, 4}})
    for (int n : {len, 1000, 5})       // ragged last rounds; one round; fewer elements than threads
      for (int stop : {1 << 30, 50}) { // never; some threads return early at different iterations
        int total = int(sh.grid * sh.bx * sh.by);
        std::vector<int> out(std::size_t(total), 12345);
        int *px = x.data(), *po = out.data(), *px2 = x2.data() + (len - 1), nn = n, st = stop;
        std::vector<void *> params{&px, &nn, &po, &st, &px2};
        REQUIRE(launch(fn, {sh.grid}, {sh.bx, sh.by}, params));
        for (int t = 0; t < total; ++t) {
          int want = 0;
          for (int i = t; i < n; i += total) {
            int v = x[std::size_t(i)] + x2[std::size_t(len - 1 - i)];
            if (v == stop) {
              want = -1 - i;
              break;
            }
            want += v;
          }
          INFO("grid " << sh.grid << " block " << sh.bx << "x" << sh.by << " n " << n << " stop " << stop
                       << " thread " << t);
          REQUIRE(out[std::size_t(t)] == want);
        }
      }
}

namespace {

// (a, b) -> (b, a + b) around a barrier, k times; then a shuffle of a. The
// header phis take different values from the same latch, and a's old value
// is still needed after b's slot gets a + b: slots that must stay apart.
const char *const kSwap = R"(
define void @swap(ptr %params) #0 {
entry:
  %pn = load ptr, ptr %params
  %n = load i32, ptr %pn
  %pop = getelementptr ptr, ptr %params, i64 1
  %po = load ptr, ptr %pop
  %out = load ptr, ptr %po
  %tid = call i32 @cuvirt.tid.x()
  %skip = icmp eq i32 %n, 0
  br i1 %skip, label %exit, label %loop
loop:
  %k = phi i32 [ 0, %entry ], [ %k1, %loop ]
  %a = phi i32 [ %tid, %entry ], [ %b, %loop ]
  %b = phi i32 [ 1, %entry ], [ %ab, %loop ]
  call void @cuvirt.barrier(i32 0, i32 0)
  %ab = add i32 %a, %b
  %k1 = add i32 %k, 1
  %more = icmp slt i32 %k1, %n
  br i1 %more, label %loop, label %exit
exit:
  %fa = phi i32 [ 7, %entry ], [ %b, %loop ]
  %fb = phi i32 [ 9, %entry ], [ %a, %loop ]
  %sh = call {i32, i1} @cuvirt.shfl.down(i32 -1, i32 %fa, i32 1, i32 31)
  %up = extractvalue {i32, i1} %sh, 0
  %r1 = mul i32 %fa, 1000
  %r2 = add i32 %r1, %fb
  %r = add i32 %r2, %up
  %t64 = sext i32 %tid to i64
  %o = getelementptr i32, ptr %out, i64 %t64
  store i32 %r, ptr %o
  ret void
}
)";

} // namespace

TEST_CASE("slot sharing keeps values that are live at once apart (swapping phis around a barrier)") {
  std::string log;
  auto compiled = cuvirt::cpu::jit::compileIr(std::string(kDecls) + kSwap, infoFor("swap"), {}, log);
  INFO(log);
  REQUIRE(compiled.ok());
  auto m = compiled.take();
  cuvirt::cpu::BlockFn fn = m->kernel("swap");
  REQUIRE(bool(fn));
  for (int n : {0, 1, 2, 5, 17}) {
    const int threads = 64;
    std::vector<int> out(threads, -1);
    int nn = n, *po = out.data();
    std::vector<void *> params{&nn, &po};
    REQUIRE(launch(fn, {1}, {threads}, params));
    std::vector<int> fa(threads), fb(threads);
    for (int t = 0; t < threads; ++t) {
      int a = t, b = 1;
      if (n == 0) {
        fa[t] = 7, fb[t] = 9;
        continue;
      }
      for (int k = 0; k < n; ++k) { // the loop body runs k = 0 .. n-1; exit sees the phis' last values
        int na = b, nb = a + b;
        if (k + 1 >= n) {
          fa[t] = b, fb[t] = a; // %b and %a of the last iteration
          break;
        }
        a = na, b = nb;
      }
    }
    for (int t = 0; t < threads; ++t) {
      const int up = (t % 32) < 31 ? fa[t + 1] : fa[t];
      INFO("n " << n << " thread " << t);
      CHECK(out[std::size_t(t)] == fa[t] * 1000 + fb[t] + up);
    }
  }
}
