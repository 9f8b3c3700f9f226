/* Interposition: with cuvirt's libcuda.so.1 LD_PRELOADed, every way a program
 * can reach "the CUDA driver" must land in cuvirt.
 *
 * usage: dlopen_driver NAME   dlopen(NAME), dlsym cuInit/cuDeviceGetName
 *        dlopen_driver --default   dlsym(RTLD_DEFAULT, ...) without dlopen
 *
 * Not linked against libcuda: everything is found at run time. */
#define _GNU_SOURCE
#include <cuda.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef CUresult (*PFN_cuInit)(unsigned);
typedef CUresult (*PFN_cuDeviceGet)(CUdevice *, int);
typedef CUresult (*PFN_cuDeviceGetName)(char *, int, CUdevice);

#define DIE(...)                                                                                             \
  do {                                                                                                       \
    fprintf(stderr, "dlopen_driver(%s): FAILED: ", what);                                                    \
    fprintf(stderr, __VA_ARGS__);                                                                            \
    fprintf(stderr, "\n");                                                                                   \
    exit(1);                                                                                                 \
  } while (0)

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: dlopen_driver NAME | --default\n");
    return 2;
  }
  const char *what = argv[1];
  void *handle = RTLD_DEFAULT;
  if (strcmp(what, "--default") != 0) {
    dlerror();
    handle = dlopen(what, RTLD_NOW | RTLD_LOCAL);
    if (!handle)
      DIE("dlopen failed: %s", dlerror());
  }
  PFN_cuInit init = (PFN_cuInit)dlsym(handle, "cuInit");
  PFN_cuDeviceGet get = (PFN_cuDeviceGet)dlsym(handle, "cuDeviceGet");
  PFN_cuDeviceGetName getname = (PFN_cuDeviceGetName)dlsym(handle, "cuDeviceGetName");
  void *gpa = dlsym(handle, "cuGetProcAddress_v2");
  if (!init || !get || !getname || !gpa)
    DIE("dlsym: cuInit %p cuDeviceGet %p cuDeviceGetName %p cuGetProcAddress_v2 %p", (void *)init,
        (void *)get, (void *)getname, gpa);

  /* Where did the symbol come from? It must be the preloaded cuvirt library. */
  Dl_info info;
  memset(&info, 0, sizeof info);
  if (!dladdr((void *)init, &info) || !info.dli_fname)
    DIE("dladdr(cuInit) failed");
  printf("cuInit comes from %s\n", info.dli_fname);
  const char *preload = getenv("LD_PRELOAD");
  if (strstr(info.dli_fname, "stubs"))
    DIE("got the toolkit's stub library %s", info.dli_fname);
  if (preload) {
    char *want = realpath(preload, NULL), *got = realpath(info.dli_fname, NULL);
    if (want && got && strcmp(want, got) != 0)
      DIE("cuInit resolved into %s, not the preloaded %s", got, want);
    free(want);
    free(got);
  }

  CUresult r = init(0);
  if (r != CUDA_SUCCESS)
    DIE("cuInit returned %d", (int)r);
  CUdevice dev;
  r = get(&dev, 0);
  if (r != CUDA_SUCCESS)
    DIE("cuDeviceGet returned %d", (int)r);
  char name[256] = {0};
  r = getname(name, sizeof name, dev);
  if (r != CUDA_SUCCESS)
    DIE("cuDeviceGetName returned %d", (int)r);
  if (strncmp(name, "cuvirt", 6) != 0)
    DIE("device name '%s' does not start with 'cuvirt'", name);

  /* dlopen of the same name again gives the same library. */
  if (handle != RTLD_DEFAULT) {
    void *again = dlopen(what, RTLD_NOW);
    if (!again)
      DIE("second dlopen failed: %s", dlerror());
    if (dlsym(again, "cuInit") != (void *)init)
      DIE("second dlopen resolved cuInit elsewhere");
    dlclose(again);
    dlclose(handle);
  }
  printf("PASSED dlopen_driver %s (device '%s')\n", what, name);
  return 0;
}
