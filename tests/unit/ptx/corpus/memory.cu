// State spaces: constant tables, globals with initialisers, dynamic shared
// memory, vector loads/stores, 3-D indexing, launch bounds.
__constant__ float coeffs[8] = {0.5f, 0.25f, 0.125f, 1.0f, -1.0f};
__constant__ int lut[4][4] = {{1, 2}, {3, 4, 5}};
__device__ int counter = 10;
__device__ int *counterPtr = &counter;
__device__ double table[3] = {1.5, 2.5, 3.5};
__device__ char name[] = "cuvirt";
__shared__ int moduleShared[16];
__global__ void __launch_bounds__(128, 4) stencil(const float4 *in, float4 *out, int nx, int ny) {
  extern __shared__ float4 tile[];
  int x = blockIdx.x * blockDim.x + threadIdx.x, y = blockIdx.y * blockDim.y + threadIdx.y, z = blockIdx.z;
  int i = (z * ny + y) * nx + x;
  tile[threadIdx.y * blockDim.x + threadIdx.x] = in[i];
  moduleShared[threadIdx.x & 15] = i;
  __syncthreads();
  float4 a = tile[(threadIdx.y * blockDim.x + (threadIdx.x + 1) % blockDim.x)];
  float4 r;
  r.x = a.x * coeffs[0] + lut[x & 3][y & 3];
  r.y = a.y * coeffs[1] + *counterPtr;
  r.z = a.z * coeffs[2] + (float)table[i % 3] + name[i % 6];
  r.w = a.w * coeffs[3] + moduleShared[(threadIdx.x + 3) & 15] + gridDim.x * gridDim.y * gridDim.z;
  out[i] = r;
}
__global__ void vectors(const double2 *a, int4 *b, const short2 *c, uchar4 *d, long long *e) {
  double2 v = a[threadIdx.x];
  int4 w = b[threadIdx.x];
  w.x += (int)v.x; w.w -= (int)v.y;
  b[threadIdx.x] = w;
  short2 s = c[threadIdx.x];
  d[threadIdx.x] = make_uchar4(s.x, s.y, s.x + s.y, 255);
  e[threadIdx.x] = __ldg(e + threadIdx.x + 32) + __ldcs(e + 64) + __ldlu(e + 65);
  __stcs(e + 66, 5ll);
}
