// Texture objects end to end: CUDA arrays (2-D, 3-D, layered, cubemap,
// mipmapped), linear and pitched memory; point and linear filtering,
// normalized coordinates, wrap/clamp/mirror/border, normalized-float reads of
// uchar4, tex1Dfetch, gather and explicit LOD. Expected values come from a
// host reference of CUDA's documented sampling rules; linear filtering is
// compared with a tolerance that covers the GPU's 9-bit weights.
#include "check.h"
#include <cmath>
#include <cstring>
#include <vector>

// ---- kernels: one sample per thread ------------------------------------------
__global__ void sample2D(cudaTextureObject_t t, const float2 *c, float *out, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n)
    out[i] = tex2D<float>(t, c[i].x, c[i].y);
}
__global__ void sample2D4(cudaTextureObject_t t, const float2 *c, float4 *out, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n)
    out[i] = tex2D<float4>(t, c[i].x, c[i].y);
}
__global__ void fetch1D(cudaTextureObject_t t, const int *idx, int *out, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n)
    out[i] = tex1Dfetch<int>(t, idx[i]);
}
__global__ void sample3D(cudaTextureObject_t t, const float4 *c, float *out, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n)
    out[i] = tex3D<float>(t, c[i].x, c[i].y, c[i].z);
}
__global__ void sampleLayered(cudaTextureObject_t t, const float4 *c, float *out, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n)
    out[i] = tex2DLayered<float>(t, c[i].x, c[i].y, (int)c[i].z);
}
__global__ void gather(cudaTextureObject_t t, const float2 *c, float4 *out, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n)
    out[i] = tex2Dgather<float4>(t, c[i].x, c[i].y, 0);
}
__global__ void sampleLod(cudaTextureObject_t t, const float4 *c, float *out, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n)
    out[i] = tex2DLod<float>(t, c[i].x, c[i].y, c[i].z);
}
__global__ void sampleGrad(cudaTextureObject_t t, const float4 *c, float *out, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n)
    out[i] = tex2DGrad<float>(t, c[i].x, c[i].y, make_float2(c[i].z, 0), make_float2(0, c[i].w));
}
__global__ void sampleCube(cudaTextureObject_t t, const float4 *c, float *out, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n)
    out[i] = texCubemap<float>(t, c[i].x, c[i].y, c[i].z);
}

// ---- helpers -----------------------------------------------------------------
template <class T> T *toDevice(const std::vector<T> &v) {
  T *d;
  CHECK(cudaMalloc(&d, v.size() * sizeof(T)));
  CHECK(cudaMemcpy(d, v.data(), v.size() * sizeof(T), cudaMemcpyHostToDevice));
  return d;
}
template <class T> std::vector<T> fromDevice(const T *d, size_t n) {
  std::vector<T> v(n);
  CHECK(cudaMemcpy(v.data(), d, n * sizeof(T), cudaMemcpyDeviceToHost));
  return v;
}
// Runs `kernel(tex, coords, out, n)` and returns the results.
template <class C, class R, class K>
std::vector<R> run(K kernel, cudaTextureObject_t t, const std::vector<C> &c) {
  C *dc = toDevice(c);
  R *dout;
  CHECK(cudaMalloc(&dout, c.size() * sizeof(R)));
  int n = (int)c.size();
  kernel<<<(n + 63) / 64, 64>>>(t, dc, dout, n);
  CHECK_LAUNCH();
  std::vector<R> r = fromDevice(dout, c.size());
  CHECK(cudaFree(dc));
  CHECK(cudaFree(dout));
  return r;
}

cudaTextureDesc texDesc(cudaTextureAddressMode m, cudaTextureFilterMode f, bool normalized,
                        cudaTextureReadMode read = cudaReadModeElementType) {
  cudaTextureDesc d;
  memset(&d, 0, sizeof d);
  d.addressMode[0] = d.addressMode[1] = d.addressMode[2] = m;
  d.filterMode = f;
  d.normalizedCoords = normalized;
  d.readMode = read;
  return d;
}

cudaTextureObject_t arrayTexture(cudaArray_t a, const cudaTextureDesc &d) {
  cudaResourceDesc r;
  memset(&r, 0, sizeof r);
  r.resType = cudaResourceTypeArray;
  r.res.array.array = a;
  cudaTextureObject_t t;
  CHECK(cudaCreateTextureObject(&t, &r, &d, nullptr));
  return t;
}

// Host reference of CUDA's addressing (per dimension) on integer index i.
bool hostAddress(long &i, long n, cudaTextureAddressMode m) {
  switch (m) {
  case cudaAddressModeWrap:
    i = ((i % n) + n) % n;
    return true;
  case cudaAddressModeMirror: {
    long k = ((i % (2 * n)) + 2 * n) % (2 * n);
    i = k < n ? k : 2 * n - 1 - k;
    return true;
  }
  case cudaAddressModeBorder:
    return i >= 0 && i < n;
  default:
    i = i < 0 ? 0 : i >= n ? n - 1 : i;
    return true;
  }
}

struct Host2D {
  int w, h;
  std::vector<float> v;
  float border = 0;
  float at(long x, long y, cudaTextureAddressMode m) const {
    if (!hostAddress(x, w, m) || !hostAddress(y, h, m))
      return border;
    return v[y * w + x];
  }
  // CUDA's tex2D on unnormalized coordinates (scale normalized ones first).
  float sample(float u, float vv, cudaTextureAddressMode m, bool linear) const {
    if (!linear)
      return at((long)floorf(u), (long)floorf(vv), m);
    float xb = u - 0.5f, yb = vv - 0.5f;
    long i = (long)floorf(xb), j = (long)floorf(yb);
    float a = xb - floorf(xb), b = yb - floorf(yb);
    return (1 - a) * (1 - b) * at(i, j, m) + a * (1 - b) * at(i + 1, j, m) + (1 - a) * b * at(i, j + 1, m) +
           a * b * at(i + 1, j + 1, m);
  }
};

bool near(float a, float b, float tol) { return fabsf(a - b) <= tol; }

// ---- tests ---------------------------------------------------------------------
void test2DArray() {
  const int W = 8, H = 6;
  Host2D ref{W, H, std::vector<float>(W * H)};
  for (int i = 0; i < W * H; ++i)
    ref.v[i] = (float)i;
  cudaChannelFormatDesc fmt = cudaCreateChannelDesc<float>();
  cudaArray_t a;
  CHECK(cudaMallocArray(&a, &fmt, W, H));
  CHECK(cudaMemcpy2DToArray(a, 0, 0, ref.v.data(), W * sizeof(float), W * sizeof(float), H,
                            cudaMemcpyHostToDevice));
  // The array reads back as written, and reports its shape.
  std::vector<float> back(W * H, -1);
  CHECK(cudaMemcpy2DFromArray(back.data(), W * sizeof(float), a, 0, 0, W * sizeof(float), H,
                              cudaMemcpyDeviceToHost));
  EXPECT(back == ref.v, "cudaMemcpy2DFromArray differs from what was written");
  cudaChannelFormatDesc got;
  cudaExtent ext;
  unsigned flags = 99;
  CHECK(cudaArrayGetInfo(&got, &ext, &flags, a));
  EXPECT(got.x == 32 && got.f == cudaChannelFormatKindFloat && ext.width == W && ext.height == H &&
             ext.depth == 0,
         "cudaArrayGetInfo: %d bits kind %d, %zux%zux%zu", got.x, (int)got.f, ext.width, ext.height,
         ext.depth);

  // Point sampling, unnormalized, clamp: texel centres inside and outside.
  {
    cudaTextureObject_t t = arrayTexture(a, texDesc(cudaAddressModeClamp, cudaFilterModePoint, false));
    std::vector<float2> c;
    for (int y = -1; y <= H; ++y)
      for (int x = -2; x <= W + 1; ++x)
        c.push_back(make_float2(x + 0.5f, y + 0.5f));
    c.push_back(make_float2(3.9f, 2.1f));
    auto r = run<float2, float>(sample2D, t, c);
    for (size_t i = 0; i < c.size(); ++i) {
      float want = ref.sample(c[i].x, c[i].y, cudaAddressModeClamp, false);
      EXPECT(r[i] == want, "point/clamp at (%g,%g): %g, want %g", c[i].x, c[i].y, r[i], want);
    }
    CHECK(cudaDestroyTextureObject(t));
  }
  // Linear filtering, normalized coordinates, wrap (and clamp, mirror).
  for (cudaTextureAddressMode m : {cudaAddressModeWrap, cudaAddressModeClamp, cudaAddressModeMirror}) {
    cudaTextureObject_t t = arrayTexture(a, texDesc(m, cudaFilterModeLinear, true));
    std::vector<float2> c;
    for (float u : {-0.3f, 0.0f, 0.05f, 0.49f, 0.97f, 1.3f})
      for (float v : {0.1f, 0.6f, 1.7f, -0.45f})
        c.push_back(make_float2(u, v));
    auto r = run<float2, float>(sample2D, t, c);
    for (size_t i = 0; i < c.size(); ++i) {
      float want = ref.sample(c[i].x * W, c[i].y * H, m, true);
      EXPECT(near(r[i], want, 0.2f), "linear mode %d at (%g,%g): %g, want %g", (int)m, c[i].x, c[i].y, r[i],
             want);
    }
    CHECK(cudaDestroyTextureObject(t));
  }
  // Point sampling with mirror, normalized.
  {
    cudaTextureObject_t t = arrayTexture(a, texDesc(cudaAddressModeMirror, cudaFilterModePoint, true));
    std::vector<float2> c;
    for (float u : {-0.9f, -0.1f, 0.3f, 1.2f, 1.9f})
      for (float v : {-0.2f, 0.5f, 1.4f})
        c.push_back(make_float2(u, v));
    auto r = run<float2, float>(sample2D, t, c);
    for (size_t i = 0; i < c.size(); ++i) {
      float want = ref.sample(c[i].x * W, c[i].y * H, cudaAddressModeMirror, false);
      EXPECT(r[i] == want, "point/mirror at (%g,%g): %g, want %g", c[i].x, c[i].y, r[i], want);
    }
    CHECK(cudaDestroyTextureObject(t));
  }
  // Border: outside the array reads the border colour.
  {
    cudaTextureDesc d = texDesc(cudaAddressModeBorder, cudaFilterModePoint, false);
    d.borderColor[0] = -7.0f;
    cudaTextureObject_t t = arrayTexture(a, d);
    std::vector<float2> c = {make_float2(-0.5f, 1.5f), make_float2(2.5f, 1.5f), make_float2(8.5f, 0.5f),
                             make_float2(7.5f, 5.5f), make_float2(1.5f, 6.2f)};
    auto r = run<float2, float>(sample2D, t, c);
    ref.border = -7.0f;
    for (size_t i = 0; i < c.size(); ++i) {
      float want = ref.sample(c[i].x, c[i].y, cudaAddressModeBorder, false);
      EXPECT(r[i] == want, "border at (%g,%g): %g, want %g", c[i].x, c[i].y, r[i], want);
    }
    CHECK(cudaDestroyTextureObject(t));
  }
  CHECK(cudaFreeArray(a));
}

void testUchar4Normalized() {
  const int W = 4, H = 4;
  std::vector<uchar4> v(W * H);
  for (int i = 0; i < W * H; ++i)
    v[i] = make_uchar4((unsigned char)(i * 16), (unsigned char)(255 - i), (unsigned char)(i * 3), 255);
  cudaChannelFormatDesc fmt = cudaCreateChannelDesc<uchar4>();
  cudaArray_t a;
  CHECK(cudaMallocArray(&a, &fmt, W, H));
  CHECK(cudaMemcpy2DToArray(a, 0, 0, v.data(), W * 4, W * 4, H, cudaMemcpyHostToDevice));
  cudaTextureObject_t t =
      arrayTexture(a, texDesc(cudaAddressModeClamp, cudaFilterModePoint, false, cudaReadModeNormalizedFloat));
  std::vector<float2> c;
  for (int i = 0; i < W * H; ++i)
    c.push_back(make_float2(i % W + 0.5f, i / W + 0.5f));
  auto r = run<float2, float4>(sample2D4, t, c);
  for (int i = 0; i < W * H; ++i) {
    EXPECT(near(r[i].x, v[i].x / 255.0f, 1e-6f) && near(r[i].y, v[i].y / 255.0f, 1e-6f) &&
               near(r[i].z, v[i].z / 255.0f, 1e-6f) && near(r[i].w, 1.0f, 1e-6f),
           "uchar4 texel %d: (%g,%g,%g,%g)", i, r[i].x, r[i].y, r[i].z, r[i].w);
  }
  // Linear filtering between two texels of a normalized-float texture.
  cudaTextureObject_t tl = arrayTexture(
      a, texDesc(cudaAddressModeClamp, cudaFilterModeLinear, false, cudaReadModeNormalizedFloat));
  auto rl = run<float2, float4>(sample2D4, tl, std::vector<float2>{make_float2(1.0f, 0.5f)});
  float want = (v[0].x + v[1].x) / 2.0f / 255.0f;
  EXPECT(near(rl[0].x, want, 2e-3f), "uchar4 linear: %g, want %g", rl[0].x, want);
  CHECK(cudaDestroyTextureObject(t));
  CHECK(cudaDestroyTextureObject(tl));
  CHECK(cudaFreeArray(a));
}

void testLinearFetch() {
  const int N = 100;
  std::vector<int> v(N);
  for (int i = 0; i < N; ++i)
    v[i] = i * i - 50;
  int *d = toDevice(v);
  cudaResourceDesc r;
  memset(&r, 0, sizeof r);
  r.resType = cudaResourceTypeLinear;
  r.res.linear.devPtr = d;
  r.res.linear.desc = cudaCreateChannelDesc<int>();
  r.res.linear.sizeInBytes = N * sizeof(int);
  cudaTextureDesc td = texDesc(cudaAddressModeClamp, cudaFilterModePoint, false);
  cudaTextureObject_t t;
  CHECK(cudaCreateTextureObject(&t, &r, &td, nullptr));
  std::vector<int> idx = {0, 1, 17, 99, 50, 100, 1000};
  int *didx = toDevice(idx), *dout;
  CHECK(cudaMalloc(&dout, idx.size() * sizeof(int)));
  fetch1D<<<1, 32>>>(t, didx, dout, (int)idx.size());
  CHECK_LAUNCH();
  auto got = fromDevice(dout, idx.size());
  for (size_t i = 0; i < idx.size(); ++i) {
    int want = idx[i] < N ? v[idx[i]] : 0; // out of range reads zero
    EXPECT(got[i] == want, "tex1Dfetch(%d) = %d, want %d", idx[i], got[i], want);
  }
  cudaResourceDesc back;
  CHECK(cudaGetTextureObjectResourceDesc(&back, t));
  EXPECT(back.resType == cudaResourceTypeLinear && back.res.linear.devPtr == d &&
             back.res.linear.sizeInBytes == N * sizeof(int),
         "resource desc round trip");
  CHECK(cudaDestroyTextureObject(t));
  CHECK(cudaFree(d));
  CHECK(cudaFree(didx));
  CHECK(cudaFree(dout));
}

void testPitch2D() {
  const int W = 5, H = 3;
  float *d;
  size_t pitch;
  CHECK(cudaMallocPitch(&d, &pitch, W * sizeof(float), H));
  Host2D ref{W, H, std::vector<float>(W * H)};
  for (int i = 0; i < W * H; ++i)
    ref.v[i] = 0.5f * i;
  CHECK(
      cudaMemcpy2D(d, pitch, ref.v.data(), W * sizeof(float), W * sizeof(float), H, cudaMemcpyHostToDevice));
  cudaResourceDesc r;
  memset(&r, 0, sizeof r);
  r.resType = cudaResourceTypePitch2D;
  r.res.pitch2D.devPtr = d;
  r.res.pitch2D.desc = cudaCreateChannelDesc<float>();
  r.res.pitch2D.width = W;
  r.res.pitch2D.height = H;
  r.res.pitch2D.pitchInBytes = pitch;
  cudaTextureDesc td = texDesc(cudaAddressModeClamp, cudaFilterModePoint, false);
  cudaTextureObject_t t;
  CHECK(cudaCreateTextureObject(&t, &r, &td, nullptr));
  std::vector<float2> c;
  for (int y = 0; y <= H; ++y)
    for (int x = -1; x <= W; ++x)
      c.push_back(make_float2(x + 0.5f, y + 0.5f));
  auto got = run<float2, float>(sample2D, t, c);
  for (size_t i = 0; i < c.size(); ++i) {
    float want = ref.sample(c[i].x, c[i].y, cudaAddressModeClamp, false);
    EXPECT(got[i] == want, "pitch2D at (%g,%g): %g, want %g", c[i].x, c[i].y, got[i], want);
  }
  CHECK(cudaDestroyTextureObject(t));
  CHECK(cudaFree(d));
}

void test3D() {
  const int W = 4, H = 3, D = 2;
  std::vector<float> v(W * H * D);
  for (size_t i = 0; i < v.size(); ++i)
    v[i] = (float)i;
  cudaChannelFormatDesc fmt = cudaCreateChannelDesc<float>();
  cudaArray_t a;
  CHECK(cudaMalloc3DArray(&a, &fmt, make_cudaExtent(W, H, D)));
  cudaMemcpy3DParms p;
  memset(&p, 0, sizeof p);
  p.srcPtr = make_cudaPitchedPtr(v.data(), W * sizeof(float), W, H);
  p.dstArray = a;
  p.extent = make_cudaExtent(W, H, D);
  p.kind = cudaMemcpyHostToDevice;
  CHECK(cudaMemcpy3D(&p));
  auto at = [&](long x, long y, long z) {
    x = x < 0 ? 0 : x >= W ? W - 1 : x;
    y = y < 0 ? 0 : y >= H ? H - 1 : y;
    z = z < 0 ? 0 : z >= D ? D - 1 : z;
    return v[(z * H + y) * W + x];
  };
  cudaTextureObject_t tp = arrayTexture(a, texDesc(cudaAddressModeClamp, cudaFilterModePoint, false));
  cudaTextureObject_t tl = arrayTexture(a, texDesc(cudaAddressModeClamp, cudaFilterModeLinear, false));
  std::vector<float4> c = {make_float4(0.5f, 0.5f, 0.5f, 0), make_float4(3.5f, 2.5f, 1.5f, 0),
                           make_float4(1.2f, 2.7f, 1.9f, 0), make_float4(9.0f, -3.0f, 0.5f, 0),
                           make_float4(1.75f, 1.25f, 1.0f, 0)};
  auto rp = run<float4, float>(sample3D, tp, c);
  auto rl = run<float4, float>(sample3D, tl, c);
  for (size_t i = 0; i < c.size(); ++i) {
    float want = at((long)floorf(c[i].x), (long)floorf(c[i].y), (long)floorf(c[i].z));
    EXPECT(rp[i] == want, "3D point at %zu: %g, want %g", i, rp[i], want);
    float xb = c[i].x - 0.5f, yb = c[i].y - 0.5f, zb = c[i].z - 0.5f;
    long x0 = (long)floorf(xb), y0 = (long)floorf(yb), z0 = (long)floorf(zb);
    float ax = xb - x0, ay = yb - y0, az = zb - z0, lw = 0;
    for (int m = 0; m < 8; ++m) {
      float w = ((m & 1) ? ax : 1 - ax) * ((m & 2) ? ay : 1 - ay) * ((m & 4) ? az : 1 - az);
      lw += w * at(x0 + (m & 1), y0 + ((m >> 1) & 1), z0 + ((m >> 2) & 1));
    }
    EXPECT(near(rl[i], lw, 0.1f), "3D linear at %zu: %g, want %g", i, rl[i], lw);
  }
  CHECK(cudaDestroyTextureObject(tp));
  CHECK(cudaDestroyTextureObject(tl));
  CHECK(cudaFreeArray(a));
}

void testLayered() {
  const int W = 4, H = 4, L = 3;
  std::vector<float> v(W * H * L);
  for (size_t i = 0; i < v.size(); ++i)
    v[i] = 1000.0f * (i / (W * H)) + (float)(i % (W * H));
  cudaChannelFormatDesc fmt = cudaCreateChannelDesc<float>();
  cudaArray_t a;
  CHECK(cudaMalloc3DArray(&a, &fmt, make_cudaExtent(W, H, L), cudaArrayLayered));
  cudaMemcpy3DParms p;
  memset(&p, 0, sizeof p);
  p.srcPtr = make_cudaPitchedPtr(v.data(), W * sizeof(float), W, H);
  p.dstArray = a;
  p.extent = make_cudaExtent(W, H, L);
  p.kind = cudaMemcpyHostToDevice;
  CHECK(cudaMemcpy3D(&p));
  cudaTextureObject_t t = arrayTexture(a, texDesc(cudaAddressModeClamp, cudaFilterModePoint, false));
  std::vector<float4> c;
  for (int l = 0; l < L; ++l)
    for (int x = 0; x < W; x += 3)
      c.push_back(make_float4(x + 0.5f, 2.5f, (float)l, 0));
  auto r = run<float4, float>(sampleLayered, t, c);
  for (size_t i = 0; i < c.size(); ++i) {
    float want = v[((int)c[i].z * H + 2) * W + (int)c[i].x];
    EXPECT(r[i] == want, "layered at (%g,%g,layer %g): %g, want %g", c[i].x, c[i].y, c[i].z, r[i], want);
  }
  CHECK(cudaDestroyTextureObject(t));
  CHECK(cudaFreeArray(a));
}

void testGather() {
  const int W = 4, H = 4;
  std::vector<float> v(W * H);
  for (int i = 0; i < W * H; ++i)
    v[i] = (float)(i * 10);
  cudaChannelFormatDesc fmt = cudaCreateChannelDesc<float>();
  cudaArray_t a;
  CHECK(cudaMallocArray(&a, &fmt, W, H, cudaArrayTextureGather));
  CHECK(cudaMemcpy2DToArray(a, 0, 0, v.data(), W * 4, W * 4, H, cudaMemcpyHostToDevice));
  cudaTextureObject_t t = arrayTexture(a, texDesc(cudaAddressModeClamp, cudaFilterModePoint, false));
  auto r = run<float2, float4>(gather, t, std::vector<float2>{make_float2(2.0f, 1.0f)});
  // Texels around (2,1): u0=1,u1=2, v0=0,v1=1; order (u0,v1) (u1,v1) (u1,v0) (u0,v0).
  EXPECT(r[0].x == v[1 * W + 1] && r[0].y == v[1 * W + 2] && r[0].z == v[0 * W + 2] && r[0].w == v[0 * W + 1],
         "gather: (%g,%g,%g,%g)", r[0].x, r[0].y, r[0].z, r[0].w);
  CHECK(cudaDestroyTextureObject(t));
  CHECK(cudaFreeArray(a));
}

void testMipmap() {
  const int W = 8, H = 8, LEVELS = 4;
  cudaChannelFormatDesc fmt = cudaCreateChannelDesc<float>();
  cudaMipmappedArray_t m;
  CHECK(cudaMallocMipmappedArray(&m, &fmt, make_cudaExtent(W, H, 0), LEVELS));
  for (int l = 0; l < LEVELS; ++l) {
    cudaArray_t a;
    CHECK(cudaGetMipmappedArrayLevel(&a, m, l));
    int w = W >> l, h = H >> l;
    std::vector<float> v(w * h, 100.0f * l);
    for (int i = 0; i < w * h; ++i)
      v[i] += (float)i;
    CHECK(cudaMemcpy2DToArray(a, 0, 0, v.data(), w * 4, w * 4, h, cudaMemcpyHostToDevice));
  }
  cudaResourceDesc r;
  memset(&r, 0, sizeof r);
  r.resType = cudaResourceTypeMipmappedArray;
  r.res.mipmap.mipmap = m;
  cudaTextureDesc td = texDesc(cudaAddressModeClamp, cudaFilterModePoint, true);
  td.mipmapFilterMode = cudaFilterModePoint;
  td.maxMipmapLevelClamp = LEVELS - 1;
  cudaTextureObject_t t;
  CHECK(cudaCreateTextureObject(&t, &r, &td, nullptr));
  // (0.3, 0.6) at each level, and a LOD past the last level (clamped).
  std::vector<float4> c = {make_float4(0.3f, 0.6f, 0, 0), make_float4(0.3f, 0.6f, 1, 0),
                           make_float4(0.3f, 0.6f, 2, 0), make_float4(0.3f, 0.6f, 3, 0),
                           make_float4(0.3f, 0.6f, 9, 0)};
  auto got = run<float4, float>(sampleLod, t, c);
  for (size_t i = 0; i < c.size(); ++i) {
    int l = (int)c[i].z < LEVELS ? (int)c[i].z : LEVELS - 1;
    int w = W >> l, h = H >> l;
    float want = 100.0f * l + (int)(0.6f * h) * w + (int)(0.3f * w);
    EXPECT(got[i] == want, "tex2DLod level %g: %g, want %g", c[i].z, got[i], want);
  }
  // Gradients of 2^l texels per pixel select level l (isotropic LOD).
  std::vector<float4> g = {make_float4(0.3f, 0.6f, 1.0f / W, 1.0f / H), make_float4(0.3f, 0.6f, 2.0f / W, 0),
                           make_float4(0.3f, 0.6f, 0, 4.0f / H), make_float4(0.3f, 0.6f, 8.0f / W, 8.0f / H)};
  auto gg = run<float4, float>(sampleGrad, t, g);
  for (int l = 0; l < 4; ++l) {
    int w = W >> l, h = H >> l;
    float want = 100.0f * l + (int)(0.6f * h) * w + (int)(0.3f * w);
    EXPECT(gg[l] == want, "tex2DGrad for level %d: %g, want %g", l, gg[l], want);
  }
  CHECK(cudaDestroyTextureObject(t));
  CHECK(cudaFreeMipmappedArray(m));
}

void testCubemap() {
  const int W = 4;
  std::vector<float> v(W * W * 6);
  for (size_t i = 0; i < v.size(); ++i)
    v[i] = 100.0f * (i / (W * W)) + (float)(i % (W * W));
  cudaChannelFormatDesc fmt = cudaCreateChannelDesc<float>();
  cudaArray_t a;
  CHECK(cudaMalloc3DArray(&a, &fmt, make_cudaExtent(W, W, 6), cudaArrayCubemap));
  cudaMemcpy3DParms p;
  memset(&p, 0, sizeof p);
  p.srcPtr = make_cudaPitchedPtr(v.data(), W * sizeof(float), W, W);
  p.dstArray = a;
  p.extent = make_cudaExtent(W, W, 6);
  p.kind = cudaMemcpyHostToDevice;
  CHECK(cudaMemcpy3D(&p));
  cudaTextureObject_t t = arrayTexture(a, texDesc(cudaAddressModeClamp, cudaFilterModePoint, true));
  // Straight along each axis: the centre of each face (texel (2,2)).
  std::vector<float4> c = {make_float4(1, 0, 0, 0), make_float4(-1, 0, 0, 0), make_float4(0, 1, 0, 0),
                           make_float4(0, -1, 0, 0), make_float4(0, 0, 1, 0), make_float4(0, 0, -1, 0),
                           // +x face, s = (-z/x + 1)/2 = 0.125 -> texel 0, t = (-y/x + 1)/2 = 0.875 -> 3
                           make_float4(1, -0.75f, 0.75f, 0)};
  auto got = run<float4, float>(sampleCube, t, c);
  for (int f = 0; f < 6; ++f) {
    float want = 100.0f * f + 2 * W + 2;
    EXPECT(got[f] == want, "cubemap face %d: %g, want %g", f, got[f], want);
  }
  EXPECT(got[6] == 3 * W + 0, "cubemap +x corner: %g, want %d", got[6], 3 * W);
  CHECK(cudaDestroyTextureObject(t));
  CHECK(cudaFreeArray(a));
}

void testInvalid() {
  // Linear filtering of integers read as integers is refused.
  cudaChannelFormatDesc fmt = cudaCreateChannelDesc<int>();
  cudaArray_t a;
  CHECK(cudaMallocArray(&a, &fmt, 4, 4));
  cudaResourceDesc r;
  memset(&r, 0, sizeof r);
  r.resType = cudaResourceTypeArray;
  r.res.array.array = a;
  cudaTextureDesc td = texDesc(cudaAddressModeClamp, cudaFilterModeLinear, false);
  cudaTextureObject_t t = 0;
  EXPECT_ANY_ERR(cudaCreateTextureObject(&t, &r, &td, nullptr));
  (void)cudaGetLastError();
  CHECK(cudaFreeArray(a));
}

int main() {
  test2DArray();
  testUchar4Normalized();
  testLinearFetch();
  testPitch2D();
  test3D();
  testLayered();
  testGather();
  testMipmap();
  testCubemap();
  testInvalid();
  PASSED("texture_object");
  return 0;
}
