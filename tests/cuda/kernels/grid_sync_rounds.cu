// Many grid-wide syncs in a row (numba-cuda's test_sync_at_matrix_row, in
// CUDA C++): row r of a matrix is computed from row r-1, which other blocks
// wrote, with one this_grid().sync() per row (1024 rows, 1023 syncs). Grids
// of 1, 2, SM count and 3 x SM count blocks (capped at what the device holds
// at once), blocks of 32..1024 threads, 1-D and 2-D. Every row is checked
// exactly against a host model. Then: threads that return before the syncs
// (thread 0 of each block stays: the grid still syncs), and a block that
// returns before the syncs, which can never finish on a GPU: cuvirt must
// report an error instead of hanging (alarm() fails the test after 120 s).
//
// grid_sync_devrt.cu builds this file with GRID_SYNC_DEVRT (-rdc=true
// -lcudadevrt): the syncs then go through the device runtime's
// cudaCGSynchronize, as numba-cuda's this_grid().sync() does, instead of
// cooperative_groups' inline barrier.
#include "../common/check.h"

#include <cooperative_groups.h>
#include <signal.h>
#include <unistd.h>

#include <vector>

namespace cg = cooperative_groups;

constexpr int kRows = 1024;

#ifdef GRID_SYNC_DEVRT
#define NAME "grid_sync_devrt"
struct GridSync {
  unsigned long long handle = cudaCGGetIntrinsicHandle(cudaCGScopeGrid);
  unsigned calls = 0;
  // cudaCGSynchronize (every thread calls the syscall) and, every other
  // round, cudaCGSynchronizeGrid (thread 0 of each block calls it, flag 1)
  __device__ void sync() {
    cudaError_t e = calls++ % 2 ? cudaCGSynchronizeGrid(handle, 0) : cudaCGSynchronize(handle, 0);
    if (e != cudaSuccess)
      __trap(); // a grid that cannot sync must not compute wrong rows
  }
  __device__ unsigned long long thread_rank() {
    unsigned rank = 0;
    if (cudaCGGetRank(&rank, nullptr, handle) != cudaSuccess)
      __trap();
    return rank;
  }
};
__device__ GridSync this_grid() { return GridSync{}; }
#else
#define NAME "grid_sync_rounds"
__device__ cg::grid_group this_grid() { return cg::this_grid(); }
#endif

__host__ __device__ inline unsigned mix(unsigned a, unsigned b, unsigned r) {
  unsigned h = a * 0x9E3779B1u ^ (b + 0x7F4A7C15u) ^ (r * 0x85EBCA77u);
  return h ^ (h >> 15);
}

// M is kRows x cols; thread `c` (its rank in the grid) writes column c of
// every row from two columns of the previous row: its "opposite" and a
// column that moves with the row, so every round reads other blocks' writes.
// Threads with rank >= live return first (live = cols: none do).
__global__ void rows(unsigned *M, unsigned cols, unsigned live) {
  auto grid = this_grid();
  const unsigned c = (unsigned)grid.thread_rank();
  if (c >= live)
    return;
  for (unsigned r = 1; r < kRows; ++r) {
    if (c < cols) {
      unsigned opposite = cols - c - 1;
      unsigned moving = (c * 7u + r) % cols;
      M[r * cols + c] = mix(M[(r - 1) * cols + opposite], M[(r - 1) * cols + moving], r);
    }
    grid.sync();
  }
}

// Block 1 returns before the syncs; the others sync forever-after.
__global__ void blockExits(unsigned *M) {
  auto grid = this_grid();
  if (blockIdx.x == 1)
    return;
  for (unsigned r = 1; r < 8; ++r) {
    M[blockIdx.x] = r;
    grid.sync();
  }
}

#ifdef GRID_SYNC_DEVRT
// out[rank] counts the threads that got each rank; out[n], out[n+1]: size.
__global__ void sizes(unsigned *out) {
  unsigned long long handle = cudaCGGetIntrinsicHandle(cudaCGScopeGrid);
  unsigned rank = ~0u, grids = ~0u, size = 0, count = 0;
  if (cudaCGGetRank(&rank, &grids, handle) != cudaSuccess || grids != 0)
    __trap();
  atomicAdd(&out[rank], 1u);
  if (rank == 0 && cudaCGGetSize(&size, &count, handle) == cudaSuccess) {
    out[size] = size;
    out[size + 1] = count;
  }
}
#endif

static std::vector<unsigned> model(unsigned cols, unsigned live) {
  std::vector<unsigned> m((size_t)kRows * cols);
  for (unsigned c = 0; c < cols; ++c)
    m[c] = c * 2654435761u;
  for (unsigned r = 1; r < kRows; ++r)
    for (unsigned c = 0; c < cols; ++c) {
      if (c >= live) { // never written
        m[(size_t)r * cols + c] = 0xAAAAAAAAu;
        continue;
      }
      unsigned opposite = cols - c - 1, moving = (c * 7u + r) % cols;
      m[(size_t)r * cols + c] =
          mix(m[(size_t)(r - 1) * cols + opposite], m[(size_t)(r - 1) * cols + moving], r);
    }
  return m;
}

// Threads of rank >= live exit first; their columns must be read by nobody,
// so the model keeps live == cols except where the live threads read only
// live columns (live == cols here; partial exits use a smaller `cols`).
static void run(dim3 grid, dim3 block, unsigned cols, unsigned live, const char *what) {
  std::vector<unsigned> init((size_t)kRows * cols, 0xAAAAAAAAu);
  for (unsigned c = 0; c < cols; ++c)
    init[c] = c * 2654435761u;
  unsigned *M = nullptr;
  CHECK(cudaMalloc(&M, init.size() * sizeof(unsigned)));
  CHECK(cudaMemcpy(M, init.data(), init.size() * sizeof(unsigned), cudaMemcpyHostToDevice));
  void *args[] = {&M, &cols, &live};
  CHECK(cudaLaunchCooperativeKernel((void *)rows, grid, block, args, 0, 0));
  CHECK_LAUNCH();
  std::vector<unsigned> got(init.size());
  CHECK(cudaMemcpy(got.data(), M, got.size() * sizeof(unsigned), cudaMemcpyDeviceToHost));
  CHECK(cudaFree(M));
  std::vector<unsigned> want = model(cols, live);
  printf("%s grid (%u,%u) block (%u,%u): %u rows\n", what, grid.x, grid.y, block.x, block.y, kRows);
  fflush(stdout);
  for (unsigned r = 0; r < kRows; ++r)
    for (unsigned c = 0; c < cols; ++c)
      if (got[(size_t)r * cols + c] != want[(size_t)r * cols + c]) {
        EXPECT(false, "%s grid (%u,%u) block (%u,%u): row %u col %u = %08x, want %08x (first wrong)", what,
               grid.x, grid.y, block.x, block.y, r, c, got[(size_t)r * cols + c], want[(size_t)r * cols + c]);
        return;
      }
}

int main() {
  signal(SIGALRM, [](int) {
    static const char msg[] = "FAILED " NAME ": still running after 120 s (a grid sync hangs)\n";
    (void)!write(2, msg, sizeof msg - 1);
    _exit(1);
  });
  alarm(120);
  int sms = 0;
  CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0));
  int runs = 0;
  const dim3 shapes[] = {dim3(32), dim3(256), dim3(1024), dim3(32, 2), dim3(16, 16), dim3(32, 32)};
  for (dim3 block : shapes) {
    const unsigned threads = block.x * block.y;
    int perSm = 0;
    CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&perSm, rows, (int)threads, 0));
    EXPECT(perSm > 0, "occupancy of %u threads: %d", threads, perSm);
    const int maxBlocks = perSm * sms;
    const int grids[] = {1, 2, sms, 3 * sms};
    for (int i = 0; i < 4; ++i) {
      const int g = grids[i];
      if (g > maxBlocks || (i > 0 && g <= grids[i - 1]))
        continue; // too large, or a grid already run
      // 2-D blocks also run 2-D grids where the grid splits in two
      dim3 grid = block.y > 1 && g % 2 == 0 ? dim3(g / 2, 2) : dim3(g);
      run(grid, block, g * threads, g * threads, block.y > 1 ? "2-D" : "1-D");
      ++runs;
    }
  }
  EXPECT(runs >= 10, "only %d configurations fit", runs);

  // Threads that return before the syncs: the last quarter of each grid's
  // ranks (thread 0 of every block lives). The live threads only read live
  // columns: cols = live.
  {
    const unsigned threads = 256, g = 2;
    const unsigned live = g * threads * 3 / 4 + 5;
    run(dim3(g), dim3(threads), live, live, "early-exit threads");
  }

#ifdef GRID_SYNC_DEVRT
  {
    // the size and rank syscalls: a 2-D grid of 2-D blocks
    unsigned *out = nullptr;
    const dim3 grid(2, 2), block(8, 4);
    const unsigned n = 4 * 32;
    CHECK(cudaMalloc(&out, (n + 2) * sizeof(unsigned)));
    CHECK(cudaMemset(out, 0, (n + 2) * sizeof(unsigned)));
    void *args[] = {&out};
    CHECK(cudaLaunchCooperativeKernel((void *)sizes, grid, block, args, 0, 0));
    CHECK_LAUNCH();
    std::vector<unsigned> got(n + 2);
    CHECK(cudaMemcpy(got.data(), out, got.size() * sizeof(unsigned), cudaMemcpyDeviceToHost));
    CHECK(cudaFree(out));
    EXPECT(got[n] == n && got[n + 1] == 1, "cudaCGGetSize: %u threads, %u grids", got[n], got[n + 1]);
    for (unsigned i = 0; i < n; ++i)
      EXPECT(got[i] == 1, "cudaCGGetRank: rank %u reported %u times", i, got[i]);
  }
#endif

  // A block that returns before the syncs: the others can never pass one.
  {
    const int g = sms >= 2 ? sms : 2;
    unsigned *M = nullptr;
    CHECK(cudaMalloc(&M, g * sizeof(unsigned)));
    void *args[] = {&M};
    cudaError_t launch = cudaLaunchCooperativeKernel((void *)blockExits, dim3(g), dim3(64), args, 0, 0);
    cudaError_t done = launch == cudaSuccess ? cudaDeviceSynchronize() : launch;
    EXPECT(done != cudaSuccess, "a grid sync a block never reaches completed");
    printf("block exited before grid.sync(): %s (%s)\n", cudaGetErrorName(done), cudaGetErrorString(done));
  }
  printf("%d grid shapes x %d rows\n", runs, kRows);
  PASSED(NAME);
  return 0;
}
