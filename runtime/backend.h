// The backend interface: what a kind of device (CPU, HIP, Level Zero, a
// remote server) must provide. Small and coarse on purpose (AdaptiveCpp's
// style): contexts, default-stream rules, error stickiness and pointer
// attributes are runtime/'s, written once above it.
#pragma once
#include "runtime/marker.h"
#include "runtime/module_info.h"
#include "runtime/status.h"
#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace cuvirt {

/// What a device reports: its name, memory, identity and every
/// CUdevice_attribute value.
struct DeviceProps {
  std::string name;
  std::uint64_t totalMemory = 0;
  CUuuid uuid{};
  std::array<int, CU_DEVICE_ATTRIBUTE_MAX> attributes{};
};

/// Where asynchronous work reports a failure (a kernel fault, a trap). The
/// runtime makes it sticky on the context, as a GPU would.
class ErrorSink {
public:
  virtual ~ErrorSink() = default;
  virtual void asyncError(CUresult code, const std::string &message) = 0;
  /// Where the work ran, for tools that show execution (cuvirt-trace):
  /// called after a kernel, copy or fill finished, if anyone listens.
  virtual void executed(const char *kind, const std::string &name, Marker::Clock::time_point start,
                        Marker::Clock::time_point end) {
    (void)kind, (void)name, (void)start, (void)end;
  }
  [[nodiscard]] virtual bool wantsExecutionSpans() const { return false; }
};

/// A listener for execution spans of every stream (stream id, kind, name,
/// start, end); set by the tracer.
using SpanHook = void (*)(std::uint64_t stream, const char *kind, const std::string &name,
                          Marker::Clock::time_point start, Marker::Clock::time_point end);
void setSpanHook(SpanHook hook);
SpanHook spanHook();

/// A strided 3-D copy; 1-D and 2-D copies are special cases. Addresses are
/// device addresses or host pointers, as the *Host flags say.
struct CopyOp {
  std::uint64_t dst = 0, src = 0;
  bool dstHost = false, srcHost = false;
  std::size_t widthBytes = 0, height = 1, depth = 1;
  std::size_t dstPitch = 0, dstSliceBytes = 0; ///< 0 = packed
  std::size_t srcPitch = 0, srcSliceBytes = 0;
};

/// memset of `width` elements of `elementSize` (1, 2 or 4) bytes in each of
/// `height` rows `pitch` bytes apart.
struct FillOp {
  std::uint64_t dst = 0;
  std::size_t pitch = 0, width = 0, height = 1;
  std::uint32_t value = 0;
  unsigned elementSize = 1;
};

class BackendKernel;

/// Where kernels' printf and assert text goes instead of this process's
/// stdout/stderr: cuvirtd forwards a session's to its client.
class OutputSink {
public:
  virtual ~OutputSink() = default;
  /// `fd` 1: printf output; 2: assertion messages. Called from any thread.
  virtual void write(int fd, std::string_view text) = 0;
};

struct LaunchOp {
  BackendKernel *kernel = nullptr;
  std::uint32_t grid[3] = {1, 1, 1}, block[3] = {1, 1, 1};
  std::uint32_t dynamicSharedBytes = 0;
  std::vector<std::uint8_t> params; ///< packed by the kernel's layout
  std::vector<ParamInfo> layout;    ///< where each parameter sits in `params`
  std::string name;                 ///< for messages
  /// Cooperative launch: all blocks run at once, with a zeroed grid
  /// workspace for grid-wide sync (a backend that cannot must not run it).
  bool cooperative = false;
  /// Thread block clusters (blocks per cluster in x, y, z): the blocks of a
  /// cluster run at once and share their shared memory and cluster barrier.
  std::uint32_t cluster[3] = {1, 1, 1};
  OutputSink *output = nullptr; ///< null: this process's stdout/stderr
};

/// An in-order queue of work (a stream's backing).
class Queue {
public:
  virtual ~Queue() = default;
  virtual void copy(const CopyOp &op) = 0;
  virtual void fill(const FillOp &op) = 0;
  virtual void launch(LaunchOp op) = 0;
  virtual void hostFunc(std::function<void()> fn) = 0;
  /// Completes `marker` when all work enqueued before it has finished.
  virtual void record(MarkerPtr marker) = 0;
  /// Work enqueued after this waits until `marker` completes.
  virtual void wait(MarkerPtr marker) = 0;
  /// True when everything enqueued so far has finished.
  [[nodiscard]] virtual bool idle() = 0;
  /// Blocks until everything enqueued so far has finished.
  virtual void synchronize() = 0;
};

class BackendKernel {
public:
  virtual ~BackendKernel() = default;
};

/// A module as the backend loaded it: code for the kernels, bound to the
/// global variables the runtime allocated.
class BackendModule {
public:
  virtual ~BackendModule() = default;
  /// The kernel, compiling on first use if the backend compiles lazily.
  virtual Expected<BackendKernel *> kernel(const std::string &name) = 0;
};

struct ModuleSource {
  std::string ptx;                  ///< chosen PTX text ("" if none)
  std::string cubin;                ///< chosen cubin ELF ("" if none)
  const ModuleInfo *info = nullptr; ///< kernels and globals
  /// Device addresses of the module's variables, by name.
  std::vector<std::pair<std::string, std::uint64_t>> globals;
};

/// How busy a device is, for CUVIRT_DEVICES=N (the N least-loaded devices).
struct DeviceLoad {
  std::uint32_t users = 0;     ///< other processes using it (a server's sessions)
  std::uint64_t freeBytes = 0; ///< memory not committed by anyone
  bool known = true;           ///< false: could not be asked (sorts last)
};

/// Physical memory for virtual memory management (cuMemCreate), as the
/// backend made it; freed when the last owner lets go.
class PhysicalMemory {
public:
  virtual ~PhysicalMemory() = default;
  [[nodiscard]] virtual std::size_t size() const = 0;
  /// A POSIX file descriptor for it that another process can map (owned by
  /// this object), or -1.
  [[nodiscard]] virtual int fd() const { return -1; }
};

class BackendDevice {
public:
  virtual ~BackendDevice() = default;
  [[nodiscard]] virtual const DeviceProps &props() const = 0;
  /// Makes [address, address + bytes) usable device memory. The runtime owns
  /// the address window and hands out addresses; the backend backs them.
  virtual Status commit(std::uint64_t address, std::size_t bytes) = 0;
  /// Gives the memory back (its contents are lost); addresses stay reserved.
  virtual void release(std::uint64_t address, std::size_t bytes) = 0;
  /// True when device memory is plain host memory (the CPU device).
  [[nodiscard]] virtual bool hostVisible() const = 0;
  /// Makes committed [address, address + bytes) managed memory
  /// (cuMemAllocManaged): the host reads and writes it at the same address.
  /// Host-visible devices have nothing to do.
  virtual Status manage(std::uint64_t address, std::size_t bytes) {
    (void)address, (void)bytes;
    return hostVisible() ? Status() : Status(CUDA_ERROR_NOT_SUPPORTED);
  }
  /// The managed range is being freed.
  virtual void unmanage(std::uint64_t address, std::size_t bytes) { (void)address, (void)bytes; }
  /// Virtual memory management (cuMemCreate/cuMemMap, runtime/vmm.cpp): the
  /// runtime reserves address ranges; the backend creates physical memory
  /// and maps it into them. Without it the device reports
  /// VIRTUAL_MEMORY_MANAGEMENT_SUPPORTED 0 and the calls NOT_SUPPORTED.
  [[nodiscard]] virtual bool supportsVmm() const { return false; }
  virtual Expected<std::shared_ptr<PhysicalMemory>> createPhysical(std::size_t bytes) {
    (void)bytes;
    return Status(CUDA_ERROR_NOT_SUPPORTED);
  }
  /// Physical memory another process exported as a POSIX file descriptor
  /// (the caller keeps its descriptor).
  virtual Expected<std::shared_ptr<PhysicalMemory>> importPhysical(int fd) {
    (void)fd;
    return Status(CUDA_ERROR_NOT_SUPPORTED);
  }
  /// Maps [offset, offset + bytes) of `memory` at `address`, inside a range
  /// the runtime reserved; the mapping starts inaccessible.
  virtual Status mapPhysical(std::uint64_t address, std::size_t bytes, PhysicalMemory &memory,
                             std::size_t offset) {
    (void)address, (void)bytes, (void)memory, (void)offset;
    return CUDA_ERROR_NOT_SUPPORTED;
  }
  /// Turns a mapped range back into an inaccessible reservation.
  virtual Status unmapPhysical(std::uint64_t address, std::size_t bytes) {
    (void)address, (void)bytes;
    return CUDA_ERROR_NOT_SUPPORTED;
  }
  /// CU_MEM_ACCESS_FLAGS_PROT_NONE, _READ or _READWRITE on a mapped range.
  virtual Status setAccess(std::uint64_t address, std::size_t bytes, unsigned access) {
    (void)address, (void)bytes, (void)access;
    return CUDA_ERROR_NOT_SUPPORTED;
  }
  /// Legacy IPC (runtime/ipc.cpp). Moves committed, page-aligned [address,
  /// address + bytes) into memory another process can map, keeping its
  /// address and contents; returns a descriptor the caller owns (named
  /// `name`, which importers check). Remote devices cannot: their memory is
  /// the server's.
  virtual Expected<int> shareMemory(std::uint64_t address, std::size_t bytes, const char *name) {
    (void)address, (void)bytes, (void)name;
    return Status(CUDA_ERROR_NOT_SUPPORTED);
  }
  /// Moves a shared range back into private memory, contents kept.
  virtual Status unshareMemory(std::uint64_t address, std::size_t bytes) {
    (void)address, (void)bytes;
    return CUDA_ERROR_NOT_SUPPORTED;
  }
  /// Maps [offset, offset + bytes) of another process's shared memory `fd`
  /// read-write at page-aligned `address`, in the device window.
  virtual Status mapShared(std::uint64_t address, std::size_t bytes, int fd, std::size_t offset) {
    (void)address, (void)bytes, (void)fd, (void)offset;
    return CUDA_ERROR_NOT_SUPPORTED;
  }
  /// Undoes mapShared: committed (usable, private) memory again if
  /// `committed`, else an inaccessible reservation.
  virtual void unmapShared(std::uint64_t address, std::size_t bytes, bool committed) {
    (void)address, (void)bytes, (void)committed;
  }
  /// Its load now. A local device has no other users the backend knows of.
  virtual DeviceLoad load() { return {0, props().totalMemory, true}; }
  virtual std::unique_ptr<Queue> createQueue(int priority, ErrorSink *errors) = 0;
  /// Synchronous copy and fill, for when nothing is queued ahead of them.
  virtual Status copyNow(const CopyOp &op) = 0;
  virtual Status fillNow(const FillOp &op) = 0;
  virtual Expected<std::unique_ptr<BackendModule>> loadModule(const ModuleSource &source,
                                                              std::string &log) = 0;
};

/// A kind of device. backends() lists the ones this process has.
class Backend {
public:
  virtual ~Backend() = default;
  [[nodiscard]] virtual std::string name() const = 0;
  virtual std::vector<std::unique_ptr<BackendDevice>> devices() = 0;
};

/// The embedded default: the host CPU as a CUDA device (translate/cpu).
std::unique_ptr<Backend> makeCpuBackend();
/// Devices served by cuvirtd servers (remote/client), from CUVIRT_REMOTE.
std::unique_ptr<Backend> makeRemoteBackend();

/// The backends CUVIRT_BACKEND asks for, in device order (default: cpu).
std::vector<std::string> backendNames();
/// A backend by name, or nullptr (with a logged reason).
std::unique_ptr<Backend> makeBackend(const std::string &name);

} // namespace cuvirt
