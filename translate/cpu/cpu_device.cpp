// The host CPU as a CUDA device: its properties and its memory.
#include "runtime/log.h"
#include "translate/cpu/cpu_backend.h"
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <string_view>
#include <sys/mman.h>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>
#include <xxhash.h>

namespace cuvirt::cpu {
namespace {

std::string cpuModel() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("model name", 0) == 0) {
      auto colon = line.find(':');
      auto model = line.substr(colon + 1);
      model.erase(0, model.find_first_not_of(' '));
      return model;
    }
  return "unknown CPU";
}

int envInt(const char *name, int fallback) {
  const char *v = std::getenv(name);
  return v ? std::atoi(v) : fallback;
}

DeviceProps makeProps() {
  DeviceProps p;
  p.name = "cuvirt CPU (" + cpuModel() + ")";
  p.totalMemory = static_cast<std::uint64_t>(sysconf(_SC_PHYS_PAGES)) * sysconf(_SC_PAGESIZE);
  // A stable identity: derived from the model name and the machine id.
  std::string seed = p.name;
  std::ifstream mid("/etc/machine-id");
  std::string machine;
  std::getline(mid, machine);
  seed += machine;
  XXH128_hash_t h = XXH3_128bits(seed.data(), seed.size());
  std::memcpy(p.uuid.bytes, &h, sizeof(p.uuid.bytes));

  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  // Compute capability: what the PTX of today's toolkits targets by default
  // and above (CUVIRT_CPU_CC=major*10+minor overrides).
  const int cc = envInt("CUVIRT_CPU_CC", 80);
  auto &a = p.attributes;
  auto set = [&](CUdevice_attribute attr, int v) { a[attr] = v; };
  set(CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK, 1024);
  set(CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_X, 1024);
  set(CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_Y, 1024);
  set(CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_Z, 64);
  set(CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_X, 2147483647);
  set(CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Y, 65535);
  set(CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Z, 65535);
  set(CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK, 48 * 1024);
  set(CU_DEVICE_ATTRIBUTE_TOTAL_CONSTANT_MEMORY, 64 * 1024);
  set(CU_DEVICE_ATTRIBUTE_WARP_SIZE, 32);
  set(CU_DEVICE_ATTRIBUTE_MAX_PITCH, 2147483647);
  set(CU_DEVICE_ATTRIBUTE_MAX_REGISTERS_PER_BLOCK, 65536);
  set(CU_DEVICE_ATTRIBUTE_CLOCK_RATE, 2000000);
  set(CU_DEVICE_ATTRIBUTE_TEXTURE_ALIGNMENT, 512);
  set(CU_DEVICE_ATTRIBUTE_GPU_OVERLAP, 1);
  set(CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, cores);
  set(CU_DEVICE_ATTRIBUTE_KERNEL_EXEC_TIMEOUT, 0);
  set(CU_DEVICE_ATTRIBUTE_INTEGRATED, 1);
  set(CU_DEVICE_ATTRIBUTE_CAN_MAP_HOST_MEMORY, 1);
  set(CU_DEVICE_ATTRIBUTE_COMPUTE_MODE, CU_COMPUTEMODE_DEFAULT);
  set(CU_DEVICE_ATTRIBUTE_MAXIMUM_TEXTURE1D_WIDTH, 131072);
  set(CU_DEVICE_ATTRIBUTE_MAXIMUM_TEXTURE2D_WIDTH, 131072);
  set(CU_DEVICE_ATTRIBUTE_MAXIMUM_TEXTURE2D_HEIGHT, 65536);
  set(CU_DEVICE_ATTRIBUTE_MAXIMUM_TEXTURE3D_WIDTH, 16384);
  set(CU_DEVICE_ATTRIBUTE_MAXIMUM_TEXTURE3D_HEIGHT, 16384);
  set(CU_DEVICE_ATTRIBUTE_MAXIMUM_TEXTURE3D_DEPTH, 16384);
  set(CU_DEVICE_ATTRIBUTE_MAXIMUM_TEXTURE2D_LAYERED_WIDTH, 32768);
  set(CU_DEVICE_ATTRIBUTE_MAXIMUM_TEXTURE2D_LAYERED_HEIGHT, 32768);
  set(CU_DEVICE_ATTRIBUTE_MAXIMUM_TEXTURE2D_LAYERED_LAYERS, 2048);
  set(CU_DEVICE_ATTRIBUTE_SURFACE_ALIGNMENT, 512);
  set(CU_DEVICE_ATTRIBUTE_CONCURRENT_KERNELS, 1);
  set(CU_DEVICE_ATTRIBUTE_ECC_ENABLED, 0);
  set(CU_DEVICE_ATTRIBUTE_PCI_BUS_ID, 0);
  set(CU_DEVICE_ATTRIBUTE_PCI_DEVICE_ID, 0);
  set(CU_DEVICE_ATTRIBUTE_TCC_DRIVER, 0);
  set(CU_DEVICE_ATTRIBUTE_MEMORY_CLOCK_RATE, 3200000);
  set(CU_DEVICE_ATTRIBUTE_GLOBAL_MEMORY_BUS_WIDTH, 128);
  set(CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE, 4 * 1024 * 1024);
  set(CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_MULTIPROCESSOR, 2048);
  set(CU_DEVICE_ATTRIBUTE_ASYNC_ENGINE_COUNT, 2);
  set(CU_DEVICE_ATTRIBUTE_UNIFIED_ADDRESSING, 1);
  set(CU_DEVICE_ATTRIBUTE_MAXIMUM_TEXTURE1D_LAYERED_WIDTH, 32768);
  set(CU_DEVICE_ATTRIBUTE_MAXIMUM_TEXTURE1D_LAYERED_LAYERS, 2048);
  set(CU_DEVICE_ATTRIBUTE_CAN_TEX2D_GATHER, 1);
  set(CU_DEVICE_ATTRIBUTE_MAXIMUM_TEXTURE2D_GATHER_WIDTH, 32768);
  set(CU_DEVICE_ATTRIBUTE_MAXIMUM_TEXTURE2D_GATHER_HEIGHT, 32768);
  set(CU_DEVICE_ATTRIBUTE_MAXIMUM_TEXTURE3D_WIDTH_ALTERNATE, 8192);
  set(CU_DEVICE_ATTRIBUTE_MAXIMUM_TEXTURE3D_HEIGHT_ALTERNATE, 8192);
  set(CU_DEVICE_ATTRIBUTE_MAXIMUM_TEXTURE3D_DEPTH_ALTERNATE, 32768);
  set(CU_DEVICE_ATTRIBUTE_PCI_DOMAIN_ID, 0);
  set(CU_DEVICE_ATTRIBUTE_TEXTURE_PITCH_ALIGNMENT, 32);
  set(CU_DEVICE_ATTRIBUTE_MAXIMUM_TEXTURECUBEMAP_WIDTH, 32768);
  set(CU_DEVICE_ATTRIBUTE_MAXIMUM_TEXTURECUBEMAP_LAYERED_WIDTH, 32768);
  set(CU_DEVICE_ATTRIBUTE_MAXIMUM_TEXTURECUBEMAP_LAYERED_LAYERS, 2046);
  set(CU_DEVICE_ATTRIBUTE_MAXIMUM_SURFACE1D_WIDTH, 32768);
  set(CU_DEVICE_ATTRIBUTE_MAXIMUM_SURFACE2D_WIDTH, 131072);
  set(CU_DEVICE_ATTRIBUTE_MAXIMUM_SURFACE2D_HEIGHT, 65536);
  set(CU_DEVICE_ATTRIBUTE_MAXIMUM_SURFACE3D_WIDTH, 16384);
  set(CU_DEVICE_ATTRIBUTE_MAXIMUM_SURFACE3D_HEIGHT, 16384);
  set(CU_DEVICE_ATTRIBUTE_MAXIMUM_SURFACE3D_DEPTH, 16384);
  set(CU_DEVICE_ATTRIBUTE_MAXIMUM_SURFACE1D_LAYERED_WIDTH, 32768);
  set(CU_DEVICE_ATTRIBUTE_MAXIMUM_SURFACE1D_LAYERED_LAYERS, 2048);
  set(CU_DEVICE_ATTRIBUTE_MAXIMUM_SURFACE2D_LAYERED_WIDTH, 32768);
  set(CU_DEVICE_ATTRIBUTE_MAXIMUM_SURFACE2D_LAYERED_HEIGHT, 32768);
  set(CU_DEVICE_ATTRIBUTE_MAXIMUM_SURFACE2D_LAYERED_LAYERS, 2048);
  set(CU_DEVICE_ATTRIBUTE_MAXIMUM_SURFACECUBEMAP_WIDTH, 32768);
  set(CU_DEVICE_ATTRIBUTE_MAXIMUM_SURFACECUBEMAP_LAYERED_WIDTH, 32768);
  set(CU_DEVICE_ATTRIBUTE_MAXIMUM_SURFACECUBEMAP_LAYERED_LAYERS, 2046);
  set(CU_DEVICE_ATTRIBUTE_MAXIMUM_TEXTURE1D_LINEAR_WIDTH, 268435456);
  set(CU_DEVICE_ATTRIBUTE_MAXIMUM_TEXTURE2D_LINEAR_WIDTH, 131072);
  set(CU_DEVICE_ATTRIBUTE_MAXIMUM_TEXTURE2D_LINEAR_HEIGHT, 65000);
  set(CU_DEVICE_ATTRIBUTE_MAXIMUM_TEXTURE2D_LINEAR_PITCH, 2097120);
  set(CU_DEVICE_ATTRIBUTE_MAXIMUM_TEXTURE2D_MIPMAPPED_WIDTH, 32768);
  set(CU_DEVICE_ATTRIBUTE_MAXIMUM_TEXTURE2D_MIPMAPPED_HEIGHT, 32768);
  set(CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, cc / 10);
  set(CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, cc % 10);
  set(CU_DEVICE_ATTRIBUTE_MAXIMUM_TEXTURE1D_MIPMAPPED_WIDTH, 32768);
  set(CU_DEVICE_ATTRIBUTE_STREAM_PRIORITIES_SUPPORTED, 1);
  set(CU_DEVICE_ATTRIBUTE_GLOBAL_L1_CACHE_SUPPORTED, 1);
  set(CU_DEVICE_ATTRIBUTE_LOCAL_L1_CACHE_SUPPORTED, 1);
  set(CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_MULTIPROCESSOR, 164 * 1024);
  set(CU_DEVICE_ATTRIBUTE_MAX_REGISTERS_PER_MULTIPROCESSOR, 65536);
  set(CU_DEVICE_ATTRIBUTE_MANAGED_MEMORY, 1);
  set(CU_DEVICE_ATTRIBUTE_MULTI_GPU_BOARD, 0);
  set(CU_DEVICE_ATTRIBUTE_MULTI_GPU_BOARD_GROUP_ID, 0);
  set(CU_DEVICE_ATTRIBUTE_HOST_NATIVE_ATOMIC_SUPPORTED, 1);
  set(CU_DEVICE_ATTRIBUTE_SINGLE_TO_DOUBLE_PRECISION_PERF_RATIO, 2);
  set(CU_DEVICE_ATTRIBUTE_PAGEABLE_MEMORY_ACCESS, 1);
  set(CU_DEVICE_ATTRIBUTE_CONCURRENT_MANAGED_ACCESS, 1);
  set(CU_DEVICE_ATTRIBUTE_COMPUTE_PREEMPTION_SUPPORTED, 1);
  set(CU_DEVICE_ATTRIBUTE_CAN_USE_HOST_POINTER_FOR_REGISTERED_MEM, 1);
  set(CU_DEVICE_ATTRIBUTE_COOPERATIVE_LAUNCH, 1); // every block of the grid gets a thread (cpu_executor.cpp)
  set(CU_DEVICE_ATTRIBUTE_COOPERATIVE_MULTI_DEVICE_LAUNCH, 0);
  set(CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN, 160 * 1024);
  set(CU_DEVICE_ATTRIBUTE_CAN_FLUSH_REMOTE_WRITES, 0);
  set(CU_DEVICE_ATTRIBUTE_HOST_REGISTER_SUPPORTED, 1);
  set(CU_DEVICE_ATTRIBUTE_PAGEABLE_MEMORY_ACCESS_USES_HOST_PAGE_TABLES, 1);
  set(CU_DEVICE_ATTRIBUTE_DIRECT_MANAGED_MEM_ACCESS_FROM_HOST, 1);
  set(CU_DEVICE_ATTRIBUTE_VIRTUAL_MEMORY_MANAGEMENT_SUPPORTED, 1);         // memfd-backed (runtime/vmm.cpp)
  set(CU_DEVICE_ATTRIBUTE_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR_SUPPORTED, 1); // the memfd itself
  set(CU_DEVICE_ATTRIBUTE_CAN_USE_STREAM_MEM_OPS_V1, 1);                   // runtime/stream_memops.cpp
  set(CU_DEVICE_ATTRIBUTE_IPC_EVENT_SUPPORTED, 1);                         // runtime/ipc.cpp
  set(CU_DEVICE_ATTRIBUTE_CAN_USE_64_BIT_STREAM_MEM_OPS_V1, 1);
  set(CU_DEVICE_ATTRIBUTE_CAN_USE_STREAM_WAIT_VALUE_NOR_V1, 1);
  set(CU_DEVICE_ATTRIBUTE_CAN_USE_64_BIT_STREAM_MEM_OPS, 1);
  set(CU_DEVICE_ATTRIBUTE_CAN_USE_STREAM_WAIT_VALUE_NOR, 1);
  set(CU_DEVICE_ATTRIBUTE_MAX_BLOCKS_PER_MULTIPROCESSOR, 32);
  set(CU_DEVICE_ATTRIBUTE_GENERIC_COMPRESSION_SUPPORTED, 0);
  set(CU_DEVICE_ATTRIBUTE_MAX_PERSISTING_L2_CACHE_SIZE, 0);
  set(CU_DEVICE_ATTRIBUTE_MAX_ACCESS_POLICY_WINDOW_SIZE, 0);
  set(CU_DEVICE_ATTRIBUTE_RESERVED_SHARED_MEMORY_PER_BLOCK, 1024);
  set(CU_DEVICE_ATTRIBUTE_READ_ONLY_HOST_REGISTER_SUPPORTED, 1);
  set(CU_DEVICE_ATTRIBUTE_MEMORY_POOLS_SUPPORTED, 1);
  set(CU_DEVICE_ATTRIBUTE_MEMPOOL_SUPPORTED_HANDLE_TYPES, 0);
  set(CU_DEVICE_ATTRIBUTE_CLUSTER_LAUNCH, 1); // blocks of a cluster get a thread each (cpu_executor.cpp)
  set(CU_DEVICE_ATTRIBUTE_MEM_SYNC_DOMAIN_COUNT, 1);
  set(CU_DEVICE_ATTRIBUTE_UNIFIED_FUNCTION_POINTERS, 1);
  set(CU_DEVICE_ATTRIBUTE_NUMA_CONFIG, 0);
  set(CU_DEVICE_ATTRIBUTE_NUMA_ID, -1);
  set(CU_DEVICE_ATTRIBUTE_HOST_NUMA_ID, -1);
  return p;
}

} // namespace

constexpr std::size_t kHugePage = std::size_t(2) << 20;
constexpr unsigned char kZeroLine[64] = {};

CpuDevice::CpuDevice() : props_(makeProps()) {}

Status CpuDevice::commit(std::uint64_t address, std::size_t bytes) {
  if (mprotect(reinterpret_cast<void *>(address), bytes, PROT_READ | PROT_WRITE) != 0)
    return error(CUDA_ERROR_OUT_OF_MEMORY, "cannot commit {} bytes of device memory", bytes);
  // A GPU maps device memory with large pages; kernels' strided grid loops
  // touch a new 4 KiB page per thread round, so 2 MiB pages spare the TLB.
  if (bytes >= kHugePage)
    madvise(reinterpret_cast<void *>(address), bytes, MADV_HUGEPAGE);
  return {};
}

void CpuDevice::release(std::uint64_t address, std::size_t bytes) {
  // The pages stay accessible (cheap reuse) but their memory goes back.
  madvise(reinterpret_cast<void *>(address), bytes, MADV_DONTNEED);
}

std::unique_ptr<Queue> CpuDevice::createQueue(int priority, ErrorSink *errors) {
  return std::make_unique<CpuQueue>(*this, priority, errors);
}

Status CpuDevice::copyNow(const CopyOp &op) {
  cpu::copyNow(op);
  return {};
}

Status CpuDevice::fillNow(const FillOp &op) {
  cpu::fillNow(op);
  return {};
}

namespace {
/// The name every cuvirt physical allocation's memfd carries, so an import
/// can tell one from an arbitrary descriptor.
constexpr const char *kMemfdName = "cuvirt-vmm";

class CpuPhysical : public PhysicalMemory {
public:
  CpuPhysical(int fd, std::size_t bytes) : fd_(fd), bytes_(bytes) {}
  ~CpuPhysical() override { close(fd_); }
  CpuPhysical(const CpuPhysical &) = delete;
  CpuPhysical &operator=(const CpuPhysical &) = delete;
  [[nodiscard]] std::size_t size() const override { return bytes_; }
  [[nodiscard]] int fd() const override { return fd_; }

private:
  int fd_;
  std::size_t bytes_;
};
} // namespace

Expected<std::shared_ptr<PhysicalMemory>> CpuDevice::createPhysical(std::size_t bytes) {
  int fd = memfd_create(kMemfdName, MFD_CLOEXEC);
  if (fd < 0)
    return error(CUDA_ERROR_OUT_OF_MEMORY, "memfd_create: {}", std::strerror(errno));
  // Sparse, like the address window: pages are backed when first touched.
  if (ftruncate(fd, static_cast<off_t>(bytes)) != 0) {
    close(fd);
    return error(CUDA_ERROR_OUT_OF_MEMORY, "cannot size physical memory of {} bytes", bytes);
  }
  return std::shared_ptr<PhysicalMemory>(std::make_shared<CpuPhysical>(fd, bytes));
}

Expected<std::shared_ptr<PhysicalMemory>> CpuDevice::importPhysical(int fd) {
  char link[64], target[256] = {};
  std::snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  const ssize_t n = readlink(link, target, sizeof target - 1);
  const std::string expected = std::string("/memfd:") + kMemfdName;
  if (n <= 0 || std::string_view(target, n).substr(0, expected.size()) != expected)
    return error(CUDA_ERROR_INVALID_VALUE, "descriptor {} is not cuvirt device memory", fd);
  struct stat st{};
  if (fstat(fd, &st) != 0 || st.st_size <= 0)
    return error(CUDA_ERROR_INVALID_VALUE, "descriptor {}: cannot read its size", fd);
  int own = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (own < 0)
    return error(CUDA_ERROR_OUT_OF_MEMORY, "cannot duplicate descriptor {}: {}", fd, std::strerror(errno));
  return std::shared_ptr<PhysicalMemory>(
      std::make_shared<CpuPhysical>(own, static_cast<std::size_t>(st.st_size)));
}

Status CpuDevice::mapPhysical(std::uint64_t address, std::size_t bytes, PhysicalMemory &memory,
                              std::size_t offset) {
  void *p = mmap(reinterpret_cast<void *>(address), bytes, PROT_NONE, MAP_SHARED | MAP_FIXED, memory.fd(),
                 static_cast<off_t>(offset));
  if (p == MAP_FAILED)
    return error(CUDA_ERROR_OUT_OF_MEMORY, "cannot map {} bytes at 0x{:x}: {}", bytes, address,
                 std::strerror(errno));
  return {};
}

Status CpuDevice::unmapPhysical(std::uint64_t address, std::size_t bytes) {
  // Replacing the mapping drops the shared pages and keeps the range reserved.
  void *p = mmap(reinterpret_cast<void *>(address), bytes, PROT_NONE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);
  if (p == MAP_FAILED)
    return error(CUDA_ERROR_OUT_OF_MEMORY, "cannot unmap 0x{:x}: {}", address, std::strerror(errno));
  return {};
}

Status CpuDevice::setAccess(std::uint64_t address, std::size_t bytes, unsigned access) {
  const int prot = access == CU_MEM_ACCESS_FLAGS_PROT_READWRITE ? PROT_READ | PROT_WRITE
                   : access == CU_MEM_ACCESS_FLAGS_PROT_READ    ? PROT_READ
                                                                : PROT_NONE;
  if (mprotect(reinterpret_cast<void *>(address), bytes, prot) != 0)
    return error(CUDA_ERROR_INVALID_VALUE, "cannot set access on 0x{:x}: {}", address, std::strerror(errno));
  return {};
}

namespace {
bool allZero(const unsigned char *p, std::size_t n) {
  for (std::size_t i = 0; i < n; i += 64)
    if (std::memcmp(p + i, kZeroLine, std::min<std::size_t>(64, n - i)) != 0)
      return false;
  return true;
}

/// Copies [from, from + bytes) to `to` page by page, skipping pages that are
/// all zero, so never-touched memory stays unbacked on both sides.
void copyNonZeroPages(unsigned char *to, const unsigned char *from, std::size_t bytes) {
  const std::size_t page = sysconf(_SC_PAGESIZE);
  // Runs of non-zero pages: each is backed in one call first (one fault per
  // 4 KiB page costs about as much as the copy itself).
  auto flush = [&](std::size_t begin, std::size_t end) {
    if (end <= begin)
      return;
#ifdef MADV_POPULATE_WRITE
    madvise(to + begin, end - begin, MADV_POPULATE_WRITE); // a hint: the copy faults in what it misses
#endif
    std::memcpy(to + begin, from + begin, end - begin);
  };
  std::size_t runStart = 0;
  for (std::size_t off = 0; off < bytes; off += page) {
    const std::size_t n = std::min(page, bytes - off);
    if (allZero(from + off, n)) {
      flush(runStart, off);
      runStart = off + n;
    }
  }
  flush(runStart, bytes);
}

/// Replaces [address, address + bytes) with a fresh mapping holding the same
/// bytes: `fresh` is filled, then moved over the range in one mremap, so the
/// range is never unmapped in between.
Status replaceMapping(std::uint64_t address, std::size_t bytes, void *fresh) {
  auto *at = reinterpret_cast<unsigned char *>(address);
  copyNonZeroPages(static_cast<unsigned char *>(fresh), at, bytes);
  if (mremap(fresh, bytes, bytes, MREMAP_MAYMOVE | MREMAP_FIXED, at) == MAP_FAILED) {
    const int err = errno;
    munmap(fresh, bytes);
    return error(CUDA_ERROR_OUT_OF_MEMORY, "cannot move memory to 0x{:x}: {}", address, std::strerror(err));
  }
  return {};
}
} // namespace

Expected<int> CpuDevice::shareMemory(std::uint64_t address, std::size_t bytes, const char *name) {
  int fd = memfd_create(name, MFD_CLOEXEC);
  if (fd < 0)
    return error(CUDA_ERROR_OUT_OF_MEMORY, "memfd_create: {}", std::strerror(errno));
  void *fresh = MAP_FAILED;
  if (ftruncate(fd, static_cast<off_t>(bytes)) == 0)
    fresh = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (fresh == MAP_FAILED) {
    close(fd);
    return error(CUDA_ERROR_OUT_OF_MEMORY, "cannot make {} bytes of shared memory", bytes);
  }
  if (Status s = replaceMapping(address, bytes, fresh); !s.ok()) {
    close(fd);
    return s;
  }
  return fd;
}

Status CpuDevice::unshareMemory(std::uint64_t address, std::size_t bytes) {
  void *fresh =
      mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (fresh == MAP_FAILED)
    return error(CUDA_ERROR_OUT_OF_MEMORY, "cannot make {} bytes of private memory", bytes);
  CUVIRT_TRY(replaceMapping(address, bytes, fresh));
  if (bytes >= kHugePage)
    madvise(reinterpret_cast<void *>(address), bytes, MADV_HUGEPAGE);
  return {};
}

Status CpuDevice::mapShared(std::uint64_t address, std::size_t bytes, int fd, std::size_t offset) {
  void *p = mmap(reinterpret_cast<void *>(address), bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd,
                 static_cast<off_t>(offset));
  if (p == MAP_FAILED)
    return error(CUDA_ERROR_MAP_FAILED, "cannot map {} bytes of shared memory at 0x{:x}: {}", bytes, address,
                 std::strerror(errno));
  return {};
}

void CpuDevice::unmapShared(std::uint64_t address, std::size_t bytes, bool committed) {
  mmap(reinterpret_cast<void *>(address), bytes, committed ? PROT_READ | PROT_WRITE : PROT_NONE,
       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);
}

class CpuBackend : public Backend {
public:
  [[nodiscard]] std::string name() const override { return "cpu"; }
  std::vector<std::unique_ptr<BackendDevice>> devices() override {
    std::vector<std::unique_ptr<BackendDevice>> out;
    out.push_back(std::make_unique<CpuDevice>());
    return out;
  }
};

} // namespace cuvirt::cpu

namespace cuvirt {
std::unique_ptr<Backend> makeCpuBackend() { return std::make_unique<cpu::CpuBackend>(); }
} // namespace cuvirt
