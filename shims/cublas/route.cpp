// Which calls run here: the real libcublas, cuvirt's driver (looked up with
// dlsym, never linked: the preload reaches programs that do not use CUDA),
// the CPU-device check, and enqueueing host work on a stream.
#include "shims/cublas/cublas_shim.h"
#include <array>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <link.h>
#include <mutex>
#include <string>
#include <string_view>
#include <sys/mman.h>
#include <unistd.h>

namespace cuvirt::cublas {
namespace {

/// A loaded library: found through `probe` (one of its symbols) and
/// RTLD_NEXT when it is in the global scope; Python extensions load it
/// RTLD_LOCAL, so the loaded objects are also searched by file name: `stem`,
/// maybe followed by a version (libcublas.so.13, not libcublasLt.so.13).
void *loadedLibrary(const char *stem, const char *probe) {
  if (void *self = dlsym(RTLD_NEXT, probe)) {
    Dl_info info{};
    if (dladdr(self, &info) != 0 && info.dli_fname != nullptr)
      if (void *h = dlopen(info.dli_fname, RTLD_LAZY | RTLD_NOLOAD))
        return h;
  }
  struct Search {
    std::string_view stem;
    std::string found;
  } search{stem, {}};
  dl_iterate_phdr(
      [](dl_phdr_info *i, std::size_t, void *arg) {
        auto *s = static_cast<Search *>(arg);
        std::string_view path(i->dlpi_name != nullptr ? i->dlpi_name : "");
        const auto slash = path.rfind('/');
        std::string_view base = slash == std::string_view::npos ? path : path.substr(slash + 1);
        if (base.starts_with(s->stem) && (base.size() == s->stem.size() || base[s->stem.size()] == '.')) {
          s->found = std::string(path);
          return 1;
        }
        return 0;
      },
      &search);
  return search.found.empty() ? nullptr : dlopen(search.found.c_str(), RTLD_LAZY | RTLD_NOLOAD);
}

/// cuvirt's driver entry points this library uses.
struct Driver {
  CUresult (*streamGetDevice)(CUstream, CUdevice *);
  CUresult (*deviceGetName)(char *, int, CUdevice);
  CUresult (*primaryRetain)(CUcontext *, CUdevice);
  CUresult (*primaryRelease)(CUdevice);
  CUresult (*ctxPush)(CUcontext);
  CUresult (*ctxPop)(CUcontext *);
  CUresult (*memAllocHost)(void **, size_t);
  CUresult (*memFreeHost)(void *);
  CUresult (*hostGetDevicePointer)(CUdeviceptr *, void *, unsigned);
  CUresult (*launchHostFunc)(CUstream, CUhostFn, void *);
  CUresult (*streamIsCapturing)(CUstream, CUstreamCaptureStatus *);
  CUresult (*streamGetCaptureInfo)(CUstream, CUstreamCaptureStatus *, cuuint64_t *, CUgraph *,
                                   const CUgraphNode **, size_t *);
  CUresult (*userObjectCreate)(CUuserObject *, void *, CUhostFn, unsigned, unsigned);
  CUresult (*graphRetainUserObject)(CUgraph, CUuserObject, unsigned, unsigned);
  CUresult (*pointerGetAttributes)(unsigned, CUpointer_attribute *, void **, CUdeviceptr);
};

template <class F> bool bind(void *lib, F &slot, const char *name) {
  slot = reinterpret_cast<F>(dlsym(lib, name));
  return slot != nullptr;
}

const Driver *driver() {
  static const Driver *d = []() -> const Driver * {
    void *lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_NOLOAD);
    if (lib == nullptr)
      lib = dlopen("libcuda.so.1", RTLD_NOW);
    if (lib == nullptr)
      return nullptr;
    static Driver drv{};
    bool ok = bind(lib, drv.streamGetDevice, "cuStreamGetDevice") &&
              bind(lib, drv.deviceGetName, "cuDeviceGetName") &&
              bind(lib, drv.primaryRetain, "cuDevicePrimaryCtxRetain") &&
              bind(lib, drv.primaryRelease, "cuDevicePrimaryCtxRelease_v2") &&
              bind(lib, drv.ctxPush, "cuCtxPushCurrent_v2") && bind(lib, drv.ctxPop, "cuCtxPopCurrent_v2") &&
              bind(lib, drv.memAllocHost, "cuMemAllocHost_v2") &&
              bind(lib, drv.memFreeHost, "cuMemFreeHost") &&
              bind(lib, drv.hostGetDevicePointer, "cuMemHostGetDevicePointer_v2") &&
              bind(lib, drv.launchHostFunc, "cuLaunchHostFunc") &&
              bind(lib, drv.streamIsCapturing, "cuStreamIsCapturing") &&
              bind(lib, drv.streamGetCaptureInfo, "cuStreamGetCaptureInfo_v2") &&
              bind(lib, drv.userObjectCreate, "cuUserObjectCreate") &&
              bind(lib, drv.graphRetainUserObject, "cuGraphRetainUserObject") &&
              bind(lib, drv.pointerGetAttributes, "cuPointerGetAttributes");
    return ok ? &drv : nullptr;
  }();
  return d;
}

/// Whether `dev` is cuvirt's CPU device: named so by cuvirt, and its memory
/// is the host's (a remote cuvirtd CPU device has the same name, but mapped
/// host memory is refused there). Answered once per device.
bool isCpuDevice(const Driver &d, CUdevice dev) {
  constexpr int kMax = 64;
  static std::array<std::atomic<signed char>, kMax> known{}; // 0 unknown, 1 yes, -1 no
  if (dev < 0 || dev >= kMax)
    return false;
  if (signed char k = known[dev].load(std::memory_order_acquire); k != 0)
    return k > 0;
  bool cpu = false;
  char name[256] = {};
  if (d.deviceGetName(name, sizeof name, dev) == CUDA_SUCCESS &&
      std::string_view(name).starts_with("cuvirt CPU")) {
    CUcontext ctx = nullptr;
    if (d.primaryRetain(&ctx, dev) == CUDA_SUCCESS) {
      if (d.ctxPush(ctx) == CUDA_SUCCESS) {
        void *p = nullptr;
        CUdeviceptr dp = 0;
        if (d.memAllocHost(&p, 64) == CUDA_SUCCESS) {
          cpu = d.hostGetDevicePointer(&dp, p, 0) == CUDA_SUCCESS && dp == reinterpret_cast<CUdeviceptr>(p);
          d.memFreeHost(p);
        }
        CUcontext popped = nullptr;
        d.ctxPop(&popped);
      }
      d.primaryRelease(dev);
    }
  }
  known[dev].store(cpu ? 1 : -1, std::memory_order_release);
  return cpu;
}

bool disabled() {
  static const bool off = [] {
    const char *v = std::getenv("CUVIRT_CUBLAS");
    return v != nullptr && std::strcmp(v, "0") == 0;
  }();
  return off;
}

struct Job {
  std::function<void()> work;
  bool persistent = false; // owned by a graph (captured), run any number of times
};

void runJob(void *p) {
  auto *job = static_cast<Job *>(p);
  job->work();
  if (!job->persistent)
    delete job;
}

} // namespace

void *realSymbol(const char *name) {
  static void *lib = loadedLibrary("libcublas.so", "cublasCreate_v2");
  return lib != nullptr ? dlsym(lib, name) : nullptr;
}

void *realLtSymbol(const char *name) {
  static void *lib = loadedLibrary("libcublasLt.so", "cublasLtCreate");
  return lib != nullptr ? dlsym(lib, name) : nullptr;
}

Route routeStream(CUstream stream, bool deviceScalars) {
  Route r;
  const Driver *d = driver();
  CUdevice dev = -1;
  if (disabled() || d == nullptr || d->streamGetDevice(stream, &dev) != CUDA_SUCCESS ||
      !isCpuDevice(*d, dev) || !haveOpenBlas())
    return r;
  r.forward = false;
  r.stream = stream;
  r.deviceScalars = deviceScalars;
  return r;
}

Route route(cublasHandle_t handle) {
  Route r;
  static auto *getStream = CUVIRT_REAL(cublasGetStream_v2);
  static auto *getPointerMode = CUVIRT_REAL(cublasGetPointerMode_v2);
  if (getStream == nullptr || getPointerMode == nullptr)
    return r; // forward: the real function reports what is wrong
  cudaStream_t s = nullptr;
  cublasPointerMode_t mode = CUBLAS_POINTER_MODE_HOST;
  if (getStream(handle, &s) != CUBLAS_STATUS_SUCCESS ||
      getPointerMode(handle, &mode) != CUBLAS_STATUS_SUCCESS)
    return r; // a bad handle: the real library's own status
  return routeStream(reinterpret_cast<CUstream>(s), mode == CUBLAS_POINTER_MODE_DEVICE);
}

cublasStatus_t enqueue(CUstream stream, std::function<void()> work) {
  const Driver *d = driver();
  if (d == nullptr)
    return CUBLAS_STATUS_EXECUTION_FAILED;
  auto *job = new Job{std::move(work)};
  CUstreamCaptureStatus capture = CU_STREAM_CAPTURE_STATUS_NONE;
  if (d->streamIsCapturing(stream, &capture) == CUDA_SUCCESS && capture == CU_STREAM_CAPTURE_STATUS_ACTIVE) {
    // The graph may run the node many times: the graph owns the job.
    job->persistent = true;
    CUgraph graph = nullptr;
    CUuserObject owner = nullptr;
    if (d->streamGetCaptureInfo(stream, &capture, nullptr, &graph, nullptr, nullptr) == CUDA_SUCCESS &&
        graph != nullptr &&
        d->userObjectCreate(
            &owner, job, [](void *p) { delete static_cast<Job *>(p); }, 1,
            CU_USER_OBJECT_NO_DESTRUCTOR_SYNC) == CUDA_SUCCESS)
      d->graphRetainUserObject(graph, owner, 1, CU_GRAPH_USER_OBJECT_MOVE);
    // (If that failed the job lives as long as the process: a small leak, never a dangling node.)
  }
  if (d->launchHostFunc(stream, runJob, job) != CUDA_SUCCESS) {
    if (!job->persistent)
      delete job;
    return CUBLAS_STATUS_EXECUTION_FAILED;
  }
  return CUBLAS_STATUS_SUCCESS;
}

bool addressable(const void *p, std::size_t bytes) {
  if (bytes == 0)
    return true;
  if (p == nullptr)
    return false;
  const auto addr = reinterpret_cast<CUdeviceptr>(p);
  if (const Driver *d = driver()) {
    CUpointer_attribute attrs[] = {CU_POINTER_ATTRIBUTE_RANGE_START_ADDR, CU_POINTER_ATTRIBUTE_RANGE_SIZE};
    CUdeviceptr start = 0;
    size_t size = 0;
    void *data[] = {&start, &size};
    if (d->pointerGetAttributes(2, attrs, data, addr) == CUDA_SUCCESS && size != 0)
      return addr >= start && addr - start <= size && bytes <= size - (addr - start);
  }
  // Not CUDA memory: the CPU device reads pageable memory too, if mapped.
  return mapped(p, bytes);
}

bool mapped(const void *p, std::size_t bytes) {
  if (bytes == 0)
    return true;
  if (p == nullptr)
    return false;
  const auto addr = reinterpret_cast<std::uintptr_t>(p);
  const long page = sysconf(_SC_PAGESIZE);
  const std::uintptr_t first = addr & ~static_cast<std::uintptr_t>(page - 1);
  const std::uintptr_t end = addr + bytes;
  if (end < addr)
    return false;
  unsigned char vec[64];
  for (std::uintptr_t at = first; at < end; at += 64 * static_cast<std::uintptr_t>(page)) {
    const std::size_t len = std::min<std::uintptr_t>(end - at, 64 * static_cast<std::uintptr_t>(page));
    if (mincore(reinterpret_cast<void *>(at), len, vec) != 0)
      return false;
  }
  return true;
}

} // namespace cuvirt::cublas
