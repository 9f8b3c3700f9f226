// Legacy IPC through the driver API, within one process: handles are made,
// repeated, refused where CUDA refuses them, and exporting memory keeps its
// contents and address. Opening handles in another process is checked by
// tests/cuda/kernels/ipc.cu.
#include "conformance.h"
#include <cstdint>
#include <cstring>
#include <vector>

TEST_CASE("ipc: memory handles") {
  ContextFixture f;
  int evSupported = -1;
  REQUIRE(cuDeviceGetAttribute(&evSupported, CU_DEVICE_ATTRIBUTE_IPC_EVENT_SUPPORTED, 0) == CUDA_SUCCESS);
  CHECK(evSupported == 1);

  CUdeviceptr d = 0;
  REQUIRE(cuMemAlloc(&d, 1000) == CUDA_SUCCESS);
  std::vector<std::uint32_t> in(250), out(250);
  for (std::uint32_t i = 0; i < 250; ++i)
    in[i] = i * 7 + 1;
  REQUIRE(cuMemcpyHtoD(d, in.data(), 1000) == CUDA_SUCCESS);
  int capable = 0;
  CHECK(cuPointerGetAttribute(&capable, CU_POINTER_ATTRIBUTE_IS_LEGACY_CUDA_IPC_CAPABLE, d) == CUDA_SUCCESS);
  CHECK(capable == 1);

  CUipcMemHandle mh{}, again{}, inner{};
  CHECK(cuIpcGetMemHandle(nullptr, d) == CUDA_ERROR_INVALID_VALUE);
  CHECK(cuIpcGetMemHandle(&mh, d + 4096 * 1024) == CUDA_ERROR_INVALID_VALUE);
  std::uint32_t host = 0;
  CHECK(cuIpcGetMemHandle(&mh, reinterpret_cast<CUdeviceptr>(&host)) == CUDA_ERROR_INVALID_VALUE);
  REQUIRE(cuIpcGetMemHandle(&mh, d) == CUDA_SUCCESS);
  REQUIRE(cuIpcGetMemHandle(&again, d) == CUDA_SUCCESS);
  REQUIRE(cuIpcGetMemHandle(&inner, d + 100) == CUDA_SUCCESS); // names the whole allocation
  CHECK(std::memcmp(&mh, &again, sizeof mh) == 0);
  CHECK(std::memcmp(&mh, &inner, sizeof mh) == 0);

  // Exporting kept the contents and the address; the memory still works.
  REQUIRE(cuMemcpyDtoH(out.data(), d, 1000) == CUDA_SUCCESS);
  CHECK(out == in);
  REQUIRE(cuMemsetD32(d + 400, 0xabcdef01, 10) == CUDA_SUCCESS);
  REQUIRE(cuMemcpyDtoH(out.data(), d, 1000) == CUDA_SUCCESS);
  CHECK(out[100] == 0xabcdef01);
  CHECK(out[109] == 0xabcdef01);
  CHECK(out[110] == in[110]);

  // Opening: bad flags, this process's own handle, forged handles.
  CUdeviceptr opened = 0;
  CHECK(cuIpcOpenMemHandle(&opened, mh, 0x8) == CUDA_ERROR_INVALID_VALUE);
  CHECK(cuIpcOpenMemHandle(nullptr, mh, CU_IPC_MEM_LAZY_ENABLE_PEER_ACCESS) == CUDA_ERROR_INVALID_VALUE);
  CHECK(cuIpcOpenMemHandle(&opened, mh, CU_IPC_MEM_LAZY_ENABLE_PEER_ACCESS) == CUDA_ERROR_INVALID_CONTEXT);
  CUipcMemHandle zero{};
  CHECK(cuIpcOpenMemHandle(&opened, zero, CU_IPC_MEM_LAZY_ENABLE_PEER_ACCESS) == CUDA_ERROR_INVALID_HANDLE);
  CUipcMemHandle forged{};
  std::memset(forged.reserved, 0x5a, sizeof forged.reserved);
  CHECK(cuIpcOpenMemHandle(&opened, forged, CU_IPC_MEM_LAZY_ENABLE_PEER_ACCESS) == CUDA_ERROR_INVALID_HANDLE);
  CHECK(opened == 0);
  CHECK(cuIpcCloseMemHandle(d) == CUDA_ERROR_INVALID_VALUE);

  // Neighbours in the same pages export too (they share page memory), and
  // freeing in any order leaves every allocation intact.
  CUdeviceptr n[3] = {};
  for (auto &p : n) {
    REQUIRE(cuMemAlloc(&p, 300) == CUDA_SUCCESS);
    REQUIRE(cuMemsetD8(p, static_cast<unsigned char>(p & 0xff), 300) == CUDA_SUCCESS);
  }
  CUipcMemHandle nh[3];
  REQUIRE(cuIpcGetMemHandle(&nh[1], n[1]) == CUDA_SUCCESS);
  REQUIRE(cuIpcGetMemHandle(&nh[0], n[0]) == CUDA_SUCCESS);
  REQUIRE(cuIpcGetMemHandle(&nh[2], n[2]) == CUDA_SUCCESS);
  CHECK(std::memcmp(&nh[0], &nh[1], sizeof nh[0]) != 0);
  REQUIRE(cuMemFree(n[1]) == CUDA_SUCCESS);
  for (int i : {0, 2}) {
    std::vector<unsigned char> bytes(300);
    REQUIRE(cuMemcpyDtoH(bytes.data(), n[i], 300) == CUDA_SUCCESS);
    CHECK(bytes[0] == static_cast<unsigned char>(n[i] & 0xff));
    CHECK(bytes[299] == static_cast<unsigned char>(n[i] & 0xff));
  }
  REQUIRE(cuMemFree(n[0]) == CUDA_SUCCESS);
  REQUIRE(cuMemFree(n[2]) == CUDA_SUCCESS);

  // Freed exported memory is private again: its range is reused normally.
  REQUIRE(cuMemFree(d) == CUDA_SUCCESS);
  CUdeviceptr big = 0;
  REQUIRE(cuMemAlloc(&big, 3u << 20) == CUDA_SUCCESS);
  REQUIRE(cuMemsetD32(big, 5, (3u << 20) / 4) == CUDA_SUCCESS);
  REQUIRE(cuIpcGetMemHandle(&mh, big) == CUDA_SUCCESS);
  REQUIRE(cuMemcpyDtoH(&host, big + (3u << 20) - 4, 4) == CUDA_SUCCESS);
  CHECK(host == 5);
  REQUIRE(cuMemFree(big) == CUDA_SUCCESS);
  REQUIRE(cuMemAlloc(&big, 3u << 20) == CUDA_SUCCESS);
  REQUIRE(cuMemsetD32(big, 9, (3u << 20) / 4) == CUDA_SUCCESS);
  REQUIRE(cuMemcpyDtoH(&host, big + 4096, 4) == CUDA_SUCCESS);
  CHECK(host == 9);
  CHECK(cuMemFree(big) == CUDA_SUCCESS);
}

TEST_CASE("ipc: event handles") {
  ContextFixture f;
  CUevent plain = nullptr, timed = nullptr, ipc = nullptr;
  REQUIRE(cuEventCreate(&plain, CU_EVENT_DISABLE_TIMING) == CUDA_SUCCESS);
  CHECK(cuEventCreate(&timed, CU_EVENT_INTERPROCESS) == CUDA_ERROR_INVALID_VALUE);
  REQUIRE(cuEventCreate(&ipc, CU_EVENT_INTERPROCESS | CU_EVENT_DISABLE_TIMING) == CUDA_SUCCESS);
  CUipcEventHandle eh{};
  CHECK(cuIpcGetEventHandle(&eh, plain) == CUDA_ERROR_INVALID_VALUE);
  CHECK(cuIpcGetEventHandle(nullptr, ipc) == CUDA_ERROR_INVALID_VALUE);
  CHECK(cuIpcGetEventHandle(&eh, reinterpret_cast<CUevent>(&eh)) == CUDA_ERROR_INVALID_HANDLE);
  CHECK(cuEventQuery(ipc) == CUDA_SUCCESS); // never recorded
  REQUIRE(cuIpcGetEventHandle(&eh, ipc) == CUDA_SUCCESS);

  // Recorded, waited for and synchronised through its shared state.
  CUstream s = nullptr;
  REQUIRE(cuStreamCreate(&s, CU_STREAM_NON_BLOCKING) == CUDA_SUCCESS);
  CUdeviceptr d = 0;
  REQUIRE(cuMemAlloc(&d, 1 << 20) == CUDA_SUCCESS);
  REQUIRE(cuMemsetD32Async(d, 3, (1 << 20) / 4, s) == CUDA_SUCCESS);
  REQUIRE(cuEventRecord(ipc, s) == CUDA_SUCCESS);
  REQUIRE(cuStreamWaitEvent(nullptr, ipc, 0) == CUDA_SUCCESS);
  REQUIRE(cuEventSynchronize(ipc) == CUDA_SUCCESS);
  CHECK(cuEventQuery(ipc) == CUDA_SUCCESS);
  std::uint32_t v = 0;
  REQUIRE(cuMemcpyDtoH(&v, d + (1 << 20) - 4, 4) == CUDA_SUCCESS);
  CHECK(v == 3);

  CUevent opened = nullptr;
  CHECK(cuIpcOpenEventHandle(nullptr, eh) == CUDA_ERROR_INVALID_VALUE);
  CHECK(cuIpcOpenEventHandle(&opened, eh) == CUDA_ERROR_INVALID_CONTEXT); // this process's own
  CUipcEventHandle forged{};
  std::memset(forged.reserved, 0x33, sizeof forged.reserved);
  CHECK(cuIpcOpenEventHandle(&opened, forged) == CUDA_ERROR_INVALID_HANDLE);
  CHECK(opened == nullptr);

  CHECK(cuMemFree(d) == CUDA_SUCCESS);
  CHECK(cuStreamDestroy(s) == CUDA_SUCCESS);
  CHECK(cuEventDestroy(plain) == CUDA_SUCCESS);
  CHECK(cuEventDestroy(ipc) == CUDA_SUCCESS);
}
