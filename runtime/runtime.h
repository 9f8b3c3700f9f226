// The runtime's object model: devices, contexts, streams, events, modules,
// allocations. CUDA semantics live here once, for every backend.
#pragma once
#include "runtime/backend.h"
#include "runtime/handles.h"
#include "runtime/status.h"
#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace cuvirt {

struct Context;
struct Device;
struct Stream;
struct Event;
struct Module;
struct Function;
struct CaptureSession; // runtime/capture.cpp
struct IpcEvent;       // runtime/ipc.cpp

/// A device's disjoint window of virtual addresses, from which its
/// allocations are carved (ARCHITECTURE.md: device pointers are never
/// translated). Freed ranges are coalesced and reused.
class AddressWindow {
public:
  Status reserve(std::size_t bytes);
  [[nodiscard]] std::uint64_t base() const { return base_; }
  [[nodiscard]] std::size_t size() const { return size_; }
  [[nodiscard]] bool contains(std::uint64_t p) const { return p >= base_ && p < base_ + size_; }
  /// A range of `bytes` (already rounded) or 0 when the window is full.
  std::uint64_t take(std::size_t bytes);
  void give(std::uint64_t address, std::size_t bytes);
  /// The end of the highest range ever handed out.
  [[nodiscard]] std::uint64_t highWater() const { return highWater_; }

private:
  std::uint64_t base_ = 0;
  std::size_t size_ = 0;
  std::uint64_t highWater_ = 0;
  std::map<std::uint64_t, std::size_t> freeByAddress_;
  std::multimap<std::size_t, std::uint64_t> freeBySize_;
};

/// A stream-ordered memory pool (cuMemAllocAsync). Allocations are carved
/// from the device window like any other; the pool keeps the accounting.
struct MemPool {
  Device *device = nullptr;
  std::mutex mutex;
  std::uint64_t releaseThreshold = 0;
  int reuseFollowEvents = 1, reuseOpportunistic = 1, reuseInternal = 1;
  std::uint64_t used = 0, usedHigh = 0;
};

struct Device {
  int ordinal = 0;
  std::unique_ptr<BackendDevice> backend;
  std::mutex memoryMutex;
  AddressWindow window;
  std::uint64_t committedEnd = 0; ///< memory below this address is backed
  std::size_t liveBytes = 0;      ///< allocated and not freed
  // The primary context.
  std::mutex primaryMutex;
  Context *primary = nullptr;
  int primaryRefs = 0;
  unsigned primaryFlags = 0;
  // Stream-ordered allocation.
  MemPool defaultPool;
  MemPool *currentPool = &defaultPool;
  [[nodiscard]] const DeviceProps &props() const { return backend->props(); }
};

enum class MemKind { Device, Host, Registered, Managed };

struct Allocation {
  std::uint64_t base = 0;
  std::size_t size = 0;     ///< what was asked for
  std::size_t reserved = 0; ///< what was taken from the window (device kinds)
  MemKind kind = MemKind::Device;
  Device *device = nullptr;
  Context *context = nullptr;
  unsigned flags = 0;
  std::uint64_t bufferId = 0;
  bool global = false;     ///< a module variable, freed with its module
  MemPool *pool = nullptr; ///< set for stream-ordered allocations
  bool vmm = false;        ///< a run of cuMemMap mappings (vmm.cpp); flags = handle types
  bool ipc = false;        ///< another process's memory, cuIpcOpenMemHandle (ipc.cpp)
};

struct Context : ErrorSink {
  Device *device = nullptr;
  unsigned flags = 0;
  bool isPrimary = false;
  bool active = true; ///< a primary context between retain and its last release/reset
  std::atomic<CUresult> sticky{CUDA_SUCCESS};
  std::uint64_t id = 0;
  std::mutex mutex;
  Stream *legacy = nullptr;
  /// Shared ownership: a stream being synchronised by one thread may be
  /// destroyed by another.
  std::unordered_map<Stream *, std::shared_ptr<Stream>> streams;
  std::set<Event *> events;
  std::set<Module *> modules;
  std::size_t limits[CU_LIMIT_MAX] = {};
  CUfunc_cache cacheConfig = CU_FUNC_CACHE_PREFER_NONE;
  CUsharedconfig sharedConfig = CU_SHARED_MEM_CONFIG_DEFAULT_BANK_SIZE;

  void asyncError(CUresult code, const std::string &message) override;
  /// The sticky error, if one happened (an illegal address, a trap...).
  [[nodiscard]] Status stickyStatus() const;
};

struct Stream : ErrorSink {
  enum class Kind { Legacy, PerThread, User };
  Context *context = nullptr;
  std::unique_ptr<Queue> queue;
  Kind kind = Kind::User;
  unsigned flags = 0; ///< CU_STREAM_NON_BLOCKING
  int priority = 0;
  std::uint64_t id = 0;
  std::mutex submitMutex;
  /// The stream capture this stream takes part in, or null (runtime/capture.cpp).
  std::atomic<CaptureSession *> capture{nullptr};
  [[nodiscard]] bool blocking() const { return (flags & CU_STREAM_NON_BLOCKING) == 0; }
  // A stream reports its queue's failures to its context, and its spans to
  // whoever listens.
  void asyncError(CUresult code, const std::string &message) override { context->asyncError(code, message); }
  void executed(const char *kind, const std::string &name, Marker::Clock::time_point start,
                Marker::Clock::time_point end) override;
  [[nodiscard]] bool wantsExecutionSpans() const override { return spanHook() != nullptr; }
};

struct Event {
  Context *context = nullptr;
  unsigned flags = 0;
  std::mutex mutex;
  MarkerPtr marker; ///< the last record; null if never recorded
  /// CU_EVENT_INTERPROCESS: the state other processes see (ipc.cpp), made
  /// by cuIpcGetEventHandle (or cuIpcOpenEventHandle).
  std::shared_ptr<IpcEvent> ipc;
};

struct Function {
  Module *module = nullptr;
  const KernelInfo *info = nullptr;
  int maxDynamicSharedBytes = 48 * 1024;
  int preferredCarveout = -1;
  int clusterWidth = 0, clusterHeight = 0, clusterDepth = 0;
  CUfunc_cache cacheConfig = CU_FUNC_CACHE_PREFER_NONE;
  std::atomic<BackendKernel *> compiled{nullptr};
};

struct Module {
  Context *context = nullptr;
  Device *device = nullptr;
  bool isLibrary = false;
  ModuleInfo info;
  std::string ptx, cubin;
  int codeArch = 0; ///< the virtual (PTX .target) or real (cubin) architecture
  std::map<std::string, std::unique_ptr<Function>, std::less<>> functions;
  struct Global {
    std::uint64_t address;
    std::size_t size;
  };
  std::map<std::string, Global, std::less<>> globals;
  std::mutex backendMutex;
  std::unique_ptr<BackendModule> backend;
  /// Libraries are context-independent: a library handle is the instance on
  /// the device it was loaded for; other devices get theirs on first use.
  Module *root = nullptr; ///< the library this is an instance of (null: itself)
  std::map<Device *, Module *> instances;
};

/// Process-wide state. Never destroyed: cudart tears down from atexit
/// handlers and must still find a working driver.
struct Runtime {
  std::vector<std::unique_ptr<Backend>> backends;
  std::vector<std::unique_ptr<Device>> devices;
  HandleSet<Context> contexts;
  HandleSet<Stream> streams;
  HandleSet<Event> events;
  HandleSet<Module> modules;
  HandleSet<Function> functions;
  HandleSet<MemPool> pools;
  std::shared_mutex allocationsMutex;
  std::map<std::uint64_t, Allocation> allocations; ///< by base address
  std::atomic<std::uint64_t> nextId{1};
};

/// The runtime, after cuInit; CUDA_ERROR_NOT_INITIALIZED before.
Expected<Runtime *> runtime();
Runtime *runtimeIfInitialized();
Expected<Device *> deviceByOrdinal(CUdevice ordinal);

// Contexts (context.cpp).
Context *currentContext();
/// The current context, or CUDA_ERROR_INVALID_CONTEXT.
Expected<Context *> requireContext();
/// A context handle that must be live.
Expected<Context *> checkContext(CUcontext handle);
void setCurrentContext(Context *context);
Expected<Context *> retainPrimary(Device *device);
/// Called when a context's resources are cleared (destroy, reset, last
/// release), for state kept above the runtime (cudart's context storage).
void setContextClearedHook(void (*hook)(const void *context));

// Memory (memory.cpp).
/// Device memory on `device`; `owner` (may be null for library globals) frees it when destroyed.
Expected<std::uint64_t> allocateDevice(Device *device, Context *owner, std::size_t bytes, MemKind kind,
                                       unsigned flags = 0);
/// Frees a device or managed allocation by its base address.
Status freeDevice(std::uint64_t address);
std::optional<Allocation> findAllocation(std::uint64_t address);
void freeContextAllocations(Context *context);
/// The CUmemAccess_flags `device` has at a cuMemMap'ed address (vmm.cpp).
unsigned vmmAccess(std::uint64_t address, const Device *device);
/// Whether the host may read (or write) all of [address, address + bytes)
/// of cuMemMap'ed memory: false where cuMemSetAccess made it read-only or
/// inaccessible, or where nothing is mapped (vmm.cpp).
bool vmmHostAccessible(std::uint64_t address, std::size_t bytes, bool write);

// Legacy IPC (ipc.cpp).
/// A device allocation is being freed: memory exported to other processes
/// goes back to private memory (importers keep their mapping).
void ipcAllocationFreed(const Allocation &a);
/// A context is going: the memory it opened from other processes is closed.
void ipcContextGone(Context *context);
/// Interprocess events: record, query, synchronise and stream waits go
/// through memory shared with other processes.
Status ipcEventRecord(Event *e, Stream *s);
Status ipcEventQuery(Event *e);
Status ipcEventSynchronize(Event *e);
Status ipcEventWait(Stream *s, Event *e);

// Streams (stream.cpp).
/// The stream a handle names: NULL is the legacy default stream, or the
/// per-thread one inside a _ptds/_ptsz entry point; CU_STREAM_LEGACY and
/// CU_STREAM_PER_THREAD are honoured.
Expected<Stream *> resolveStream(CUstream handle);
/// Runs `enqueue(queue)` on the stream with the legacy default stream's
/// implicit synchronisation applied.
template <class F> Status submit(Stream *stream, F &&enqueue);
Status submitImpl(Stream *stream, const std::function<void(Queue &)> &enqueue);
template <class F> Status submit(Stream *stream, F &&enqueue) {
  return submitImpl(stream, std::function<void(Queue &)>(std::forward<F>(enqueue)));
}
/// Waits until everything submitted to the stream so far has finished.
Status synchronizeStream(Stream *stream);
void destroyStream(Stream *stream);
Status synchronizeContext(Context *context);

// Modules (module.cpp).
void destroyModule(Module *module);
/// A CUfunction or a CUkernel (cudart passes kernels as functions).
Expected<Function *> checkFunction(const void *handle);
/// The function as loaded on `device`: a library's kernel is instantiated
/// per device on first use.
Expected<Function *> functionOnDevice(Function *f, Device *device);

} // namespace cuvirt

namespace cuvirt {
/// Runs `now` in the caller when nothing is queued ahead of it on the stream
/// (the common case: no thread hand-off), else queues `queued` and waits.
/// Returns the context's sticky error, if any.
Status runSynchronously(Stream *stream, const std::function<Status()> &now,
                        const std::function<void(Queue &)> &queued);
} // namespace cuvirt
