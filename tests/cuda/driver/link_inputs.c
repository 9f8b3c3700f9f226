/* The driver's JIT linker with nvcc-built inputs: the PTX of rdc_main.cu
 * (which uses rdc_scale/rdc_bias through .extern) linked with rdc_lib.cu as a
 * host object, an archive or a fatbin (all nvcc -rdc=true), then run; a
 * machine-code-only cubin is refused with the reason in the error log.
 *   link_inputs MAIN.ptx OBJECT.o LIBRARY.a FATBIN.fatbin SASS.cubin */
#include "check.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char info[8192], err[8192];

static CUlinkState create(void) {
  static CUjit_option opts[] = {CU_JIT_INFO_LOG_BUFFER, CU_JIT_INFO_LOG_BUFFER_SIZE_BYTES,
                                CU_JIT_ERROR_LOG_BUFFER, CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES,
                                CU_JIT_LOG_VERBOSE};
  static void *vals[5];
  vals[0] = info;
  vals[1] = (void *)(size_t)sizeof info;
  vals[2] = err;
  vals[3] = (void *)(size_t)sizeof err;
  vals[4] = (void *)(size_t)1;
  CUlinkState s;
  CU_CHECK(cuLinkCreate(5, opts, vals, &s));
  return s;
}

static void run(const char *mainPtx, CUjitInputType type, const char *path, const char *what) {
  CUlinkState s = create();
  CU_CHECK(cuLinkAddFile(s, CU_JIT_INPUT_PTX, mainPtx, 0, NULL, NULL));
  CU_CHECK(cuLinkAddFile(s, type, path, 0, NULL, NULL));
  void *image;
  size_t size;
  CUresult r = cuLinkComplete(s, &image, &size);
  if (r != CUDA_SUCCESS) {
    fprintf(stderr, "%s: cuLinkComplete failed (%d):\n%s\n", what, (int)r, err);
    exit(1);
  }
  CUmodule mod;
  CU_CHECK(cuModuleLoadData(&mod, image));
  CU_CHECK(cuLinkDestroy(s));
  CUfunction apply, setBias;
  CU_CHECK(cuModuleGetFunction(&apply, mod, "_Z9rdc_applyPKfPfi"));
  CU_CHECK(cuModuleGetFunction(&setBias, mod, "_Z12rdc_set_biasi"));
  enum { N = 300 };
  float in[N], out[N];
  for (int i = 0; i < N; ++i)
    in[i] = i * 0.5f;
  CUdeviceptr din, dout;
  CU_CHECK(cuMemAlloc(&din, sizeof in));
  CU_CHECK(cuMemAlloc(&dout, sizeof out));
  CU_CHECK(cuMemcpyHtoD(din, in, sizeof in));
  int bias = 11, n = N;
  void *biasArgs[] = {&bias};
  CU_CHECK(cuLaunchKernel(setBias, 1, 1, 1, 1, 1, 1, 0, NULL, biasArgs, NULL));
  void *args[] = {&din, &dout, &n};
  CU_CHECK(cuLaunchKernel(apply, (N + 63) / 64, 1, 1, 64, 1, 1, 0, NULL, args, NULL));
  CU_CHECK(cuMemcpyDtoH(out, dout, sizeof out));
  for (int i = 0; i < N; ++i) {
    float want = in[i] * 2.0f + (float)(i % 5) + bias;
    EXPECT(out[i] == want, "%s: out[%d] = %g, want %g", what, i, out[i], want);
  }
  CU_CHECK(cuMemFree(din));
  CU_CHECK(cuMemFree(dout));
  CU_CHECK(cuModuleUnload(mod));
}

int main(int argc, char **argv) {
  if (argc != 6) {
    fprintf(stderr, "usage: %s MAIN.ptx OBJECT.o LIBRARY.a FATBIN.fatbin SASS.cubin\n", argv[0]);
    return 2;
  }
  CU_CHECK(cuInit(0));
  CUdevice dev;
  CU_CHECK(cuDeviceGet(&dev, 0));
  CUcontext ctx;
  CU_CHECK(cuDevicePrimaryCtxRetain(&ctx, dev));
  CU_CHECK(cuCtxSetCurrent(ctx));

  /* Alone, the kernel's PTX leaves its externs undefined. */
  CUlinkState s = create();
  CU_CHECK(cuLinkAddFile(s, CU_JIT_INPUT_PTX, argv[1], 0, NULL, NULL));
  void *image;
  size_t size;
  CU_EXPECT_ERR(cuLinkComplete(s, &image, &size), CUDA_ERROR_NOT_FOUND);
  EXPECT(strstr(err, "Undefined reference to '_Z9rdc_scalefi'") != NULL, "error log: %s", err);
  CU_CHECK(cuLinkDestroy(s));

  /* SASS cannot run on the CPU device: refused at cuLinkAddFile. */
  s = create();
  CU_EXPECT_ERR(cuLinkAddFile(s, CU_JIT_INPUT_CUBIN, argv[5], 0, NULL, NULL), CUDA_ERROR_NO_BINARY_FOR_GPU);
  EXPECT(strstr(err, "no PTX") != NULL, "error log: %s", err);
  CU_CHECK(cuLinkDestroy(s));

  run(argv[1], CU_JIT_INPUT_OBJECT, argv[2], "object");
  run(argv[1], CU_JIT_INPUT_LIBRARY, argv[3], "library");
  run(argv[1], CU_JIT_INPUT_FATBINARY, argv[4], "fatbin");
  CU_CHECK(cuDevicePrimaryCtxRelease(dev));
  PASSED("link_inputs");
  return 0;
}
