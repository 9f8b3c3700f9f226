// Virtual memory management and stream memory operations from a runtime-API
// program, the way allocators (PyTorch's expandable segments) and
// communication libraries reach them: the driver entry points through
// cudaGetDriverEntryPointByVersion. A growable buffer is reserved once and
// extended by mapping more physical chunks behind it; cudaMemcpy, cudaMemset
// and kernels use it across chunk boundaries. Then a stream waits on a flag
// that a kernel in another stream sets (cuStreamWaitValue32), and a
// cuStreamWriteValue32 signals the host.
#include "check.h"
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <ctime>
#include <cuda.h>
#include <cuda_runtime.h>
#include <thread>
#include <vector>

#define GET(name, version) reinterpret_cast<decltype(&::name)>(entry(#name, version))

static void *entry(const char *name, int version) {
  void *fn = nullptr;
  cudaDriverEntryPointQueryResult q{};
  CHECK(cudaGetDriverEntryPointByVersion(name, &fn, version, cudaEnableDefault, &q));
  if (fn == nullptr || q != cudaDriverEntryPointSuccess)
    FAIL("no driver entry point %s", name);
  return fn;
}

__global__ void iota(unsigned *p, size_t n, unsigned base) {
  for (size_t i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x)
    p[i] = base + static_cast<unsigned>(i);
}

__global__ void addOne(unsigned *p, size_t n) {
  for (size_t i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x)
    p[i] += 1;
}

__global__ void setFlag(volatile unsigned *flag, unsigned v) { *flag = v; }

using Clock = std::chrono::steady_clock;

static double cpuSeconds() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

// --measure (docs/PERFORMANCE.md): how fast a waiting stream notices a host
// write to mapped memory, right away and after it has been blocked a while;
// the process's CPU use while a stream is blocked; and map/unmap costs.
template <class Wait, class Map, class Unmap, class Access, class Create, class Release, class Reserve,
          class Free>
static void measure(Wait waitValue, Map map, Unmap unmap, Access setAccess, Create create, Release release,
                    Reserve reserve, Free addressFree, const CUmemAllocationProp &prop, size_t chunk) {
  unsigned *flag = nullptr;
  CHECK(cudaHostAlloc(&flag, 64, cudaHostAllocMapped));
  unsigned *dflag = nullptr;
  CHECK(cudaHostGetDevicePointer(&dflag, flag, 0));
  cudaStream_t s;
  CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  for (int blockedMs : {0, 5}) {
    std::vector<double> us;
    for (int i = 1; i <= 100; ++i) {
      CU_CHECK(waitValue(s, reinterpret_cast<CUdeviceptr>(dflag), i, CU_STREAM_WAIT_VALUE_GEQ));
      std::this_thread::sleep_for(std::chrono::milliseconds(blockedMs));
      const auto t0 = Clock::now();
      __atomic_store_n(flag, static_cast<unsigned>(i), __ATOMIC_RELEASE);
      CHECK(cudaStreamSynchronize(s));
      us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
    }
    std::sort(us.begin(), us.end());
    printf("measure: wait release after %d ms blocked: median %.1f us, p90 %.1f us\n", blockedMs, us[50],
           us[90]);
  }
  CU_CHECK(waitValue(s, reinterpret_cast<CUdeviceptr>(dflag), 1000, CU_STREAM_WAIT_VALUE_GEQ));
  const double c0 = cpuSeconds();
  const auto w0 = Clock::now();
  std::this_thread::sleep_for(std::chrono::seconds(1));
  const double cpu = cpuSeconds() - c0;
  const double wall = std::chrono::duration<double>(Clock::now() - w0).count();
  printf("measure: CPU while a stream is blocked: %.2f%% of one core\n", 100 * cpu / wall);
  __atomic_store_n(flag, 1000u, __ATOMIC_RELEASE);
  CHECK(cudaStreamSynchronize(s));
  CHECK(cudaStreamDestroy(s));
  CHECK(cudaFreeHost(flag));

  const int chunks = 64;
  CUdeviceptr base = 0;
  CU_CHECK(reserve(&base, chunks * chunk, 0, 0, 0));
  std::vector<CUmemGenericAllocationHandle> hs(chunks);
  CUmemAccessDesc access{};
  access.location = prop.location;
  access.flags = CU_MEM_ACCESS_FLAGS_PROT_READWRITE;
  auto t0 = Clock::now();
  for (int i = 0; i < chunks; ++i) {
    CU_CHECK(create(&hs[i], chunk, &prop, 0));
    CU_CHECK(map(base + i * chunk, chunk, 0, hs[i], 0));
    CU_CHECK(setAccess(base + i * chunk, chunk, &access, 1));
  }
  auto t1 = Clock::now();
  CU_CHECK(unmap(base, chunks * chunk));
  for (auto h : hs)
    CU_CHECK(release(h));
  auto t2 = Clock::now();
  CU_CHECK(addressFree(base, chunks * chunk));
  printf("measure: per %zu MiB chunk: create+map+setAccess %.1f us, unmap+release %.1f us\n", chunk >> 20,
         std::chrono::duration<double, std::micro>(t1 - t0).count() / chunks,
         std::chrono::duration<double, std::micro>(t2 - t1).count() / chunks);
}

int main(int argc, char **argv) {
  const bool measuring = argc > 1 && std::strcmp(argv[1], "--measure") == 0;
  CHECK(cudaSetDevice(0));
  CHECK(cudaFree(nullptr)); // the primary context
  int vmm = 0, memops = 0;
  auto getAttr = GET(cuDeviceGetAttribute, 2000);
  CU_CHECK(getAttr(&vmm, CU_DEVICE_ATTRIBUTE_VIRTUAL_MEMORY_MANAGEMENT_SUPPORTED, 0));
  EXPECT(vmm == 1, "virtual memory management attribute %d", vmm);
  CU_CHECK(getAttr(&memops, CU_DEVICE_ATTRIBUTE_CAN_USE_STREAM_MEM_OPS_V1, 0));
  EXPECT(memops == 1, "stream memops attribute %d", memops);

  auto granularityOf = GET(cuMemGetAllocationGranularity, 10020);
  auto reserve = GET(cuMemAddressReserve, 10020);
  auto addressFree = GET(cuMemAddressFree, 10020);
  auto create = GET(cuMemCreate, 10020);
  auto release = GET(cuMemRelease, 10020);
  auto map = GET(cuMemMap, 10020);
  auto unmap = GET(cuMemUnmap, 10020);
  auto setAccess = GET(cuMemSetAccess, 10020);
  auto waitValue = GET(cuStreamWaitValue32, 11070);
  auto writeValue = GET(cuStreamWriteValue32, 11070);

  CUmemAllocationProp prop{};
  prop.type = CU_MEM_ALLOCATION_TYPE_PINNED;
  prop.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
  prop.location.id = 0;
  size_t chunk = 0;
  CU_CHECK(granularityOf(&chunk, &prop, CU_MEM_ALLOC_GRANULARITY_RECOMMENDED));
  if (measuring) {
    measure(waitValue, map, unmap, setAccess, create, release, reserve, addressFree, prop, chunk);
    return 0;
  }

  // A segment of up to 8 chunks, grown to 3 chunks one at a time.
  const int maxChunks = 8, used = 3;
  CUdeviceptr base = 0;
  CU_CHECK(reserve(&base, maxChunks * chunk, 0, 0, 0));
  std::vector<CUmemGenericAllocationHandle> handles;
  CUmemAccessDesc access{};
  access.location = prop.location;
  access.flags = CU_MEM_ACCESS_FLAGS_PROT_READWRITE;
  for (int i = 0; i < used; ++i) {
    CUmemGenericAllocationHandle h = 0;
    CU_CHECK(create(&h, chunk, &prop, 0));
    CU_CHECK(map(base + i * chunk, chunk, 0, h, 0));
    CU_CHECK(setAccess(base + i * chunk, chunk, &access, 1));
    handles.push_back(h);
  }
  unsigned *buf = reinterpret_cast<unsigned *>(base);
  const size_t n = used * chunk / sizeof(unsigned);

  cudaPointerAttributes attrs{};
  CHECK(cudaPointerGetAttributes(&attrs, buf + n - 1));
  EXPECT(attrs.type == cudaMemoryTypeDevice, "pointer type %d", (int)attrs.type);
  EXPECT(attrs.device == 0, "pointer device %d", attrs.device);

  // Kernels, memset and copies over the whole (multi-chunk) range.
  CHECK(cudaMemset(buf, 0, n * sizeof(unsigned)));
  iota<<<64, 256>>>(buf, n, 5);
  CHECK_LAUNCH();
  addOne<<<64, 256>>>(buf, n);
  CHECK_LAUNCH();
  std::vector<unsigned> host(n);
  CHECK(cudaMemcpy(host.data(), buf, n * sizeof(unsigned), cudaMemcpyDeviceToHost));
  int bad = 0;
  for (size_t i = 0; i < n; ++i)
    bad += host[i] != 6 + static_cast<unsigned>(i);
  EXPECT(bad == 0, "%d of %zu values wrong after the kernels", bad, n);
  // A copy that straddles two chunks, device to device.
  unsigned *scratch = nullptr;
  CHECK(cudaMalloc(&scratch, 4096));
  CHECK(cudaMemcpy(scratch, buf + chunk / sizeof(unsigned) - 512, 4096, cudaMemcpyDeviceToDevice));
  unsigned probe[1024];
  CHECK(cudaMemcpy(probe, scratch, sizeof probe, cudaMemcpyDeviceToHost));
  EXPECT(probe[511] == 6 + chunk / sizeof(unsigned) - 1 && probe[512] == 6 + chunk / sizeof(unsigned),
         "straddling copy read %u %u", probe[511], probe[512]);

  // Stream memory operations: `waiter` holds until a kernel in `setter`
  // sets the flag, then signals `done` to the host.
  unsigned *flags = nullptr;
  CHECK(cudaMalloc(&flags, 2 * sizeof(unsigned)));
  CHECK(cudaMemset(flags, 0, 2 * sizeof(unsigned)));
  CHECK(cudaDeviceSynchronize());
  cudaStream_t waiter, setter;
  CHECK(cudaStreamCreateWithFlags(&waiter, cudaStreamNonBlocking));
  CHECK(cudaStreamCreateWithFlags(&setter, cudaStreamNonBlocking));
  CU_CHECK(waitValue(waiter, reinterpret_cast<CUdeviceptr>(flags), 1, CU_STREAM_WAIT_VALUE_GEQ));
  addOne<<<64, 256, 0, waiter>>>(buf, n); // held back by the wait
  CHECK(cudaGetLastError());              // (CHECK_LAUNCH would synchronize: a deadlock here)
  CU_CHECK(writeValue(waiter, reinterpret_cast<CUdeviceptr>(flags + 1), 7, 0));
  EXPECT(cudaStreamQuery(waiter) == cudaErrorNotReady, "the waiting stream ran ahead");
  unsigned early = 1;
  CHECK(cudaMemcpy(&early, buf, sizeof early, cudaMemcpyDeviceToHost));
  EXPECT(early == 6, "the kernel after the wait ran early (%u)", early);
  setFlag<<<1, 1, 0, setter>>>(flags, 1);
  CHECK(cudaGetLastError());
  CHECK(cudaStreamSynchronize(waiter));
  unsigned signal[2] = {};
  CHECK(cudaMemcpy(signal, flags, sizeof signal, cudaMemcpyDeviceToHost));
  EXPECT(signal[1] == 7, "written value %u", signal[1]);
  CHECK(cudaMemcpy(&early, buf, sizeof early, cudaMemcpyDeviceToHost));
  EXPECT(early == 7, "the kernel after the wait did not run (%u)", early);

  // Tear down: unmap the whole segment at once, release, free the range.
  CHECK(cudaDeviceSynchronize());
  CU_CHECK(unmap(base, used * chunk));
  for (auto h : handles)
    CU_CHECK(release(h));
  CU_CHECK(addressFree(base, maxChunks * chunk));
  CHECK(cudaStreamDestroy(waiter));
  CHECK(cudaStreamDestroy(setter));
  CHECK(cudaFree(scratch));
  CHECK(cudaFree(flags));
  PASSED("vmm_memops");
  return 0;
}
