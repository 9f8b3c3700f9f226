// Legacy warp-synchronous code: shared memory through `volatile` pointers and
// no __syncwarp, relying on the 32 lanes of a warp executing each statement
// together (old cuda-samples reductions and scans, countless third-party
// kernels). cuvirt's CPU JIT makes every ld/st.volatile.shared a warp
// synchronisation point (docs/ARCHITECTURE.md, "Warp-synchronous code").
// Integer results exact against the host, float ones within a tolerance.
// (The same kinds of code through plain, non-volatile memory need
// CUVIRT_WARP_LOCKSTEP=1.)
#include "check.h"
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

// ---- the classic warpReduce (cuda-samples reduce4/5) ------------------------
template <class T> __device__ void warpReduce(volatile T *s, unsigned tid) {
  s[tid] += s[tid + 32];
  s[tid] += s[tid + 16];
  s[tid] += s[tid + 8];
  s[tid] += s[tid + 4];
  s[tid] += s[tid + 2];
  s[tid] += s[tid + 1];
}

// Each block sums 2 * blockDim.x elements per grid stride; blockDim.x >= 64.
template <class T> __global__ void reduceWarpSync(const T *in, T *out, unsigned n) {
  __shared__ T s[1024];
  unsigned tid = threadIdx.x;
  T sum = 0;
  for (unsigned i = blockIdx.x * blockDim.x * 2 + tid; i < n; i += blockDim.x * 2 * gridDim.x) {
    sum += in[i];
    if (i + blockDim.x < n)
      sum += in[i + blockDim.x];
  }
  s[tid] = sum;
  __syncthreads();
  for (unsigned st = blockDim.x / 2; st > 32; st >>= 1) {
    if (tid < st)
      s[tid] += s[tid + st];
    __syncthreads();
  }
  if (tid < 32)
    warpReduce(s, tid);
  if (tid == 0)
    out[blockIdx.x] = s[0];
}

// ---- cuda-samples reduce6: blockSize a template parameter ---------------------
template <class T> struct SharedMemory {
  __device__ operator T *() {
    extern __shared__ int smem[];
    return reinterpret_cast<T *>(smem);
  }
};

template <class T, unsigned blockSize> __global__ void reduce6(const T *in, T *out, unsigned n) {
  T *sdata = SharedMemory<T>();
  unsigned tid = threadIdx.x;
  unsigned i = blockIdx.x * blockSize * 2 + tid;
  unsigned gridSize = blockSize * 2 * gridDim.x;
  T mySum = 0;
  while (i < n) {
    mySum += in[i];
    if (i + blockSize < n)
      mySum += in[i + blockSize];
    i += gridSize;
  }
  sdata[tid] = mySum;
  __syncthreads();
  if (blockSize >= 1024) {
    if (tid < 512)
      sdata[tid] = mySum = mySum + sdata[tid + 512];
    __syncthreads();
  }
  if (blockSize >= 512) {
    if (tid < 256)
      sdata[tid] = mySum = mySum + sdata[tid + 256];
    __syncthreads();
  }
  if (blockSize >= 256) {
    if (tid < 128)
      sdata[tid] = mySum = mySum + sdata[tid + 128];
    __syncthreads();
  }
  if (blockSize >= 128) {
    if (tid < 64)
      sdata[tid] = mySum = mySum + sdata[tid + 64];
    __syncthreads();
  }
  if (tid < 32) {
    volatile T *smem = sdata;
    if (blockSize >= 64)
      smem[tid] = mySum = mySum + smem[tid + 32];
    if (blockSize >= 32)
      smem[tid] = mySum = mySum + smem[tid + 16];
    if (blockSize >= 16)
      smem[tid] = mySum = mySum + smem[tid + 8];
    if (blockSize >= 8)
      smem[tid] = mySum = mySum + smem[tid + 4];
    if (blockSize >= 4)
      smem[tid] = mySum = mySum + smem[tid + 2];
    if (blockSize >= 2)
      smem[tid] = mySum = mySum + smem[tid + 1];
  }
  if (tid == 0)
    out[blockIdx.x] = sdata[0];
}

// ---- warp scans ---------------------------------------------------------------
// Inclusive scan of one warp's values at s[idx] (lanes guard their steps).
__device__ int warpScanGuarded(volatile int *s, unsigned idx, unsigned lane) {
  if (lane >= 1)
    s[idx] += s[idx - 1];
  if (lane >= 2)
    s[idx] += s[idx - 2];
  if (lane >= 4)
    s[idx] += s[idx - 4];
  if (lane >= 8)
    s[idx] += s[idx - 8];
  if (lane >= 16)
    s[idx] += s[idx - 16];
  return s[idx];
}

// cuda-samples scan's warpScanInclusive: a zero pad of `size` before each
// warp's values instead of guards.
template <unsigned size> __device__ int warpScanPadded(int v, volatile int *s) {
  unsigned pos = 2 * threadIdx.x - (threadIdx.x & (size - 1));
  s[pos] = 0;
  pos += size;
  s[pos] = v;
  for (unsigned offset = 1; offset < size; offset <<= 1)
    s[pos] += s[pos - offset];
  return s[pos];
}

// Block-wide inclusive scan: warps scan, warp 0 scans the warp totals.
// padded: the cuda-samples variant, else the guarded one.
template <bool padded> __global__ void blockScan(const int *in, int *out) {
  __shared__ int s[2 * 1024];
  __shared__ int totals[32];
  unsigned tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  int v = in[blockIdx.x * blockDim.x + tid];
  int incl;
  if (padded) {
    incl = warpScanPadded<32>(v, s);
  } else {
    s[tid] = v;
    incl = warpScanGuarded(s, tid, lane);
  }
  if (lane == 31)
    totals[warp] = incl;
  __syncthreads();
  if (warp == 0) {
    unsigned nw = blockDim.x / 32;
    int t = lane < nw ? totals[lane] : 0;
    int scanned;
    if (padded) {
      scanned = warpScanPadded<32>(t, s + 2 * 1024 - 64);
    } else {
      s[tid] = t;
      scanned = warpScanGuarded(s, tid, lane);
    }
    if (lane < nw)
      totals[lane] = scanned - t; // exclusive
  }
  __syncthreads();
  out[blockIdx.x * blockDim.x + tid] = incl + totals[warp];
}

// ---- a per-warp vote through a volatile shared flag ------------------------
// Lane 0 clears its warp's flag, lanes whose predicate holds set it, then
// every lane reads it: "any" without __any_sync (pre-Fermi code).
__global__ void warpAnyFlag(const int *pred, int *out) {
  volatile __shared__ int flag[32];
  unsigned tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  if (lane == 0)
    flag[warp] = 0;
  if (pred[blockIdx.x * blockDim.x + tid])
    flag[warp] = 1;
  out[blockIdx.x * blockDim.x + tid] = flag[warp];
}

// ---- cuda-samples histogram64's tagged shared update (no shared atomics) ------
// Every lane of a warp writes its tagged count; the last write wins and the
// lanes whose tag did not stick retry.
__device__ void addByte(volatile unsigned *warpHist, unsigned bin, unsigned tag) {
  unsigned count;
  do {
    count = warpHist[bin] & 0x07FFFFFFu;
    count = tag | (count + 1);
    warpHist[bin] = count;
  } while (warpHist[bin] != count);
}

__global__ void tagHistogram(const unsigned char *data, unsigned n, unsigned *hist) {
  __shared__ unsigned s[8 * 64]; // blockDim.x == 256: one 64-bin histogram per warp
  unsigned tid = threadIdx.x, warp = tid >> 5, tag = tid << 27;
  for (unsigned b = tid; b < 8 * 64; b += blockDim.x)
    s[b] = 0;
  __syncthreads();
  for (unsigned i = blockIdx.x * blockDim.x + tid; i < n; i += blockDim.x * gridDim.x)
    addByte(s + warp * 64, data[i] & 63u, tag);
  __syncthreads();
  if (tid < 64) {
    unsigned sum = 0;
    for (unsigned w = 0; w < 8; ++w)
      sum += s[w * 64 + tid] & 0x07FFFFFFu;
    atomicAdd(&hist[tid], sum);
  }
}

// ---- a warp bitonic sort through a volatile shared pointer --------------------
// CuPy partition's bitonic steps: per-lane loops (lanes past len / 2 run
// none), swaps under a per-lane condition; steps only meet in lockstep.
__device__ void bitonicStep(volatile int *a, int len, int i, int s, int w) {
  for (int j = i; j < len / 2; j += 32) {
    int n = j + (j & -w);
    int v = a[n], u = a[n + w];
    if (n & s ? v < u : v > u) {
      a[n] = u;
      a[n + w] = v;
    }
  }
}

// Each warp sorts one row of len <= 256 values (a power of two).
__global__ void warpBitonic(const int *in, int *out, int len) {
  __shared__ int rows[8 * 256];
  int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  volatile int *a = rows + warp * len;
  int row = blockIdx.x * (blockDim.x / 32) + warp;
  for (int k = lane; k < len; k += 32)
    a[k] = in[row * len + k];
  for (int s = 2; s <= len; s *= 2)
    for (int w = s / 2; w >= 1; w /= 2)
      bitonicStep(a, len, lane, s, w);
  for (int k = lane; k < len; k += 32)
    out[row * len + k] = a[k];
}

// ---- host side ----------------------------------------------------------------
template <class T> bool close(T got, double want) {
  if constexpr (sizeof(T) == 4 && T(0.5) != T(0))
    return std::fabs(double(got) - want) <= 1e-4 * std::fabs(want) + 1e-3;
  else
    return double(got) == want;
}

template <class T> T value(unsigned i) {
  if constexpr (T(0.5) != T(0))
    return T((i * 2654435761u) % 1000u) / T(1000);
  else
    return T(int((i * 2654435761u) % 201u) - 100);
}

template <class T> void checkReductions(const char *tname) {
  const unsigned n = 100003, blocks = 13;
  std::vector<T> h(n);
  double ref = 0;
  for (unsigned i = 0; i < n; ++i) {
    h[i] = value<T>(i);
    ref += double(h[i]);
  }
  T *din, *dpart;
  CHECK(cudaMalloc(&din, n * sizeof(T)));
  CHECK(cudaMalloc(&dpart, blocks * sizeof(T)));
  CHECK(cudaMemcpy(din, h.data(), n * sizeof(T), cudaMemcpyHostToDevice));
  auto total = [&] {
    std::vector<T> part(blocks);
    CHECK(cudaMemcpy(part.data(), dpart, blocks * sizeof(T), cudaMemcpyDeviceToHost));
    double s = 0;
    for (T p : part)
      s += double(p);
    return s;
  };
  for (unsigned bs = 64; bs <= 1024; bs *= 2) {
    CHECK(cudaMemset(dpart, 0, blocks * sizeof(T)));
    reduceWarpSync<T><<<blocks, bs>>>(din, dpart, n);
    CHECK_LAUNCH();
    double got = total();
    EXPECT(close(T(got), ref), "warpReduce<%s> with %u threads: %f, want %f", tname, bs, got, ref);
  }
  auto run6 = [&](unsigned bs) {
    CHECK(cudaMemset(dpart, 0, blocks * sizeof(T)));
    size_t shm = bs * sizeof(T);
    switch (bs) {
    case 1024:
      reduce6<T, 1024><<<blocks, bs, shm>>>(din, dpart, n);
      break;
    case 512:
      reduce6<T, 512><<<blocks, bs, shm>>>(din, dpart, n);
      break;
    case 256:
      reduce6<T, 256><<<blocks, bs, shm>>>(din, dpart, n);
      break;
    case 128:
      reduce6<T, 128><<<blocks, bs, shm>>>(din, dpart, n);
      break;
    case 64:
      reduce6<T, 64><<<blocks, bs, shm>>>(din, dpart, n);
      break;
    default:
      // The last warp reads sdata[tid + 16] up to index 47: pad shared memory.
      reduce6<T, 32><<<blocks, bs, 64 * sizeof(T)>>>(din, dpart, n);
      break;
    }
    CHECK_LAUNCH();
    double got = total();
    EXPECT(close(T(got), ref), "reduce6<%s, %u>: %f, want %f", tname, bs, got, ref);
  };
  for (unsigned bs = 32; bs <= 1024; bs *= 2)
    run6(bs);
  CHECK(cudaFree(din));
  CHECK(cudaFree(dpart));
}

void checkScans() {
  for (unsigned bs : {32u, 64u, 256u, 1024u}) {
    const unsigned blocks = 3, n = blocks * bs;
    std::vector<int> h(n), out(n);
    for (unsigned i = 0; i < n; ++i)
      h[i] = int((i * 7919u) % 13u) - 6;
    int *din, *dout;
    CHECK(cudaMalloc(&din, n * sizeof(int)));
    CHECK(cudaMalloc(&dout, n * sizeof(int)));
    CHECK(cudaMemcpy(din, h.data(), n * sizeof(int), cudaMemcpyHostToDevice));
    for (int padded = 0; padded < 2; ++padded) {
      CHECK(cudaMemset(dout, 0, n * sizeof(int)));
      if (padded)
        blockScan<true><<<blocks, bs>>>(din, dout);
      else
        blockScan<false><<<blocks, bs>>>(din, dout);
      CHECK_LAUNCH();
      CHECK(cudaMemcpy(out.data(), dout, n * sizeof(int), cudaMemcpyDeviceToHost));
      int bad = 0;
      for (unsigned b = 0; b < blocks; ++b) {
        int acc = 0;
        for (unsigned t = 0; t < bs; ++t) {
          acc += h[b * bs + t];
          if (out[b * bs + t] != acc && bad++ < 3)
            EXPECT(false, "%s scan, %u threads: block %u thread %u = %d, want %d",
                   padded ? "padded" : "guarded", bs, b, t, out[b * bs + t], acc);
        }
      }
      EXPECT(bad == 0, "%s scan, %u threads: %d wrong", padded ? "padded" : "guarded", bs, bad);
    }
    CHECK(cudaFree(din));
    CHECK(cudaFree(dout));
  }
}

void checkVote() {
  const unsigned blocks = 2, bs = 256, n = blocks * bs;
  std::vector<int> pred(n, 0), out(n);
  // Warp w of block b: no lane, one lane (varying), or several lanes set.
  for (unsigned w = 0; w < n / 32; ++w) {
    if (w % 4 == 1)
      pred[w * 32 + (w * 5) % 32] = 1;
    if (w % 4 == 2)
      for (unsigned l = 3; l < 32; l += 9)
        pred[w * 32 + l] = 1;
    if (w % 4 == 3)
      pred[w * 32] = 1; // lane 0, which also clears the flag
  }
  int *dp, *dout;
  CHECK(cudaMalloc(&dp, n * sizeof(int)));
  CHECK(cudaMalloc(&dout, n * sizeof(int)));
  CHECK(cudaMemcpy(dp, pred.data(), n * sizeof(int), cudaMemcpyHostToDevice));
  warpAnyFlag<<<blocks, bs>>>(dp, dout);
  CHECK_LAUNCH();
  CHECK(cudaMemcpy(out.data(), dout, n * sizeof(int), cudaMemcpyDeviceToHost));
  for (unsigned w = 0; w < n / 32; ++w) {
    int any = 0;
    for (unsigned l = 0; l < 32; ++l)
      any |= pred[w * 32 + l];
    for (unsigned l = 0; l < 32; ++l)
      EXPECT(out[w * 32 + l] == any, "flag vote: warp %u lane %u = %d, want %d", w, l, out[w * 32 + l], any);
  }
  CHECK(cudaFree(dp));
  CHECK(cudaFree(dout));
}

void checkTagHistogram() {
  const unsigned n = 50001, blocks = 5;
  std::vector<unsigned char> h(n);
  std::vector<unsigned> ref(64, 0), got(64);
  for (unsigned i = 0; i < n; ++i) {
    // Many equal bins within a warp, so tagged writes collide.
    h[i] = (unsigned char)((i / 3) % 7 == 0 ? 5 : (i * 2654435761u) >> 24);
    ++ref[h[i] & 63u];
  }
  unsigned char *din;
  unsigned *dh;
  CHECK(cudaMalloc(&din, n));
  CHECK(cudaMalloc(&dh, 64 * sizeof(unsigned)));
  CHECK(cudaMemcpy(din, h.data(), n, cudaMemcpyHostToDevice));
  CHECK(cudaMemset(dh, 0, 64 * sizeof(unsigned)));
  tagHistogram<<<blocks, 256>>>(din, n, dh);
  CHECK_LAUNCH();
  CHECK(cudaMemcpy(got.data(), dh, 64 * sizeof(unsigned), cudaMemcpyDeviceToHost));
  for (unsigned b = 0; b < 64; ++b)
    EXPECT(got[b] == ref[b], "tagged histogram bin %u = %u, want %u", b, got[b], ref[b]);
  CHECK(cudaFree(din));
  CHECK(cudaFree(dh));
}

void checkBitonic() {
  for (int len : {256, 32}) {
    const int blocks = 2, warps = 4, n = blocks * warps * len;
    std::vector<int> h(n), out(n);
    for (int i = 0; i < n; ++i)
      h[i] = int((unsigned(i) * 2654435761u) % 1000u);
    int *din, *dout;
    CHECK(cudaMalloc(&din, n * sizeof(int)));
    CHECK(cudaMalloc(&dout, n * sizeof(int)));
    CHECK(cudaMemcpy(din, h.data(), n * sizeof(int), cudaMemcpyHostToDevice));
    warpBitonic<<<blocks, warps * 32>>>(din, dout, len);
    CHECK_LAUNCH();
    CHECK(cudaMemcpy(out.data(), dout, n * sizeof(int), cudaMemcpyDeviceToHost));
    int bad = 0;
    for (int r = 0; r < blocks * warps; ++r) {
      std::sort(h.begin() + r * len, h.begin() + (r + 1) * len);
      for (int k = 0; k < len; ++k)
        bad += out[r * len + k] != h[r * len + k];
    }
    EXPECT(bad == 0, "warp bitonic sort of %d: %d values out of place", len, bad);
    CHECK(cudaFree(din));
    CHECK(cudaFree(dout));
  }
}

int main() {
  checkReductions<int>("int");
  checkReductions<float>("float");
  checkScans();
  checkVote();
  checkTagHistogram();
  checkBitonic();
  PASSED("warp_synchronous");
  return 0;
}
