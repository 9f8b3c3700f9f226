// Measures JIT-compiled block functions against plain C++ loops in the same
// process (not a test: no thresholds). Usage: bench_cpujit [threads]
#include "driver.h"
#include "translate/cpu/jit/engine.h"
#ifdef CPUJIT_PTX_FILE
#include "translate/ptx/ptx.h"
#endif
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <omp.h>
#include <sstream>
#include <string>
#include <vector>

using namespace cpujit_test;
using cuvirt::cpu::BlockEnv;
using cuvirt::cpu::BlockFn;

namespace {

const char *const kSgemm = R"(
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
  %sum = phi float [ 0.0, %entry ], [ %acc1, %tile.end ]
  %t16 = shl i32 %t, 4
  %acol = add i32 %t16, %tx
  %arow = mul i32 %row2, %N
  %ai = add i32 %arow, %acol
  %ai64 = sext i32 %ai to i64
  %ap = getelementptr float, ptr %A, i64 %ai64
  %av = load float, ptr %ap
  store float %av, ptr %asp
  %brow = add i32 %t16, %ty
  %brn = mul i32 %brow, %N
  %bi = add i32 %brn, %col
  %bi64 = sext i32 %bi to i64
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
  %acc1 = call float @llvm.fma.f32(float %a, float %b, float %acc)
  %k1 = add i32 %k, 1
  %kdone = icmp eq i32 %k1, 16
  br i1 %kdone, label %tile.end, label %k.loop
tile.end:
  call void @cuvirt.barrier(i32 0, i32 0)
  %t1 = add i32 %t, 1
  %tmore = icmp ult i32 %t1, %tiles
  br i1 %tmore, label %tile, label %store
store:
  %crow = mul i32 %row2, %N
  %ci = add i32 %crow, %col
  %ci64 = sext i32 %ci to i64
  %cp = getelementptr float, ptr %C, i64 %ci64
  store float %acc1, ptr %cp
  ret void
}

declare float @llvm.fma.f32(float, float, float)

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

double seconds(auto f, int reps) {
  std::vector<double> t;
  for (int r = 0; r < reps; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    f();
    t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  // The minimum: the machine is shared, and noise only ever adds time.
  return *std::min_element(t.begin(), t.end());
}

// Runs a 2D grid of blocks over `threads` OpenMP threads, each with its own shared memory.
void grid(BlockFn fn, Dim g, Dim b, void **params, std::uint32_t sharedBytes, int threads) {
#pragma omp parallel num_threads(threads)
  {
    std::vector<std::uint8_t> shared(sharedBytes + 64);
    BlockEnv env{};
    env.gridDim[0] = g.x;
    env.gridDim[1] = g.y;
    env.gridDim[2] = 1;
    env.blockDim[0] = b.x;
    env.blockDim[1] = b.y;
    env.blockDim[2] = b.z;
    env.shared = shared.data();
    env.params = params;
#pragma omp for schedule(static)
    for (std::uint32_t i = 0; i < g.x * g.y; ++i) {
      env.blockIdx[0] = i % g.x;
      env.blockIdx[1] = i / g.x;
      fn(&env);
    }
  }
}

} // namespace

int main(int argc, char **argv) {
  int threads = argc > 1 ? std::atoi(argv[1]) : 1;
  std::string ir = std::string(kDecls) + kSgemm;
  if (const char *alt = std::getenv("BENCH_IR")) { // experiments: another module with @sgemm and @vadd
    std::ifstream f(alt);
    std::stringstream ss;
    ss << f.rdbuf();
    ir = std::string(kDecls) + ss.str();
  }
  cuvirt::ModuleInfo info = infoFor("sgemm", 2048);
  info.kernels.push_back(infoFor("vadd").kernels[0]);

  // JIT times: cold (optimise + codegen) and a disk-cache hit.
  auto dir = std::filesystem::temp_directory_path() / ("cuvirt-bench-cache-" + std::to_string(::getpid()));
  cuvirt::cpu::CompileOptions opts;
  opts.cacheDir = dir.string();
  std::string log;
  auto t0 = std::chrono::steady_clock::now();
  auto cold = cuvirt::cpu::jit::compileIr(ir, info, opts, log);
  double coldMs = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  t0 = std::chrono::steady_clock::now();
  auto warm = cuvirt::cpu::jit::compileIr(ir, info, opts, log);
  double warmMs = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  if (!cold.ok() || !warm.ok()) {
    std::fprintf(stderr, "compile failed: %s\n", log.c_str());
    return 1;
  }
  auto stats = cuvirt::cpu::jit::jitStats();
  std::printf("jit: cold %.1f ms, cache hit %.1f ms (hits %llu, codegens %llu)\n", coldMs, warmMs,
              (unsigned long long)stats.cacheHits, (unsigned long long)stats.codegens);
  BlockFn sgemm = (*warm)->kernel("sgemm"), vadd = (*warm)->kernel("vadd");

  const std::uint32_t n = 512;
  std::vector<float> a(n * n), b(n * n), c(n * n), ref(n * n);
  for (std::uint32_t i = 0; i < n * n; ++i) {
    a[i] = float(i % 7) * 0.25f;
    b[i] = float(i % 5) * 0.5f;
  }
  float *pa = a.data(), *pb = b.data(), *pc = c.data(), *pr = ref.data();
  std::uint32_t nn = n;
  void *params[] = {&pa, &pb, &pc, &nn};
  double tJit = seconds([&] { grid(sgemm, {n / 16, n / 16}, {16, 16}, params, 2048, threads); }, 5);
  double tRef = seconds(
      [&] {
#pragma omp parallel for num_threads(threads) schedule(static)
        for (std::uint32_t i = 0; i < n; ++i) {
          float *row = pr + i * n;
          std::fill(row, row + n, 0.0f);
          for (std::uint32_t k = 0; k < n; ++k) {
            float aik = pa[i * n + k];
            const float *brow = pb + k * n;
            for (std::uint32_t j = 0; j < n; ++j)
              row[j] += aik * brow[j];
          }
        }
      },
      5);
  double maxErr = 0;
  for (std::uint32_t i = 0; i < n * n; ++i)
    maxErr = std::max(maxErr, double(std::abs(c[i] - ref[i])));
  double flops = 2.0 * n * n * n;
  std::printf(
      "sgemm 512^3 16x16 tiles, %d thread(s): block fn %.2f ms (%.1f GFLOP/s), C++ loop %.2f ms (%.1f "
      "GFLOP/s), ratio loop/jit %.2fx, max |diff| %g\n",
      threads, tJit * 1e3, flops / tJit * 1e-9, tRef * 1e3, flops / tRef * 1e-9, tRef / tJit, maxErr);

#ifdef CPUJIT_PTX_FILE
  {
    // The same tiled sgemm compiled by nvcc (fma.rn from PTX), through compilePtx.
    std::ifstream f(CPUJIT_PTX_FILE);
    std::stringstream ss;
    ss << f.rdbuf();
    std::string ptx = ss.str(), plog;
    auto info = cuvirt::ptx::moduleInfo(ptx, plog);
    std::vector<std::vector<std::uint8_t>> storage;
    cuvirt::cpu::CompileOptions popts;
    popts.cacheDir = dir.string();
    for (const cuvirt::GlobalInfo &g : info->globals) {
      storage.emplace_back(g.size + 64, 0);
      std::copy(g.init.begin(), g.init.end(), storage.back().begin());
      popts.globals[g.name] = reinterpret_cast<std::uint64_t>(storage.back().data());
    }
    auto p0 = std::chrono::steady_clock::now();
    auto pm = cuvirt::cpu::compilePtx(ptx, popts, plog);
    double pCold = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - p0).count();
    p0 = std::chrono::steady_clock::now();
    auto pm2 = cuvirt::cpu::compilePtx(ptx, popts, plog);
    double pWarm = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - p0).count();
    std::filesystem::remove_all(dir);
    if (!pm.ok() || !pm2.ok()) {
      std::fprintf(stderr, "PTX compile failed: %s\n", plog.c_str());
      return 1;
    }
    std::printf("jit (PTX module, 6 kernels): cold %.1f ms, cache hit %.1f ms\n", pCold, pWarm);
    BlockFn psgemm = (*pm2)->kernel("sgemm");
    std::int32_t in = std::int32_t(n);
    void *pparams[] = {&pa, &pb, &pc, &in};
    std::fill(c.begin(), c.end(), -1.0f);
    double tPtx = seconds([&] { grid(psgemm, {n / 16, n / 16}, {16, 16}, pparams, 2048, threads); }, 5);
    double err = 0;
    for (std::uint32_t i = 0; i < n * n; ++i)
      err = std::max(err, double(std::abs(c[i] - ref[i])));
    std::printf("sgemm from nvcc PTX, %d thread(s): block fn %.2f ms (%.1f GFLOP/s), ratio loop/jit %.2fx, "
                "max |diff| %g\n",
                threads, tPtx * 1e3, flops / tPtx * 1e-9, tRef / tPtx, err);
  }
#endif

  const std::uint32_t len = 1u << 24;
  std::vector<float> x(len, 1.0f), y(len, 2.0f), z(len);
  float *px = x.data(), *py = y.data(), *pz = z.data();
  std::uint32_t ln = len;
  void *vparams[] = {&px, &py, &pz, &ln};
  std::uint32_t vblock = std::getenv("VBLOCK") ? std::uint32_t(std::atoi(std::getenv("VBLOCK"))) : 256;
  double tv = seconds([&] { grid(vadd, {len / vblock, 1}, {vblock, 1}, vparams, 0, threads); }, 7);
  double tl = seconds(
      [&] {
#pragma omp parallel for num_threads(threads) schedule(static)
        for (std::uint32_t i = 0; i < len; ++i)
          pz[i] = px[i] + py[i];
      },
      7);
  double bytes = 3.0 * 4 * len;
  std::printf(
      "vadd 16M floats, %d thread(s): block fn %.2f ms (%.1f GB/s), C++ loop %.2f ms (%.1f GB/s), ratio "
      "loop/jit %.2fx\n",
      threads, tv * 1e3, bytes / tv * 1e-9, tl * 1e3, bytes / tl * 1e-9, tl / tv);
  return 0;
}
