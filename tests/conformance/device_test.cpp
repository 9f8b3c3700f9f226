#include "conformance.h"
#include <cstring>
#include <string>

TEST_CASE("device enumeration and identity") {
  int count = 0;
  REQUIRE(cuDeviceGetCount(&count) == CUDA_SUCCESS);
  REQUIRE(count >= 1);
  CUdevice dev = -1;
  CHECK(cuDeviceGet(&dev, 0) == CUDA_SUCCESS);
  CHECK(dev == 0);
  CHECK(cuDeviceGet(&dev, count) == CUDA_ERROR_INVALID_DEVICE);
  CHECK(cuDeviceGet(nullptr, 0) == CUDA_ERROR_INVALID_VALUE);
  char name[256];
  CHECK(cuDeviceGetName(name, sizeof name, 0) == CUDA_SUCCESS);
  CHECK(std::strlen(name) > 0);
  char shortName[4];
  CHECK(cuDeviceGetName(shortName, sizeof shortName, 0) == CUDA_SUCCESS);
  CHECK(std::strlen(shortName) == 3); // truncated, still terminated
  CUuuid a, b;
  CHECK(cuDeviceGetUuid(&a, 0) == CUDA_SUCCESS);
  CHECK(cuDeviceGetUuid_v2(&b, 0) == CUDA_SUCCESS);
  CHECK(std::memcmp(&a, &b, sizeof a) == 0);
  size_t total = 0;
  CHECK(cuDeviceTotalMem(&total, 0) == CUDA_SUCCESS);
  CHECK(total > (size_t(1) << 28));
  int version = 0;
  CHECK(cuDriverGetVersion(&version) == CUDA_SUCCESS);
  CHECK(version >= 13000);
}

TEST_CASE("every device attribute has an answer, and the key ones are sane") {
  for (int attr = 1; attr < CU_DEVICE_ATTRIBUTE_MAX; ++attr) {
    int v = -12345;
    CUresult r = cuDeviceGetAttribute(&v, static_cast<CUdevice_attribute>(attr), 0);
    CHECK_MESSAGE(r == CUDA_SUCCESS, "attribute " << attr);
  }
  auto get = [](CUdevice_attribute a) {
    int v = 0;
    REQUIRE(cuDeviceGetAttribute(&v, a, 0) == CUDA_SUCCESS);
    return v;
  };
  CHECK(get(CU_DEVICE_ATTRIBUTE_WARP_SIZE) == 32);
  CHECK(get(CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK) == 1024);
  CHECK(get(CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_X) == 1024);
  CHECK(get(CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK) >= 48 * 1024);
  CHECK(get(CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT) >= 1);
  CHECK(get(CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR) >= 7);
  CHECK(get(CU_DEVICE_ATTRIBUTE_UNIFIED_ADDRESSING) == 1);
  int v = 0;
  CHECK(cuDeviceGetAttribute(&v, CU_DEVICE_ATTRIBUTE_MAX, 0) == CUDA_ERROR_INVALID_VALUE);
  CHECK(cuDeviceGetAttribute(&v, CU_DEVICE_ATTRIBUTE_WARP_SIZE, 99) == CUDA_ERROR_INVALID_DEVICE);
}

TEST_CASE("PCI bus ids round-trip") {
  char bus[32];
  REQUIRE(cuDeviceGetPCIBusId(bus, sizeof bus, 0) == CUDA_SUCCESS);
  CUdevice dev = -1;
  CHECK(cuDeviceGetByPCIBusId(&dev, bus) == CUDA_SUCCESS);
  CHECK(dev == 0);
  CHECK(cuDeviceGetByPCIBusId(&dev, "ffff:ff:1f.0") == CUDA_ERROR_INVALID_DEVICE);
}

TEST_CASE("error names and strings cover every code") {
  const char *s = nullptr;
  CHECK(cuGetErrorName(CUDA_ERROR_INVALID_VALUE, &s) == CUDA_SUCCESS);
  CHECK(std::string(s) == "CUDA_ERROR_INVALID_VALUE");
  CHECK(cuGetErrorString(CUDA_ERROR_OUT_OF_MEMORY, &s) == CUDA_SUCCESS);
  CHECK(std::string(s) == "out of memory");
  CHECK(cuGetErrorName(CUDA_ERROR_UNKNOWN, &s) == CUDA_SUCCESS);
  CHECK(cuGetErrorName(static_cast<CUresult>(123456), &s) == CUDA_ERROR_INVALID_VALUE);
  for (int code : {0, 1, 2, 3, 100, 200, 201, 209, 218, 300, 400, 500, 600, 700, 710, 719, 800, 999})
    CHECK_MESSAGE(cuGetErrorString(static_cast<CUresult>(code), &s) == CUDA_SUCCESS, "code " << code);
}
