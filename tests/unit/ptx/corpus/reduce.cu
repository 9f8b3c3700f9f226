// Block reduction: shared memory, warp shuffles, votes, atomics.
__device__ float warpSum(float v) {
  for (int o = 16; o > 0; o >>= 1)
    v += __shfl_down_sync(0xffffffffu, v, o);
  return v;
}
__global__ void blockSum(const float *in, float *out, int n) {
  __shared__ float partial[32];
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  float v = i < n ? in[i] : 0.0f;
  v = warpSum(v);
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  if (warp == 0) {
    v = lane < (blockDim.x + 31) / 32 ? partial[lane] : 0.0f;
    v = warpSum(v);
    if (lane == 0) atomicAdd(out, v);
  }
}
__global__ void countPositive(const int *in, int *count, unsigned *ballots, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  bool pos = i < n && in[i] > 0;
  unsigned b = __ballot_sync(0xffffffffu, pos);
  if (__all_sync(0xffffffffu, pos)) ballots[blockIdx.x] = b;
  if (__any_sync(0xffffffffu, pos) && (threadIdx.x & 31) == 0) atomicAdd(count, __popc(b));
  int total = __syncthreads_count(pos);
  int all = __syncthreads_and(pos), any = __syncthreads_or(pos);
  if (threadIdx.x == 0) ballots[gridDim.x + blockIdx.x] = total + all * 2 + any * 4;
}
__global__ void xorShuffles(int *data) {
  int v = data[threadIdx.x];
  v += __shfl_xor_sync(0xffffffffu, v, 1);
  v += __shfl_up_sync(0xffffffffu, v, 2);
  v += __shfl_sync(0xffffffffu, v, 5);
  v += __shfl_sync(0x0000ffffu, v, 3, 16);
  double d = __shfl_down_sync(0xffffffffu, (double)v, 1);
  data[threadIdx.x] = v + (int)d;
}
