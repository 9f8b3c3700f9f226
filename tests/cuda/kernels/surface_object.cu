// Surface objects end to end: surf2Dread/surf2Dwrite on float and uchar4
// arrays, surf3D and layered surfaces, the zero and clamp boundary modes, and
// an out-of-range access in trap mode, which faults the kernel.
#include "check.h"
#include <cstring>
#include <vector>

__global__ void scale2D(cudaSurfaceObject_t s, int w, int h) {
  int x = blockIdx.x * blockDim.x + threadIdx.x, y = blockIdx.y * blockDim.y + threadIdx.y;
  if (x >= w || y >= h)
    return;
  float v = surf2Dread<float>(s, x * 4, y);
  surf2Dwrite(2.0f * v + 1.0f, s, x * 4, y);
}

// Reads around the edges with each boundary mode (x in bytes).
__global__ void edges(cudaSurfaceObject_t s, int w, float *out) {
  out[0] = surf2Dread<float>(s, -4, 0, cudaBoundaryModeZero);
  out[1] = surf2Dread<float>(s, -4, 1, cudaBoundaryModeClamp);
  out[2] = surf2Dread<float>(s, w * 4, 1, cudaBoundaryModeClamp);
  out[3] = surf2Dread<float>(s, 0, 1000, cudaBoundaryModeClamp);
  out[4] = surf2Dread<float>(s, 4, -1, cudaBoundaryModeZero);
  // Dropped: outside, zero mode.
  surf2Dwrite(-1.0f, s, w * 4, 0, cudaBoundaryModeZero);
  surf2Dwrite(-1.0f, s, 0, -3, cudaBoundaryModeZero);
}

__global__ void invertRGBA(cudaSurfaceObject_t s, int w, int h) {
  int x = threadIdx.x, y = threadIdx.y;
  if (x >= w || y >= h)
    return;
  uchar4 c = surf2Dread<uchar4>(s, x * 4, y);
  surf2Dwrite(make_uchar4(255 - c.x, 255 - c.y, 255 - c.z, c.w), s, x * 4, y);
}

__global__ void shift3D(cudaSurfaceObject_t s, int w, int h, int d) {
  int x = threadIdx.x, y = threadIdx.y, z = threadIdx.z;
  if (x >= w || y >= h || z >= d)
    return;
  float4 v = surf3Dread<float4>(s, x * 16, y, z);
  surf3Dwrite(make_float4(v.w, v.x, v.y, v.z + 100.0f * z), s, x * 16, y, z);
}

__global__ void fillLayers(cudaSurfaceObject_t s, int w, int h, int layers) {
  int x = threadIdx.x, y = threadIdx.y, l = threadIdx.z;
  if (x >= w || y >= h || l >= layers)
    return;
  surf2DLayeredwrite((short)(l * 1000 + y * w + x), s, x * 2, y, l);
}

__global__ void trapWrite(cudaSurfaceObject_t s, int w) {
  surf2Dwrite(1.0f, s, (w + 5) * 4, 0, cudaBoundaryModeTrap);
}

cudaSurfaceObject_t surface(cudaArray_t a) {
  cudaResourceDesc r;
  memset(&r, 0, sizeof r);
  r.resType = cudaResourceTypeArray;
  r.res.array.array = a;
  cudaSurfaceObject_t s;
  CHECK(cudaCreateSurfaceObject(&s, &r));
  return s;
}

int main() {
  const int W = 37, H = 19;
  cudaChannelFormatDesc ff = cudaCreateChannelDesc<float>();
  cudaArray_t a;
  CHECK(cudaMallocArray(&a, &ff, W, H, cudaArraySurfaceLoadStore));
  std::vector<float> v(W * H), back(W * H);
  for (int i = 0; i < W * H; ++i)
    v[i] = (float)i;
  CHECK(cudaMemcpy2DToArray(a, 0, 0, v.data(), W * 4, W * 4, H, cudaMemcpyHostToDevice));
  cudaSurfaceObject_t s = surface(a);
  scale2D<<<dim3((W + 15) / 16, (H + 7) / 8), dim3(16, 8)>>>(s, W, H);
  CHECK_LAUNCH();
  CHECK(cudaMemcpy2DFromArray(back.data(), W * 4, a, 0, 0, W * 4, H, cudaMemcpyDeviceToHost));
  for (int i = 0; i < W * H; ++i)
    EXPECT(back[i] == 2.0f * v[i] + 1.0f, "surf2D %d: %g", i, back[i]);

  float *dout;
  CHECK(cudaMalloc(&dout, 8 * sizeof(float)));
  edges<<<1, 1>>>(s, W, dout);
  CHECK_LAUNCH();
  std::vector<float> e(5);
  CHECK(cudaMemcpy(e.data(), dout, 5 * sizeof(float), cudaMemcpyDeviceToHost));
  EXPECT(e[0] == 0.0f, "zero mode, x = -1: %g", e[0]);
  EXPECT(e[1] == back[1 * W + 0], "clamp mode, x = -1: %g, want %g", e[1], back[W]);
  EXPECT(e[2] == back[1 * W + W - 1], "clamp mode, x = w: %g, want %g", e[2], back[2 * W - 1]);
  EXPECT(e[3] == back[(H - 1) * W], "clamp mode, y = 1000: %g, want %g", e[3], back[(H - 1) * W]);
  EXPECT(e[4] == 0.0f, "zero mode, y = -1: %g", e[4]);
  std::vector<float> after(W * H);
  CHECK(cudaMemcpy2DFromArray(after.data(), W * 4, a, 0, 0, W * 4, H, cudaMemcpyDeviceToHost));
  EXPECT(after == back, "out-of-range writes in zero mode changed the surface");

  // A surface needs cudaArraySurfaceLoadStore.
  cudaArray_t plain;
  CHECK(cudaMallocArray(&plain, &ff, 4, 4));
  cudaResourceDesc r;
  memset(&r, 0, sizeof r);
  r.resType = cudaResourceTypeArray;
  r.res.array.array = plain;
  cudaSurfaceObject_t bad;
  EXPECT_ANY_ERR(cudaCreateSurfaceObject(&bad, &r));
  (void)cudaGetLastError();
  CHECK(cudaFreeArray(plain));

  // uchar4
  {
    const int w = 8, h = 4;
    cudaChannelFormatDesc f4 = cudaCreateChannelDesc<uchar4>();
    cudaArray_t c;
    CHECK(cudaMallocArray(&c, &f4, w, h, cudaArraySurfaceLoadStore));
    std::vector<uchar4> px(w * h), out(w * h);
    for (int i = 0; i < w * h; ++i)
      px[i] = make_uchar4(i, 2 * i, 3 * i, 200);
    CHECK(cudaMemcpy2DToArray(c, 0, 0, px.data(), w * 4, w * 4, h, cudaMemcpyHostToDevice));
    cudaSurfaceObject_t sc = surface(c);
    invertRGBA<<<1, dim3(w, h)>>>(sc, w, h);
    CHECK_LAUNCH();
    CHECK(cudaMemcpy2DFromArray(out.data(), w * 4, c, 0, 0, w * 4, h, cudaMemcpyDeviceToHost));
    for (int i = 0; i < w * h; ++i)
      EXPECT(out[i].x == 255 - px[i].x && out[i].y == 255 - px[i].y && out[i].z == 255 - px[i].z &&
                 out[i].w == 200,
             "uchar4 %d: (%d,%d,%d,%d)", i, out[i].x, out[i].y, out[i].z, out[i].w);
    CHECK(cudaDestroySurfaceObject(sc));
    CHECK(cudaFreeArray(c));
  }
  // 3-D float4
  {
    const int w = 4, h = 3, d = 2;
    cudaChannelFormatDesc f4 = cudaCreateChannelDesc<float4>();
    cudaArray_t c;
    CHECK(cudaMalloc3DArray(&c, &f4, make_cudaExtent(w, h, d), cudaArraySurfaceLoadStore));
    std::vector<float4> in(w * h * d), out(w * h * d);
    for (int i = 0; i < w * h * d; ++i)
      in[i] = make_float4(i, i + 0.25f, i + 0.5f, i + 0.75f);
    cudaMemcpy3DParms p;
    memset(&p, 0, sizeof p);
    p.srcPtr = make_cudaPitchedPtr(in.data(), w * sizeof(float4), w, h);
    p.dstArray = c;
    p.extent = make_cudaExtent(w, h, d);
    p.kind = cudaMemcpyHostToDevice;
    CHECK(cudaMemcpy3D(&p));
    cudaSurfaceObject_t sc = surface(c);
    shift3D<<<1, dim3(w, h, d)>>>(sc, w, h, d);
    CHECK_LAUNCH();
    memset(&p, 0, sizeof p);
    p.srcArray = c;
    p.dstPtr = make_cudaPitchedPtr(out.data(), w * sizeof(float4), w, h);
    p.extent = make_cudaExtent(w, h, d);
    p.kind = cudaMemcpyDeviceToHost;
    CHECK(cudaMemcpy3D(&p));
    for (int i = 0; i < w * h * d; ++i) {
      int z = i / (w * h);
      EXPECT(out[i].x == in[i].w && out[i].y == in[i].x && out[i].z == in[i].y &&
                 out[i].w == in[i].z + 100.0f * z,
             "surf3D %d: (%g,%g,%g,%g)", i, out[i].x, out[i].y, out[i].z, out[i].w);
    }
    CHECK(cudaDestroySurfaceObject(sc));
    CHECK(cudaFreeArray(c));
  }
  // Layered 2-D short
  {
    const int w = 5, h = 3, layers = 4;
    cudaChannelFormatDesc fs = cudaCreateChannelDesc<short>();
    cudaArray_t c;
    CHECK(cudaMalloc3DArray(&c, &fs, make_cudaExtent(w, h, layers),
                            cudaArrayLayered | cudaArraySurfaceLoadStore));
    cudaSurfaceObject_t sc = surface(c);
    fillLayers<<<1, dim3(w, h, layers)>>>(sc, w, h, layers);
    CHECK_LAUNCH();
    std::vector<short> out(w * h * layers, -1);
    cudaMemcpy3DParms p;
    memset(&p, 0, sizeof p);
    p.srcArray = c;
    p.dstPtr = make_cudaPitchedPtr(out.data(), w * sizeof(short), w, h);
    p.extent = make_cudaExtent(w, h, layers);
    p.kind = cudaMemcpyDeviceToHost;
    CHECK(cudaMemcpy3D(&p));
    for (int i = 0; i < w * h * layers; ++i) {
      short want = (short)((i / (w * h)) * 1000 + i % (w * h));
      EXPECT(out[i] == want, "layered %d: %d, want %d", i, out[i], want);
    }
    CHECK(cudaDestroySurfaceObject(sc));
    CHECK(cudaFreeArray(c));
  }

  // Trap mode: an out-of-range write faults the kernel (a sticky error).
  trapWrite<<<1, 1>>>(s, W);
  cudaError_t err = cudaDeviceSynchronize();
  EXPECT(err == cudaErrorIllegalAddress || err == cudaErrorLaunchFailure, "trap-mode write: %s",
         cudaGetErrorName(err));
  PASSED("surface_object");
  return 0;
}
