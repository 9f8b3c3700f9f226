// CUDA arrays, array copies, and texture/surface object descriptors through
// the driver API.
#include "conformance.h"
#include <cstring>
#include <vector>

namespace {

CUDA_ARRAY3D_DESCRIPTOR desc3D(size_t w, size_t h, size_t d, CUarray_format f, unsigned n,
                               unsigned flags = 0) {
  CUDA_ARRAY3D_DESCRIPTOR a{};
  a.Width = w;
  a.Height = h;
  a.Depth = d;
  a.Format = f;
  a.NumChannels = n;
  a.Flags = flags;
  return a;
}

CUDA_RESOURCE_DESC arrayResource(CUarray a) {
  CUDA_RESOURCE_DESC r{};
  r.resType = CU_RESOURCE_TYPE_ARRAY;
  r.res.array.hArray = a;
  return r;
}

} // namespace

TEST_CASE("arrays: create, descriptors, destroy, bad handles") {
  ContextFixture f;
  CUarray a = nullptr;
  CUDA_ARRAY_DESCRIPTOR d2{};
  d2.Width = 100;
  d2.Height = 7;
  d2.Format = CU_AD_FORMAT_UNSIGNED_INT16;
  d2.NumChannels = 2;
  REQUIRE(cuArrayCreate(&a, &d2) == CUDA_SUCCESS);
  CUDA_ARRAY_DESCRIPTOR g2{};
  CHECK(cuArrayGetDescriptor(&g2, a) == CUDA_SUCCESS);
  CHECK(g2.Width == 100);
  CHECK(g2.Height == 7);
  CHECK(g2.Format == CU_AD_FORMAT_UNSIGNED_INT16);
  CHECK(g2.NumChannels == 2);
  CUDA_ARRAY3D_DESCRIPTOR g3{};
  CHECK(cuArray3DGetDescriptor(&g3, a) == CUDA_SUCCESS);
  CHECK(g3.Depth == 0);
  CHECK(g3.Flags == 0);
  CUDA_ARRAY_MEMORY_REQUIREMENTS req{};
  CHECK(cuArrayGetMemoryRequirements(&req, a, 0) == CUDA_SUCCESS);
  CHECK(req.size >= 100 * 7 * 4);
  CHECK(cuArrayDestroy(a) == CUDA_SUCCESS);
  // A destroyed (or forged) handle is refused.
  CHECK(cuArrayDestroy(a) == CUDA_ERROR_INVALID_HANDLE);
  CHECK(cuArrayGetDescriptor(&g2, a) == CUDA_ERROR_INVALID_HANDLE);
  CHECK(cuArray3DGetDescriptor(&g3, reinterpret_cast<CUarray>(0x1234)) == CUDA_ERROR_INVALID_HANDLE);

  // 3-D, layered and cubemap arrays keep their flags.
  auto d = desc3D(16, 16, 12, CU_AD_FORMAT_FLOAT, 1, CUDA_ARRAY3D_CUBEMAP | CUDA_ARRAY3D_LAYERED);
  REQUIRE(cuArray3DCreate(&a, &d) == CUDA_SUCCESS);
  CHECK(cuArray3DGetDescriptor(&g3, a) == CUDA_SUCCESS);
  CHECK(g3.Depth == 12);
  CHECK(g3.Flags == (CUDA_ARRAY3D_CUBEMAP | CUDA_ARRAY3D_LAYERED));
  // A 2-D descriptor cannot describe it.
  CHECK(cuArrayGetDescriptor(&g2, a) == CUDA_ERROR_INVALID_VALUE);
  CHECK(cuArrayDestroy(a) == CUDA_SUCCESS);
}

TEST_CASE("arrays: invalid descriptors are refused") {
  ContextFixture f;
  CUarray a = nullptr;
  auto bad = [&](CUDA_ARRAY3D_DESCRIPTOR d) { return cuArray3DCreate(&a, &d); };
  CHECK(bad(desc3D(0, 4, 0, CU_AD_FORMAT_FLOAT, 1)) == CUDA_ERROR_INVALID_VALUE);                // no width
  CHECK(bad(desc3D(4, 4, 0, CU_AD_FORMAT_FLOAT, 3)) == CUDA_ERROR_INVALID_VALUE);                // 3 channels
  CHECK(bad(desc3D(4, 4, 0, static_cast<CUarray_format>(0x77), 1)) == CUDA_ERROR_INVALID_VALUE); // format
  CHECK(bad(desc3D(4, 0, 4, CU_AD_FORMAT_FLOAT, 1)) == CUDA_ERROR_INVALID_VALUE); // 1-D with depth
  CHECK(bad(desc3D(4, 5, 6, CU_AD_FORMAT_FLOAT, 1, CUDA_ARRAY3D_CUBEMAP)) ==
        CUDA_ERROR_INVALID_VALUE); // not square
  CHECK(bad(desc3D(4, 4, 5, CU_AD_FORMAT_FLOAT, 1, CUDA_ARRAY3D_CUBEMAP)) ==
        CUDA_ERROR_INVALID_VALUE);                                                        // 5 faces
  CHECK(bad(desc3D(4, 4, 0, CU_AD_FORMAT_FLOAT, 1, 0x8000)) == CUDA_ERROR_INVALID_VALUE); // unknown flag
  CHECK(bad(desc3D(4, 4, 2, CU_AD_FORMAT_FLOAT, 1, CUDA_ARRAY3D_TEXTURE_GATHER)) == CUDA_ERROR_INVALID_VALUE);
  CHECK(bad(desc3D(1u << 20, 4, 0, CU_AD_FORMAT_FLOAT, 1)) == CUDA_ERROR_INVALID_VALUE); // too wide
  CHECK(cuArray3DCreate(nullptr, nullptr) == CUDA_ERROR_INVALID_VALUE);
}

TEST_CASE("arrays: copies in every direction") {
  ContextFixture f;
  const size_t W = 13, H = 5, D = 3;
  auto d = desc3D(W, H, D, CU_AD_FORMAT_UNSIGNED_INT32, 1);
  CUarray a = nullptr, b = nullptr;
  REQUIRE(cuArray3DCreate(&a, &d) == CUDA_SUCCESS);
  REQUIRE(cuArray3DCreate(&b, &d) == CUDA_SUCCESS);
  std::vector<unsigned> host(W * H * D), back(W * H * D, 0);
  for (size_t i = 0; i < host.size(); ++i)
    host[i] = unsigned(i * 2654435761u);
  // Host -> array (3-D), array -> array, array -> device, device -> host.
  CUDA_MEMCPY3D p{};
  p.srcMemoryType = CU_MEMORYTYPE_HOST;
  p.srcHost = host.data();
  p.srcPitch = W * 4;
  p.srcHeight = H;
  p.dstMemoryType = CU_MEMORYTYPE_ARRAY;
  p.dstArray = a;
  p.WidthInBytes = W * 4;
  p.Height = H;
  p.Depth = D;
  CHECK(cuMemcpy3D(&p) == CUDA_SUCCESS);
  CHECK(cuMemcpyAtoA(b, 0, a, 0, W * H * D * 4) == CUDA_SUCCESS);
  CUdeviceptr dev = 0;
  REQUIRE(cuMemAlloc(&dev, W * H * D * 4) == CUDA_SUCCESS);
  CHECK(cuMemcpyAtoD(dev, b, 0, W * H * D * 4) == CUDA_SUCCESS);
  CHECK(cuMemcpyDtoH(back.data(), dev, W * H * D * 4) == CUDA_SUCCESS);
  CHECK(back == host);
  // A 2-D window: rows 1..3, columns 2..6 of slice 0, array -> host.
  CUDA_MEMCPY2D q{};
  q.srcMemoryType = CU_MEMORYTYPE_ARRAY;
  q.srcArray = a;
  q.srcXInBytes = 2 * 4;
  q.srcY = 1;
  q.dstMemoryType = CU_MEMORYTYPE_HOST;
  std::vector<unsigned> win(5 * 3);
  q.dstHost = win.data();
  q.dstPitch = 5 * 4;
  q.WidthInBytes = 5 * 4;
  q.Height = 3;
  CHECK(cuMemcpy2D(&q) == CUDA_SUCCESS);
  bool same = true;
  for (size_t y = 0; y < 3; ++y)
    for (size_t x = 0; x < 5; ++x)
      same = same && win[y * 5 + x] == host[(y + 1) * W + x + 2];
  CHECK(same);
  // Host <-> array, linear with an offset (async on the NULL stream too).
  std::vector<unsigned> small = {1, 2, 3, 4};
  CHECK(cuMemcpyHtoA(a, 8, small.data(), 16) == CUDA_SUCCESS);
  std::vector<unsigned> small2(4);
  CHECK(cuMemcpyAtoHAsync(small2.data(), a, 8, 16, nullptr) == CUDA_SUCCESS);
  CHECK(cuCtxSynchronize() == CUDA_SUCCESS);
  CHECK(small2 == small);
  CHECK(cuMemcpyDtoA(b, 0, dev, 16) == CUDA_SUCCESS);
  CHECK(cuMemcpyAtoH(small2.data(), b, 0, 16) == CUDA_SUCCESS);
  CHECK(small2[0] == host[0]);
  // Out of the array: refused.
  CHECK(cuMemcpyHtoA(a, W * H * D * 4 - 8, small.data(), 16) == CUDA_ERROR_INVALID_VALUE);
  q.srcY = H - 1; // rows H-1..H+1 do not exist
  CHECK(cuMemcpy2D(&q) == CUDA_ERROR_INVALID_VALUE);
  q.srcY = 0;
  q.srcXInBytes = 2; // not a whole element
  CHECK(cuMemcpy2D(&q) == CUDA_ERROR_INVALID_VALUE);
  q.srcXInBytes = 0;
  q.srcArray = reinterpret_cast<CUarray>(0x40);
  CHECK(cuMemcpy2D(&q) == CUDA_ERROR_INVALID_HANDLE);
  CHECK(cuMemFree(dev) == CUDA_SUCCESS);
  CHECK(cuArrayDestroy(a) == CUDA_SUCCESS);
  CHECK(cuArrayDestroy(b) == CUDA_SUCCESS);
}

TEST_CASE("mipmapped arrays: levels") {
  ContextFixture f;
  auto d = desc3D(64, 16, 0, CU_AD_FORMAT_FLOAT, 4);
  CUmipmappedArray m = nullptr;
  CHECK(cuMipmappedArrayCreate(&m, &d, 8) == CUDA_ERROR_INVALID_VALUE); // 64 -> 7 levels at most
  REQUIRE(cuMipmappedArrayCreate(&m, &d, 7) == CUDA_SUCCESS);
  CUarray level = nullptr;
  CUDA_ARRAY3D_DESCRIPTOR g{};
  REQUIRE(cuMipmappedArrayGetLevel(&level, m, 3) == CUDA_SUCCESS);
  CHECK(cuArray3DGetDescriptor(&g, level) == CUDA_SUCCESS);
  CHECK(g.Width == 8);
  CHECK(g.Height == 2);
  REQUIRE(cuMipmappedArrayGetLevel(&level, m, 6) == CUDA_SUCCESS);
  CHECK(cuArray3DGetDescriptor(&g, level) == CUDA_SUCCESS);
  CHECK(g.Width == 1);
  CHECK(g.Height == 1);
  CHECK(cuMipmappedArrayGetLevel(&level, m, 7) == CUDA_ERROR_INVALID_VALUE);
  CHECK(cuMipmappedArrayDestroy(m) == CUDA_SUCCESS);
  CHECK(cuMipmappedArrayDestroy(m) == CUDA_ERROR_INVALID_HANDLE);
  CHECK(cuArray3DGetDescriptor(&g, level) == CUDA_ERROR_INVALID_HANDLE);
}

TEST_CASE("texture objects: descriptors round-trip and are validated") {
  ContextFixture f;
  auto d = desc3D(8, 8, 0, CU_AD_FORMAT_UNSIGNED_INT8, 4);
  CUarray a = nullptr;
  REQUIRE(cuArray3DCreate(&a, &d) == CUDA_SUCCESS);
  CUDA_RESOURCE_DESC r = arrayResource(a);
  CUDA_TEXTURE_DESC t{};
  t.addressMode[0] = t.addressMode[1] = CU_TR_ADDRESS_MODE_WRAP;
  t.filterMode = CU_TR_FILTER_MODE_LINEAR;
  t.flags = CU_TRSF_NORMALIZED_COORDINATES;
  t.borderColor[2] = 0.5f;
  CUtexObject tex = 0;
  REQUIRE(cuTexObjectCreate(&tex, &r, &t, nullptr) == CUDA_SUCCESS);
  CHECK(tex != 0);
  CUDA_RESOURCE_DESC rb{};
  CHECK(cuTexObjectGetResourceDesc(&rb, tex) == CUDA_SUCCESS);
  CHECK(rb.resType == CU_RESOURCE_TYPE_ARRAY);
  CHECK(rb.res.array.hArray == a);
  CUDA_TEXTURE_DESC tb{};
  CHECK(cuTexObjectGetTextureDesc(&tb, tex) == CUDA_SUCCESS);
  CHECK(tb.filterMode == CU_TR_FILTER_MODE_LINEAR);
  CHECK(tb.flags == CU_TRSF_NORMALIZED_COORDINATES);
  CHECK(tb.borderColor[2] == 0.5f);
  CUDA_RESOURCE_VIEW_DESC vb{};
  CHECK(cuTexObjectGetResourceViewDesc(&vb, tex) == CUDA_ERROR_INVALID_VALUE); // created without a view
  CHECK(cuTexObjectDestroy(tex) == CUDA_SUCCESS);
  CHECK(cuTexObjectDestroy(tex) == CUDA_ERROR_INVALID_VALUE);
  CHECK(cuTexObjectGetResourceDesc(&rb, tex) == CUDA_ERROR_INVALID_VALUE);

  // Linear filtering of integers read as integers.
  t.flags = CU_TRSF_READ_AS_INTEGER;
  CHECK(cuTexObjectCreate(&tex, &r, &t, nullptr) == CUDA_ERROR_INVALID_VALUE);
  t.filterMode = CU_TR_FILTER_MODE_POINT;
  t.flags = 0x1000; // unknown flag
  CHECK(cuTexObjectCreate(&tex, &r, &t, nullptr) == CUDA_ERROR_INVALID_VALUE);
  t.flags = CU_TRSF_SEAMLESS_CUBEMAP; // not a cubemap
  CHECK(cuTexObjectCreate(&tex, &r, &t, nullptr) == CUDA_ERROR_INVALID_VALUE);
  t.flags = 0;
  t.addressMode[0] = static_cast<CUaddress_mode>(9);
  CHECK(cuTexObjectCreate(&tex, &r, &t, nullptr) == CUDA_ERROR_INVALID_VALUE);
  t.addressMode[0] = CU_TR_ADDRESS_MODE_CLAMP;
  r.flags = 1;
  CHECK(cuTexObjectCreate(&tex, &r, &t, nullptr) == CUDA_ERROR_INVALID_VALUE);
  r.flags = 0;
  r.res.array.hArray = reinterpret_cast<CUarray>(0x99);
  CHECK(cuTexObjectCreate(&tex, &r, &t, nullptr) == CUDA_ERROR_INVALID_HANDLE);
  CHECK(cuTexObjectCreate(&tex, nullptr, &t, nullptr) == CUDA_ERROR_INVALID_VALUE);

  // Linear and pitch2D memory.
  CUdeviceptr p = 0;
  REQUIRE(cuMemAlloc(&p, 64 * 32) == CUDA_SUCCESS);
  CUDA_RESOURCE_DESC lin{};
  lin.resType = CU_RESOURCE_TYPE_LINEAR;
  lin.res.linear.devPtr = p;
  lin.res.linear.format = CU_AD_FORMAT_FLOAT;
  lin.res.linear.numChannels = 1;
  lin.res.linear.sizeInBytes = 64 * 32;
  CHECK(cuTexObjectCreate(&tex, &lin, &t, nullptr) == CUDA_SUCCESS);
  CHECK(cuTexObjectDestroy(tex) == CUDA_SUCCESS);
  lin.res.linear.sizeInBytes = 64 * 32 + 4; // past the allocation
  CHECK(cuTexObjectCreate(&tex, &lin, &t, nullptr) == CUDA_ERROR_INVALID_VALUE);
  CUDA_RESOURCE_DESC pitch{};
  pitch.resType = CU_RESOURCE_TYPE_PITCH2D;
  pitch.res.pitch2D.devPtr = p;
  pitch.res.pitch2D.format = CU_AD_FORMAT_FLOAT;
  pitch.res.pitch2D.numChannels = 1;
  pitch.res.pitch2D.width = 10;
  pitch.res.pitch2D.height = 32;
  pitch.res.pitch2D.pitchInBytes = 64;
  CHECK(cuTexObjectCreate(&tex, &pitch, &t, nullptr) == CUDA_SUCCESS);
  CHECK(cuTexObjectDestroy(tex) == CUDA_SUCCESS);
  pitch.res.pitch2D.pitchInBytes = 36; // shorter than a row, and misaligned
  CHECK(cuTexObjectCreate(&tex, &pitch, &t, nullptr) == CUDA_ERROR_INVALID_VALUE);
  CHECK(cuMemFree(p) == CUDA_SUCCESS);

  // Surfaces need an array created for load/store.
  CUsurfObject s = 0;
  r.res.array.hArray = a;
  CHECK(cuSurfObjectCreate(&s, &r) == CUDA_ERROR_INVALID_VALUE);
  auto ds = desc3D(8, 8, 0, CU_AD_FORMAT_FLOAT, 1, CUDA_ARRAY3D_SURFACE_LDST);
  CUarray sa = nullptr;
  REQUIRE(cuArray3DCreate(&sa, &ds) == CUDA_SUCCESS);
  CUDA_RESOURCE_DESC rs = arrayResource(sa);
  REQUIRE(cuSurfObjectCreate(&s, &rs) == CUDA_SUCCESS);
  CHECK(cuSurfObjectGetResourceDesc(&rb, s) == CUDA_SUCCESS);
  CHECK(rb.res.array.hArray == sa);
  CHECK(cuTexObjectDestroy(s) == CUDA_ERROR_INVALID_VALUE); // a surface is not a texture
  CHECK(cuSurfObjectDestroy(s) == CUDA_SUCCESS);
  CHECK(cuSurfObjectCreate(&s, &lin) == CUDA_ERROR_INVALID_VALUE); // surfaces are arrays only
  CHECK(cuArrayDestroy(sa) == CUDA_SUCCESS);
  CHECK(cuArrayDestroy(a) == CUDA_SUCCESS);
}

TEST_CASE("texture objects: resource views select levels and layers") {
  ContextFixture f;
  auto d = desc3D(8, 8, 4, CU_AD_FORMAT_FLOAT, 1, CUDA_ARRAY3D_LAYERED);
  CUarray a = nullptr;
  REQUIRE(cuArray3DCreate(&a, &d) == CUDA_SUCCESS);
  CUDA_RESOURCE_DESC r = arrayResource(a);
  CUDA_TEXTURE_DESC t{};
  CUDA_RESOURCE_VIEW_DESC v{};
  v.width = 8;
  v.height = 8;
  v.firstLayer = 1;
  v.lastLayer = 2;
  CUtexObject tex = 0;
  REQUIRE(cuTexObjectCreate(&tex, &r, &t, &v) == CUDA_SUCCESS);
  CUDA_RESOURCE_VIEW_DESC vb{};
  CHECK(cuTexObjectGetResourceViewDesc(&vb, tex) == CUDA_SUCCESS);
  CHECK(vb.firstLayer == 1);
  CHECK(vb.lastLayer == 2);
  CHECK(cuTexObjectDestroy(tex) == CUDA_SUCCESS);
  v.lastLayer = 4; // only 4 layers
  CHECK(cuTexObjectCreate(&tex, &r, &t, &v) == CUDA_ERROR_INVALID_VALUE);
  v.lastLayer = 2;
  v.width = 4; // a view keeps the extent
  CHECK(cuTexObjectCreate(&tex, &r, &t, &v) == CUDA_ERROR_INVALID_VALUE);
  CHECK(cuArrayDestroy(a) == CUDA_SUCCESS);
}
