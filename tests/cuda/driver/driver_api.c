/* The CUDA driver API from plain C, linked directly against cuvirt's
 * libcuda.so.1: initialisation, devices, contexts, memory, streams, events,
 * PTX modules, errors, cuGetProcAddress.
 *
 * Without arguments no kernel is launched (suite 'e2e'). With --launch the
 * PTX kernel is also run through cuLaunchKernel (suite 'kernels'). */
#include "check.h"
#include <stdint.h>
#include <string.h>

static const char kPtx[] =
    ".version 9.0\n"
    ".target sm_75\n"
    ".address_size 64\n"
    "\n"
    ".global .align 4 .u32 gvar = 1234;\n"
    ".global .align 4 .b8 gtable[16] = {0, 0, 128, 63, 0, 0, 0, 64, 0, 0, 64, 64, 0, 0, 128, 64};\n"
    "\n"
    ".visible .entry scale(\n"
    "\t.param .u64 scale_param_0,\n"
    "\t.param .f32 scale_param_1,\n"
    "\t.param .u32 scale_param_2\n"
    ")\n"
    "{\n"
    "\t.reg .pred \t%p<2>;\n"
    "\t.reg .f32 \t%f<7>;\n"
    "\t.reg .b32 \t%r<8>;\n"
    "\t.reg .b64 \t%rd<9>;\n"
    "\n"
    "\tld.param.u64 \t%rd1, [scale_param_0];\n"
    "\tld.param.f32 \t%f1, [scale_param_1];\n"
    "\tld.param.u32 \t%r2, [scale_param_2];\n"
    "\tmov.u32 \t%r3, %ctaid.x;\n"
    "\tmov.u32 \t%r4, %ntid.x;\n"
    "\tmov.u32 \t%r5, %tid.x;\n"
    "\tmad.lo.s32 \t%r1, %r3, %r4, %r5;\n"
    "\tsetp.ge.s32 \t%p1, %r1, %r2;\n"
    "\t@%p1 bra \t$L__BB0_2;\n"
    "\n"
    "\tcvta.to.global.u64 \t%rd2, %rd1;\n"
    "\tmul.wide.s32 \t%rd3, %r1, 4;\n"
    "\tadd.s64 \t%rd4, %rd2, %rd3;\n"
    "\tld.global.f32 \t%f2, [%rd4];\n"
    "\tshl.b32 \t%r6, %r1, 2;\n"
    "\tcvt.u64.u32 \t%rd5, %r6;\n"
    "\tand.b64  \t%rd6, %rd5, 12;\n"
    "\tmov.u64 \t%rd7, gtable;\n"
    "\tadd.s64 \t%rd8, %rd7, %rd6;\n"
    "\tld.global.f32 \t%f3, [%rd8];\n"
    "\tfma.rn.f32 \t%f4, %f2, %f1, %f3;\n"
    "\tld.global.u32 \t%r7, [gvar];\n"
    "\tcvt.rn.f32.s32 \t%f5, %r7;\n"
    "\tadd.f32 \t%f6, %f4, %f5;\n"
    "\tst.global.f32 \t[%rd4], %f6;\n"
    "\n"
    "$L__BB0_2:\n"
    "\tret;\n"
    "\n"
    "}\n";

static CUdevice dev;

static void before_init(void) {
  int v = 0;
  CU_CHECK(cuDriverGetVersion(&v));
  EXPECT(v >= 13000, "cuDriverGetVersion = %d", v);
  int count = 0;
  CU_EXPECT_ERR(cuDeviceGetCount(&count), CUDA_ERROR_NOT_INITIALIZED);
  const char *s = NULL;
  CU_CHECK(cuGetErrorName(CUDA_ERROR_INVALID_VALUE, &s)); /* works before cuInit */
  EXPECT(s && strcmp(s, "CUDA_ERROR_INVALID_VALUE") == 0, "cuGetErrorName = %s", s ? s : "(null)");
}

static void devices(void) {
  int count = 0;
  CU_CHECK(cuDeviceGetCount(&count));
  EXPECT(count >= 1, "cuDeviceGetCount = %d", count);
  CU_CHECK(cuDeviceGet(&dev, 0));
  CUdevice bad;
  CU_EXPECT_ERR(cuDeviceGet(&bad, count), CUDA_ERROR_INVALID_DEVICE);
  CU_EXPECT_ERR(cuDeviceGet(&bad, 99), CUDA_ERROR_INVALID_DEVICE);

  char name[256];
  memset(name, 0, sizeof name);
  CU_CHECK(cuDeviceGetName(name, sizeof name, dev));
  printf("device 0: %s\n", name);
  EXPECT(strncmp(name, "cuvirt", 6) == 0, "device name '%s' does not start with 'cuvirt'", name);
  char shortname[4];
  CU_CHECK(cuDeviceGetName(shortname, sizeof shortname, dev));
  EXPECT(memchr(shortname, 0, sizeof shortname) != NULL,
         "cuDeviceGetName overflowed a 4-byte buffer unterminated");

  size_t total = 0;
  CU_CHECK(cuDeviceTotalMem(&total, dev));
  EXPECT(total > 0, "cuDeviceTotalMem = %zu", total);

  struct {
    CUdevice_attribute a;
    int lo, hi;
    const char *name;
  } attrs[] = {
      {CU_DEVICE_ATTRIBUTE_WARP_SIZE, 32, 32, "WARP_SIZE"},
      {CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK, 1024, 1024, "MAX_THREADS_PER_BLOCK"},
      {CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, 7, 100, "COMPUTE_CAPABILITY_MAJOR"},
      {CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, 0, 9, "COMPUTE_CAPABILITY_MINOR"},
      {CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, 1, 1 << 20, "MULTIPROCESSOR_COUNT"},
      {CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK, 48 * 1024, 1 << 30, "MAX_SHARED_MEMORY_PER_BLOCK"},
      {CU_DEVICE_ATTRIBUTE_UNIFIED_ADDRESSING, 1, 1, "UNIFIED_ADDRESSING"},
      {CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_X, 1024, 1024, "MAX_BLOCK_DIM_X"},
      {CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_X, 65535, 0x7fffffff, "MAX_GRID_DIM_X"},
      {CU_DEVICE_ATTRIBUTE_TOTAL_CONSTANT_MEMORY, 64 * 1024, 0x7fffffff, "TOTAL_CONSTANT_MEMORY"},
      {CU_DEVICE_ATTRIBUTE_CAN_MAP_HOST_MEMORY, 1, 1, "CAN_MAP_HOST_MEMORY"},
  };
  for (size_t i = 0; i < sizeof attrs / sizeof attrs[0]; ++i) {
    int v = -12345;
    CU_CHECK(cuDeviceGetAttribute(&v, attrs[i].a, dev));
    EXPECT(v >= attrs[i].lo && v <= attrs[i].hi, "CU_DEVICE_ATTRIBUTE_%s = %d, want %d..%d", attrs[i].name, v,
           attrs[i].lo, attrs[i].hi);
  }
  int v;
  CU_EXPECT_ERR(cuDeviceGetAttribute(&v, CU_DEVICE_ATTRIBUTE_WARP_SIZE, count), CUDA_ERROR_INVALID_DEVICE);
  CU_EXPECT_ERR(cuDeviceGetAttribute(&v, (CUdevice_attribute)100000, dev), CUDA_ERROR_INVALID_VALUE);

  CUuuid u1, u2;
  CU_CHECK(cuDeviceGetUuid(&u1, dev));
  CU_CHECK(cuDeviceGetUuid(&u2, dev));
  EXPECT(memcmp(&u1, &u2, sizeof u1) == 0, "UUID not stable");
}

static void contexts(void) {
  CUcontext cur = (CUcontext)0x1;
  CU_CHECK(cuCtxGetCurrent(&cur));
  EXPECT(cur == NULL, "a context (%p) is current before any was created", (void *)cur);

  CUcontext a = NULL, b = NULL, popped = NULL;
  CU_CHECK(cuCtxCreate(&a, NULL, 0, dev));
  EXPECT(a != NULL, "cuCtxCreate gave null");
  CU_CHECK(cuCtxGetCurrent(&cur));
  EXPECT(cur == a, "new context is not current");
  CUdevice d = -1;
  CU_CHECK(cuCtxGetDevice(&d));
  EXPECT(d == dev, "cuCtxGetDevice = %d", d);
  unsigned ver = 0;
  CU_CHECK(cuCtxGetApiVersion(a, &ver));
  EXPECT(ver >= 3020, "cuCtxGetApiVersion = %u", ver);

  CU_CHECK(cuCtxCreate(&b, NULL, 0, dev)); /* pushed on top of a */
  EXPECT(b != a, "two contexts share a handle");
  CU_CHECK(cuCtxGetCurrent(&cur));
  EXPECT(cur == b, "second context is not current");
  CU_CHECK(cuCtxPopCurrent(&popped));
  EXPECT(popped == b, "popped %p, want b %p", (void *)popped, (void *)b);
  CU_CHECK(cuCtxGetCurrent(&cur));
  EXPECT(cur == a, "after pop, current %p, want a %p", (void *)cur, (void *)a);
  CU_CHECK(cuCtxPushCurrent(b));
  CU_CHECK(cuCtxGetCurrent(&cur));
  EXPECT(cur == b, "after push, current is not b");
  CU_CHECK(cuCtxPopCurrent(&popped));
  CU_CHECK(cuCtxDestroy(b));
  CU_CHECK(cuCtxPopCurrent(&popped));
  EXPECT(popped == a, "popped %p, want a %p", (void *)popped, (void *)a);
  CU_CHECK(cuCtxGetCurrent(&cur));
  EXPECT(cur == NULL, "stack should be empty, current %p", (void *)cur);
  CUdeviceptr p;
  CU_EXPECT_ERR(cuMemAlloc(&p, 16), CUDA_ERROR_INVALID_CONTEXT); /* no current context */
  CU_CHECK(cuCtxPushCurrent(a));
  CU_CHECK(cuCtxSynchronize());
  CU_CHECK(cuCtxDestroy(a));
  CU_CHECK(cuCtxGetCurrent(&cur));
  EXPECT(cur == NULL, "destroyed context still current");

  /* Primary context. */
  unsigned flags = 99;
  int active = -1;
  CU_CHECK(cuDevicePrimaryCtxGetState(dev, &flags, &active));
  EXPECT(active == 0, "primary context active before retain");
  CUcontext prim = NULL, prim2 = NULL;
  CU_CHECK(cuDevicePrimaryCtxRetain(&prim, dev));
  CU_CHECK(cuDevicePrimaryCtxRetain(&prim2, dev));
  EXPECT(prim && prim == prim2, "primary context not unique: %p %p", (void *)prim, (void *)prim2);
  CU_CHECK(cuDevicePrimaryCtxGetState(dev, &flags, &active));
  EXPECT(active == 1, "primary context not active after retain");
  CU_CHECK(cuDevicePrimaryCtxRelease(dev));
  CU_CHECK(cuDevicePrimaryCtxGetState(dev, &flags, &active));
  EXPECT(active == 1, "primary context inactive while still retained once");
  CU_CHECK(cuDevicePrimaryCtxRelease(dev));
  CU_CHECK(cuDevicePrimaryCtxGetState(dev, &flags, &active));
  EXPECT(active == 0, "primary context still active after the last release");
}

static void memory(void) {
  const size_t n = 1 << 16;
  CUdeviceptr d = 0, d2 = 0;
  CU_CHECK(cuMemAlloc(&d, n));
  CU_CHECK(cuMemAlloc(&d2, n));
  EXPECT(d != 0 && d2 != 0 && d != d2, "cuMemAlloc gave %llx %llx", (unsigned long long)d,
         (unsigned long long)d2);
  unsigned char *h = NULL;
  CU_CHECK(cuMemAllocHost((void **)&h, n));
  for (size_t i = 0; i < n; ++i)
    h[i] = (unsigned char)(i * 31);
  CU_CHECK(cuMemcpyHtoD(d, h, n));
  CU_CHECK(cuMemcpyDtoD(d2, d, n));
  memset(h, 0, n);
  CU_CHECK(cuMemcpyDtoH(h, d2, n));
  for (size_t i = 0; i < n; ++i)
    EXPECT(h[i] == (unsigned char)(i * 31), "round trip byte %zu", i);

  CU_CHECK(cuMemsetD8(d, 0xAB, n));
  CU_CHECK(cuMemcpyDtoH(h, d, n));
  for (size_t i = 0; i < n; ++i)
    EXPECT(h[i] == 0xAB, "cuMemsetD8 byte %zu = 0x%02x", i, h[i]);
  CU_CHECK(cuMemsetD16(d + 2, 0xBEEF, 100));
  CU_CHECK(cuMemsetD32(d + 256, 0xDEADBEEF, 50));
  CU_CHECK(cuMemcpyDtoH(h, d, 512));
  {
    uint16_t s16[100];
    uint32_t s32[50];
    memcpy(s16, h + 2, sizeof s16);
    memcpy(s32, h + 256, sizeof s32);
    for (int i = 0; i < 100 && 2 + 2 * i < 256; ++i)
      EXPECT(s16[i] == 0xBEEF, "cuMemsetD16 [%d] = 0x%x", i, s16[i]);
    for (int i = 0; i < 50; ++i)
      EXPECT(s32[i] == 0xDEADBEEFu, "cuMemsetD32 [%d] = 0x%x", i, s32[i]);
    EXPECT(h[0] == 0xAB && h[1] == 0xAB && h[202] == 0xAB, "cuMemsetD16 wrote outside its range");
    EXPECT(h[456] == 0xAB, "cuMemsetD32 wrote outside its range");
  }

  /* Pointer attributes. */
  unsigned mt = 0;
  CU_CHECK(cuPointerGetAttribute(&mt, CU_POINTER_ATTRIBUTE_MEMORY_TYPE, d + 10));
  EXPECT(mt == CU_MEMORYTYPE_DEVICE, "device pointer memory type %u", mt);
  CUdeviceptr start = 0;
  size_t size = 0;
  CU_CHECK(cuPointerGetAttribute(&start, CU_POINTER_ATTRIBUTE_RANGE_START_ADDR, d + 10));
  CU_CHECK(cuPointerGetAttribute(&size, CU_POINTER_ATTRIBUTE_RANGE_SIZE, d + 10));
  EXPECT(start == d && size >= n, "range start %llx size %zu, want %llx, >= %zu", (unsigned long long)start,
         size, (unsigned long long)d, n);
  CUcontext ctx = NULL, cur = NULL;
  CU_CHECK(cuPointerGetAttribute(&ctx, CU_POINTER_ATTRIBUTE_CONTEXT, d));
  CU_CHECK(cuCtxGetCurrent(&cur));
  EXPECT(ctx == cur, "pointer context %p, current %p", (void *)ctx, (void *)cur);
  CU_CHECK(cuPointerGetAttribute(&mt, CU_POINTER_ATTRIBUTE_MEMORY_TYPE, (CUdeviceptr)(uintptr_t)h));
  EXPECT(mt == CU_MEMORYTYPE_HOST, "cuMemAllocHost pointer memory type %u", mt);
  void *hp = NULL;
  CU_CHECK(cuPointerGetAttribute(&hp, CU_POINTER_ATTRIBUTE_HOST_POINTER, (CUdeviceptr)(uintptr_t)h));
  EXPECT(hp == h, "host pointer attribute %p, want %p", hp, (void *)h);
  {
    CUpointer_attribute which[3] = {CU_POINTER_ATTRIBUTE_MEMORY_TYPE, CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL,
                                    CU_POINTER_ATTRIBUTE_IS_MANAGED};
    unsigned type = 0;
    int ordinal = -1;
    int managed = -1; /* bool attribute: only the first byte is defined */
    void *data[3] = {&type, &ordinal, &managed};
    managed = 0;
    CU_CHECK(cuPointerGetAttributes(3, which, data, d2));
    EXPECT(type == CU_MEMORYTYPE_DEVICE && ordinal == 0 && (managed & 0xff) == 0,
           "cuPointerGetAttributes: type %u ordinal %d managed %d", type, ordinal, managed & 0xff);
  }
  int local = 0;
  CU_EXPECT_ERR(cuPointerGetAttribute(&mt, CU_POINTER_ATTRIBUTE_MEMORY_TYPE, (CUdeviceptr)(uintptr_t)&local),
                CUDA_ERROR_INVALID_VALUE);

  size_t free_b = 0, total_b = 0;
  CU_CHECK(cuMemGetInfo(&free_b, &total_b));
  EXPECT(free_b <= total_b && total_b > 0, "cuMemGetInfo free %zu total %zu", free_b, total_b);

  /* Streams and events. */
  CUstream s = NULL;
  CU_CHECK(cuStreamCreate(&s, CU_STREAM_NON_BLOCKING));
  CUevent e0, e1;
  CU_CHECK(cuEventCreate(&e0, CU_EVENT_DEFAULT));
  CU_CHECK(cuEventCreate(&e1, CU_EVENT_DEFAULT));
  for (size_t i = 0; i < n; ++i)
    h[i] = (unsigned char)(i ^ 0x5A);
  CU_CHECK(cuEventRecord(e0, s));
  CU_CHECK(cuMemcpyHtoDAsync(d, h, n, s));
  CU_CHECK(cuMemsetD8Async(d, 0x11, 8, s));
  CU_CHECK(cuMemcpyDtoDAsync(d2, d, n, s));
  CU_CHECK(cuEventRecord(e1, s));
  CU_CHECK(cuStreamSynchronize(s));
  CU_CHECK(cuEventQuery(e1));
  CU_CHECK(cuEventSynchronize(e1));
  float ms = -1;
  CU_CHECK(cuEventElapsedTime(&ms, e0, e1));
  EXPECT(ms >= 0, "cuEventElapsedTime = %f", ms);
  CU_CHECK(cuStreamQuery(s));
  memset(h, 0, n);
  CU_CHECK(cuMemcpyDtoH(h, d2, n));
  for (size_t i = 0; i < n; ++i) {
    unsigned char want = i < 8 ? 0x11 : (unsigned char)(i ^ 0x5A);
    EXPECT(h[i] == want, "async copies byte %zu = 0x%02x, want 0x%02x", i, h[i], want);
  }
  CU_CHECK(cuEventDestroy(e0));
  CU_CHECK(cuEventDestroy(e1));
  CU_CHECK(cuStreamDestroy(s));

  CU_CHECK(cuMemFreeHost(h));
  CU_CHECK(cuMemFree(d));
  CU_CHECK(cuMemFree(d2));
  CU_EXPECT_ERR(cuMemAlloc(&d, (size_t)1 << 50), CUDA_ERROR_OUT_OF_MEMORY);
}

static void modules(int launch) {
  CUmodule mod = NULL;
  CU_CHECK(cuModuleLoadData(&mod, kPtx));
  CUfunction f = NULL;
  CU_CHECK(cuModuleGetFunction(&f, mod, "scale"));
  EXPECT(f != NULL, "null function");
  CUfunction nf;
  CU_EXPECT_ERR(cuModuleGetFunction(&nf, mod, "no_such_kernel"), CUDA_ERROR_NOT_FOUND);

  int regs = -1, maxt = -1, shared = -1, local = -1, ptxv = -1, binv = -1, major = 0, minor = 0;
  CU_CHECK(cuFuncGetAttribute(&regs, CU_FUNC_ATTRIBUTE_NUM_REGS, f));
  CU_CHECK(cuFuncGetAttribute(&maxt, CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK, f));
  CU_CHECK(cuFuncGetAttribute(&shared, CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES, f));
  CU_CHECK(cuFuncGetAttribute(&local, CU_FUNC_ATTRIBUTE_LOCAL_SIZE_BYTES, f));
  CU_CHECK(cuFuncGetAttribute(&ptxv, CU_FUNC_ATTRIBUTE_PTX_VERSION, f));
  CU_CHECK(cuFuncGetAttribute(&binv, CU_FUNC_ATTRIBUTE_BINARY_VERSION, f));
  CU_CHECK(cuDeviceGetAttribute(&major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, dev));
  CU_CHECK(cuDeviceGetAttribute(&minor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, dev));
  printf("scale: %d regs, max %d threads, %d shared, %d local, ptx version %d, binary version %d\n", regs,
         maxt, shared, local, ptxv, binv);
  EXPECT(regs >= 0 && regs <= 255, "NUM_REGS %d", regs);
  EXPECT(maxt >= 1 && maxt <= 1024, "MAX_THREADS_PER_BLOCK %d", maxt);
  EXPECT(shared == 0, "SHARED_SIZE_BYTES %d", shared);
  EXPECT(local >= 0, "LOCAL_SIZE_BYTES %d", local);
  /* PTX_VERSION: the virtual architecture the PTX targets (.target sm_75);
   * BINARY_VERSION: the architecture it was JIT-compiled for (the device's). */
  EXPECT(ptxv == 75, "PTX_VERSION %d, want 75 (.target sm_75)", ptxv);
  EXPECT(binv == major * 10 + minor, "BINARY_VERSION %d, want the device's %d", binv, major * 10 + minor);

  CUdeviceptr g = 0;
  size_t bytes = 0;
  CU_CHECK(cuModuleGetGlobal(&g, &bytes, mod, "gvar"));
  EXPECT(g != 0 && bytes == 4, "gvar at %llx, %zu bytes", (unsigned long long)g, bytes);
  int gv = 0;
  CU_CHECK(cuMemcpyDtoH(&gv, g, sizeof gv));
  EXPECT(gv == 1234, "gvar = %d, want 1234", gv);
  CUdeviceptr t = 0;
  CU_CHECK(cuModuleGetGlobal(&t, &bytes, mod, "gtable"));
  EXPECT(t != 0 && bytes == 16, "gtable %zu bytes", bytes);
  float tv[4] = {0};
  CU_CHECK(cuMemcpyDtoH(tv, t, sizeof tv));
  EXPECT(tv[0] == 1.f && tv[1] == 2.f && tv[2] == 3.f && tv[3] == 4.f, "gtable = %g %g %g %g", tv[0], tv[1],
         tv[2], tv[3]);
  CU_CHECK(cuModuleGetGlobal(&g, NULL, mod, "gvar")); /* either out pointer may be null */
  CU_EXPECT_ERR(cuModuleGetGlobal(&g, &bytes, mod, "no_such_global"), CUDA_ERROR_NOT_FOUND);

  if (launch) {
    const int n = 1000;
    CUdeviceptr x;
    float hx[1000];
    for (int i = 0; i < n; ++i)
      hx[i] = (float)i;
    CU_CHECK(cuMemAlloc(&x, n * sizeof(float)));
    CU_CHECK(cuMemcpyHtoD(x, hx, sizeof hx));
    float a = 2.0f;
    int nn = n;
    void *args[] = {&x, &a, &nn};
    CU_CHECK(cuLaunchKernel(f, (n + 127) / 128, 1, 1, 128, 1, 1, 0, NULL, args, NULL));
    CU_CHECK(cuCtxSynchronize());
    CU_CHECK(cuMemcpyDtoH(hx, x, sizeof hx));
    for (int i = 0; i < n; ++i) {
      float want = 2.0f * i + (float)((i & 3) + 1) + 1234.0f;
      EXPECT(hx[i] == want, "scale[%d] = %g, want %g", i, hx[i], want);
    }
    CU_CHECK(cuMemFree(x));
    printf("launched scale through cuLaunchKernel\n");
  }
  CU_CHECK(cuModuleUnload(mod));

  /* Bad images. */
  static const unsigned char garbage[64] = {0xde, 0xad, 0xbe, 0xef, 0x01, 0x02,
                                            0x03, 0x04, 0x7f, 0x80, 0x90, 0xa0};
  CU_EXPECT_ERR(cuModuleLoadData(&mod, garbage), CUDA_ERROR_INVALID_IMAGE);
  static const char bad_ptx[] =
      ".version 9.0\n.target sm_75\n.address_size 64\n.visible .entry broken( { this is not ptx ; }\n";
  CU_EXPECT_ERR(cuModuleLoadData(&mod, bad_ptx), CUDA_ERROR_INVALID_PTX);
  CUresult r = cuModuleLoadData(&mod, "hello, not a module at all");
  EXPECT(r == CUDA_ERROR_INVALID_PTX || r == CUDA_ERROR_INVALID_IMAGE,
         "cuModuleLoadData(plain text) = %s (%d), want CUDA_ERROR_INVALID_PTX or CUDA_ERROR_INVALID_IMAGE",
         cuvirt_test_cu_name(r), (int)r);
}

static void error_names(void) {
  struct {
    CUresult r;
    const char *name;
  } names[] = {
      {CUDA_SUCCESS, "CUDA_SUCCESS"},
      {CUDA_ERROR_INVALID_VALUE, "CUDA_ERROR_INVALID_VALUE"},
      {CUDA_ERROR_OUT_OF_MEMORY, "CUDA_ERROR_OUT_OF_MEMORY"},
      {CUDA_ERROR_NOT_INITIALIZED, "CUDA_ERROR_NOT_INITIALIZED"},
      {CUDA_ERROR_INVALID_IMAGE, "CUDA_ERROR_INVALID_IMAGE"},
      {CUDA_ERROR_INVALID_PTX, "CUDA_ERROR_INVALID_PTX"},
      {CUDA_ERROR_ILLEGAL_ADDRESS, "CUDA_ERROR_ILLEGAL_ADDRESS"},
      {CUDA_ERROR_NOT_FOUND, "CUDA_ERROR_NOT_FOUND"},
      {CUDA_ERROR_ASSERT, "CUDA_ERROR_ASSERT"},
      {CUDA_ERROR_NOT_SUPPORTED, "CUDA_ERROR_NOT_SUPPORTED"},
  };
  for (size_t i = 0; i < sizeof names / sizeof names[0]; ++i) {
    const char *s = NULL, *desc = NULL;
    CU_CHECK(cuGetErrorName(names[i].r, &s));
    EXPECT(s && strcmp(s, names[i].name) == 0, "cuGetErrorName(%d) = %s, want %s", (int)names[i].r,
           s ? s : "(null)", names[i].name);
    CU_CHECK(cuGetErrorString(names[i].r, &desc));
    EXPECT(desc && strlen(desc) > 0, "cuGetErrorString(%s) empty", names[i].name);
  }
  const char *s = "untouched";
  CU_EXPECT_ERR(cuGetErrorName((CUresult)987654, &s), CUDA_ERROR_INVALID_VALUE);
  EXPECT(s == NULL, "cuGetErrorName(unknown) left *pStr = %s, want NULL", s ? s : "");
  s = "untouched";
  CU_EXPECT_ERR(cuGetErrorString((CUresult)987654, &s), CUDA_ERROR_INVALID_VALUE);
  EXPECT(s == NULL, "cuGetErrorString(unknown) left *pStr non-null");
}

typedef CUresult (*PFN_init)(unsigned);
typedef CUresult (*PFN_memAlloc)(CUdeviceptr *, size_t);
typedef CUresult (*PFN_memFree)(CUdeviceptr);
typedef CUresult (*PFN_ctxGetDevice_v1)(CUdevice *);
typedef CUresult (*PFN_ctxGetDevice_v2)(CUdevice *, CUcontext);
typedef CUresult (*PFN_streamSync)(CUstream);

static void proc_address(void) {
  void *p = NULL;
  CUdriverProcAddressQueryResult st = (CUdriverProcAddressQueryResult)-1;
  CU_CHECK(cuGetProcAddress("cuInit", &p, 2000, CU_GET_PROC_ADDRESS_DEFAULT, &st));
  EXPECT(p != NULL && st == CU_GET_PROC_ADDRESS_SUCCESS, "cuInit@2000: %p status %d", p, (int)st);
  CU_CHECK(((PFN_init)p)(0));

  CU_CHECK(cuGetProcAddress("cuMemAlloc", &p, 3020, CU_GET_PROC_ADDRESS_DEFAULT, &st));
  EXPECT(p != NULL && st == CU_GET_PROC_ADDRESS_SUCCESS, "cuMemAlloc@3020: status %d", (int)st);
  void *pf = NULL;
  CU_CHECK(cuGetProcAddress("cuMemFree", &pf, 3020, CU_GET_PROC_ADDRESS_DEFAULT, &st));
  CUdeviceptr d = 0;
  CU_CHECK(((PFN_memAlloc)p)(&d, 4096)); /* the _v2 ABI: size_t bytes */
  EXPECT(d != 0, "cuMemAlloc via proc address gave 0");
  CU_CHECK(((PFN_memFree)pf)(d));

  /* The version picks the ABI: cuCtxGetDevice@13000 is (CUdevice*, CUcontext). */
  CUcontext cur = NULL;
  CU_CHECK(cuCtxGetCurrent(&cur));
  CU_CHECK(cuGetProcAddress("cuCtxGetDevice", &p, 12000, CU_GET_PROC_ADDRESS_DEFAULT, &st));
  CUdevice dv = -1;
  CU_CHECK(((PFN_ctxGetDevice_v1)p)(&dv));
  EXPECT(dv == dev, "cuCtxGetDevice@12000 = %d", dv);
  CU_CHECK(cuGetProcAddress("cuCtxGetDevice", &p, 13000, CU_GET_PROC_ADDRESS_DEFAULT, &st));
  dv = -1;
  CU_CHECK(((PFN_ctxGetDevice_v2)p)(&dv, cur));
  EXPECT(dv == dev, "cuCtxGetDevice@13000(ctx) = %d", dv);

  CU_CHECK(
      cuGetProcAddress("cuStreamSynchronize", &p, 2000, CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM, &st));
  EXPECT(p != NULL && st == CU_GET_PROC_ADDRESS_SUCCESS, "cuStreamSynchronize (ptsz): status %d", (int)st);
  CU_CHECK(((PFN_streamSync)p)(NULL));

  p = (void *)0x1;
  CU_EXPECT_ERR(cuGetProcAddress("cuNoSuchFunction", &p, 13000, CU_GET_PROC_ADDRESS_DEFAULT, &st),
                CUDA_ERROR_NOT_FOUND);
  EXPECT(st == CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND && p == NULL, "cuNoSuchFunction: status %d, pfn %p",
         (int)st, p);
  CU_EXPECT_ERR(cuGetProcAddress("cuLaunchKernel", &p, 3020, CU_GET_PROC_ADDRESS_DEFAULT, &st),
                CUDA_ERROR_NOT_FOUND);
  EXPECT(st == CU_GET_PROC_ADDRESS_VERSION_NOT_SUFFICIENT,
         "cuLaunchKernel@3020 (introduced in 4.0): status %d", (int)st);
  CU_CHECK(cuGetProcAddress("cuLaunchKernel", &p, 4000, CU_GET_PROC_ADDRESS_DEFAULT, &st));
  EXPECT(p != NULL && st == CU_GET_PROC_ADDRESS_SUCCESS, "cuLaunchKernel@4000: status %d", (int)st);
}

int main(int argc, char **argv) {
  int launch = argc > 1 && strcmp(argv[1], "--launch") == 0;
  before_init();
  CU_EXPECT_ERR(cuInit(1), CUDA_ERROR_INVALID_VALUE); /* flags must be 0 */
  CU_CHECK(cuInit(0));
  CU_CHECK(cuInit(0)); /* idempotent */
  devices();
  error_names();
  contexts();

  CUcontext ctx = NULL;
  CU_CHECK(cuCtxCreate(&ctx, NULL, 0, dev));
  memory();
  modules(launch);
  proc_address();
  CU_CHECK(cuCtxSynchronize());
  CU_CHECK(cuCtxDestroy(ctx));
  PASSED(launch ? "driver_api --launch" : "driver_api");
  return 0;
}
