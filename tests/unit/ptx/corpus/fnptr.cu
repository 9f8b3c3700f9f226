// Indirect calls (.callprototype), virtual functions, function-pointer tables.
typedef float (*UnaryFn)(float);
__device__ float twice(float x) { return 2 * x; }
__device__ float square(float x) { return x * x; }
__device__ float negate(float x) { return -x; }
__device__ UnaryFn table[3] = {twice, square, negate};
struct Shape { __device__ virtual float area() const = 0; __device__ virtual ~Shape() {} };
struct Sq : Shape { float s; __device__ Sq(float s) : s(s) {} __device__ float area() const override { return s * s; } };
struct Circ : Shape { float r; __device__ Circ(float r) : r(r) {} __device__ float area() const override { return 3.14159f * r * r; } };
__global__ void apply(float *v, int which) {
  UnaryFn f = table[(which + threadIdx.x) % 3];
  v[threadIdx.x] = f(v[threadIdx.x]);
}
__global__ void shapes(float *out) {
  Sq a(out[0]);
  Circ b(out[1]);
  Shape *s = threadIdx.x & 1 ? (Shape *)&a : (Shape *)&b;
  out[threadIdx.x + 2] = s->area();
}
