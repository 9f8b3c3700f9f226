// Templates, functors and structs passed by value.
struct Vec3 { float x, y, z; };
struct Big { double d[5]; int tag; char c; };
struct alignas(16) Aligned { int a, b, c, d; };
template <class T> struct Plus { __device__ T operator()(T a, T b) const { return a + b; } };
template <class T> struct Max { __device__ T operator()(T a, T b) const { return a > b ? a : b; } };
template <class T, class Op, int N> __global__ void fold(const T *in, T *out, Op op) {
  T acc = in[0];
#pragma unroll
  for (int i = 1; i < N; ++i) acc = op(acc, in[i * blockDim.x + threadIdx.x]);
  out[threadIdx.x] = acc;
}
template __global__ void fold<int, Plus<int>, 4>(const int *, int *, Plus<int>);
template __global__ void fold<double, Max<double>, 8>(const double *, double *, Max<double>);
template __global__ void fold<unsigned long long, Plus<unsigned long long>, 3>(const unsigned long long *, unsigned long long *, Plus<unsigned long long>);
template __global__ void fold<short, Max<short>, 2>(const short *, short *, Max<short>);
__device__ __noinline__ Vec3 cross(Vec3 a, Vec3 b) { return {a.y * b.z - a.z * b.y, a.z * b.x - a.x * b.z, a.x * b.y - a.y * b.x}; }
__global__ void byValue(Vec3 a, Big big, Aligned al, char c, short s, Vec3 *out, double *dout) {
  out[threadIdx.x] = cross(a, Vec3{(float)big.d[threadIdx.x % 5], (float)al.c, (float)(c + s)});
  dout[threadIdx.x] = big.d[4] + big.tag + big.c + al.a + al.d;
}
