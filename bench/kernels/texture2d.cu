// Bilinear upsampling of a 1024^2 float image to 2048^2 through a texture
// object (normalized coordinates, linear filtering, clamp), against the same
// resampling in C++/OpenMP. On the CPU device every tex2D is a call into
// device_texture.cpp, so this measures the cost of that call per sample.
#include "common.h"
#include <vector>

__global__ void upsample(cudaTextureObject_t t, float *out, int w, int h) {
  int x = blockIdx.x * blockDim.x + threadIdx.x, y = blockIdx.y * blockDim.y + threadIdx.y;
  if (x < w && y < h)
    out[y * w + x] = tex2D<float>(t, (x + 0.5f) / w, (y + 0.5f) / h);
}

static void upsample_cpp(const float *in, int iw, int ih, float *out, int w, int h) {
#pragma omp parallel for schedule(static)
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      float u = (x + 0.5f) / w * iw - 0.5f, v = (y + 0.5f) / h * ih - 0.5f;
      float fu = std::floor(u), fv = std::floor(v), a = u - fu, b = v - fv;
      int i0 = std::min(std::max(int(fu), 0), iw - 1), i1 = std::min(std::max(int(fu) + 1, 0), iw - 1);
      int j0 = std::min(std::max(int(fv), 0), ih - 1), j1 = std::min(std::max(int(fv) + 1, 0), ih - 1);
      out[y * w + x] = (1 - a) * (1 - b) * in[j0 * iw + i0] + a * (1 - b) * in[j0 * iw + i1] +
                       (1 - a) * b * in[j1 * iw + i0] + a * b * in[j1 * iw + i1];
    }
}

int main() {
  const int iw = 1024, ih = 1024, w = 2048, h = 2048;
  std::vector<float> img(iw * ih), ref(w * h), out(w * h);
  for (int i = 0; i < iw * ih; ++i)
    img[i] = float((i * 37) % 1000) * 1e-3f;
  cudaChannelFormatDesc fmt = cudaCreateChannelDesc<float>();
  cudaArray_t a;
  CK(cudaMallocArray(&a, &fmt, iw, ih));
  CK(cudaMemcpy2DToArray(a, 0, 0, img.data(), iw * 4, iw * 4, ih, cudaMemcpyHostToDevice));
  cudaResourceDesc r{};
  r.resType = cudaResourceTypeArray;
  r.res.array.array = a;
  cudaTextureDesc td{};
  td.addressMode[0] = td.addressMode[1] = cudaAddressModeClamp;
  td.filterMode = cudaFilterModeLinear;
  td.normalizedCoords = 1;
  cudaTextureObject_t t;
  CK(cudaCreateTextureObject(&t, &r, &td, nullptr));
  float *dout;
  CK(cudaMalloc(&dout, w * h * sizeof(float)));
  auto cuda = [&] {
    upsample<<<dim3(w / 32, h / 8), dim3(32, 8)>>>(t, dout, w, h);
    CK(cudaDeviceSynchronize());
  };
  auto cpp = [&] { upsample_cpp(img.data(), iw, ih, ref.data(), w, h); };
  cuda();
  cpp();
  CK(cudaMemcpy(out.data(), dout, w * h * sizeof(float), cudaMemcpyDeviceToHost));
  check("texture2d", out.data(), ref.data(), size_t(w) * h, 1e-4f);
  compare("texture2d", 10, cuda, cpp);
  return 0;
}
