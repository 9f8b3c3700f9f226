// The remote backend's objects: devices, queues, modules and kernels that
// stand for those of a cuvirtd session (runtime/backend.h).
#pragma once
#include "remote/client/connection.h"
#include <deque>

namespace cuvirt::remote {

class RemoteDevice : public BackendDevice {
public:
  RemoteDevice(std::shared_ptr<Connection> conn, std::uint32_t index, DeviceProps props)
      : conn_(std::move(conn)), index_(index), props_(std::move(props)) {
    // Cooperative launches travel from protocol v2 on, as the server's device
    // supports them; before, the runtime refuses them (CUDA_ERROR_NOT_SUPPORTED).
    if (conn_->version() < 2)
      props_.attributes[CU_DEVICE_ATTRIBUTE_COOPERATIVE_LAUNCH] = 0;
    props_.attributes[CU_DEVICE_ATTRIBUTE_COOPERATIVE_MULTI_DEVICE_LAUNCH] = 0;
    // Managed memory as on devices without concurrent access (the host copy
    // is exchanged at launches and synchronisation); host memory is not
    // mapped: a kernel on another machine cannot reach it (README.md).
    auto &a = props_.attributes;
    a[CU_DEVICE_ATTRIBUTE_MANAGED_MEMORY] = 1;
    a[CU_DEVICE_ATTRIBUTE_CONCURRENT_MANAGED_ACCESS] = 0;
    a[CU_DEVICE_ATTRIBUTE_PAGEABLE_MEMORY_ACCESS] = 0;
    a[CU_DEVICE_ATTRIBUTE_PAGEABLE_MEMORY_ACCESS_USES_HOST_PAGE_TABLES] = 0;
    a[CU_DEVICE_ATTRIBUTE_DIRECT_MANAGED_MEM_ACCESS_FROM_HOST] = 0;
    a[CU_DEVICE_ATTRIBUTE_HOST_NATIVE_ATOMIC_SUPPORTED] = 0;
    a[CU_DEVICE_ATTRIBUTE_CAN_MAP_HOST_MEMORY] = 0;
    a[CU_DEVICE_ATTRIBUTE_CAN_USE_HOST_POINTER_FOR_REGISTERED_MEM] = 0;
  }
  [[nodiscard]] const DeviceProps &props() const override { return props_; }
  Status commit(std::uint64_t address, std::size_t bytes) override;
  void release(std::uint64_t address, std::size_t bytes) override;
  [[nodiscard]] bool hostVisible() const override { return false; }
  std::unique_ptr<Queue> createQueue(int priority, ErrorSink *errors) override;
  Status copyNow(const CopyOp &op) override;
  Status fillNow(const FillOp &op) override;
  Expected<std::unique_ptr<BackendModule>> loadModule(const ModuleSource &source, std::string &log) override;
  Status manage(std::uint64_t address, std::size_t bytes) override;
  void unmanage(std::uint64_t address, std::size_t bytes) override;
  DeviceLoad load() override;
  ~RemoteDevice() override;

  // Managed memory (remote/README.md): the host works on its own copy at the
  // same addresses; the server's is brought up to date before device work
  // and the host's after work on a queue that may have changed it.
  [[nodiscard]] bool hasManaged() const { return managedCount_.load(std::memory_order_acquire) != 0; }
  /// Sends what the host changed since the last exchange: on `queue`, in
  /// stream order, or (queue 0) synchronously.
  Status pushManaged(std::uint64_t queue);
  /// Reads every managed range back on `queue`, in stream order, into the
  /// host copies (before the queue's next MarkerDone arrives).
  Status pullManaged(std::uint64_t queue);
  /// True when [address, address + bytes) overlaps managed memory.
  bool touchesManaged(std::uint64_t address, std::size_t bytes);

  /// The remote device whose committed memory holds `address`, if any.
  static RemoteDevice *ownerOf(std::uint64_t address);
  /// True when a side of `op` is device memory that this device does not hold.
  bool needsStaging(const CopyOp &op);
  /// Copies between this device, other remote devices and local memory,
  /// through this process.
  Status copyStaged(CopyOp op);
  [[nodiscard]] Connection &conn() { return *conn_; }
  [[nodiscard]] std::shared_ptr<Connection> sharedConn() { return conn_; }
  [[nodiscard]] std::uint32_t index() const { return index_; }

private:
  /// copyNow once both device sides, if any, are this device's.
  Status copyDirect(const CopyOp &op);
  Status fillDirect(const FillOp &op);
  Status writeNow(std::uint64_t dst, std::size_t dstPitch, const std::uint8_t *src, std::size_t srcPitch,
                  std::size_t width, std::size_t rows);
  Status readNow(std::uint8_t *dst, std::size_t dstPitch, std::uint64_t src, std::size_t srcPitch,
                 std::size_t width, std::size_t rows);

  /// The host copy's bytes arrived from the server (a pull).
  void delivered(std::uint64_t address, const std::uint8_t *data, std::size_t bytes);
  /// Pulls the managed ranges overlapping a synchronous operation's destination.
  Status refreshManaged(std::uint64_t address, std::size_t bytes);

  std::shared_ptr<Connection> conn_;
  std::uint32_t index_;
  DeviceProps props_;
  struct Managed {
    std::size_t bytes = 0;
    std::unique_ptr<std::uint8_t[]> clean; ///< what the server holds, as last exchanged
  };
  std::mutex managedMutex_;
  std::map<std::uint64_t, Managed> managed_;
  std::atomic<std::size_t> managedCount_{0};
};

class RemoteKernel : public BackendKernel {
public:
  explicit RemoteKernel(std::uint64_t id) : id(id) {}
  std::uint64_t id;
};

class RemoteModule : public BackendModule {
public:
  RemoteModule(std::shared_ptr<Connection> conn, std::uint64_t id) : conn_(std::move(conn)), id_(id) {}
  ~RemoteModule() override;
  Expected<BackendKernel *> kernel(const std::string &name) override;

private:
  std::shared_ptr<Connection> conn_;
  std::uint64_t id_;
  std::mutex mutex_;
  std::map<std::string, std::unique_ptr<RemoteKernel>> kernels_;
};

class RemoteQueue : public Queue {
public:
  RemoteQueue(RemoteDevice &device, std::uint64_t id, ErrorSink *errors);
  ~RemoteQueue() override;
  void copy(const CopyOp &op) override;
  void fill(const FillOp &op) override;
  void launch(LaunchOp op) override;
  void hostFunc(std::function<void()> fn) override;
  void record(MarkerPtr marker) override;
  void wait(MarkerPtr marker) override;
  [[nodiscard]] bool idle() override;
  void synchronize() override;

private:
  /// Sends a pipelined request; a failure becomes the queue's async error.
  void post(flatbuffers::FlatBufferBuilder &fb, zmq_msg_t *data = nullptr);
  void touched();
  void hostMain();

  RemoteDevice &device_;
  Connection &conn_;
  std::uint64_t id_;
  ErrorSink *errors_;
  std::mutex tailMutex_;
  MarkerPtr tail_;     ///< completes when everything sent so far has
  bool dirty_ = false; ///< work was sent after tail_
  /// Work that may have changed managed memory was sent since the last pull.
  std::atomic<bool> managedChanged_{false};
  /// Managed memory goes to the server before device work on this queue.
  void beforeDeviceWork();
  // Host functions run here, one at a time, in stream order.
  std::mutex hostMutex_;
  std::condition_variable hostCv_;
  std::deque<std::pair<std::uint64_t, std::function<void()>>> hostReady_;
  bool hostStop_ = false;
  std::thread hostThread_;
};

/// Endpoints and keys from CUVIRT_REMOTE, CUVIRT_REMOTE_KEY and
/// CUVIRT_REMOTE_SERVER_KEY.
Expected<std::vector<Endpoint>> endpointsFromEnvironment();
/// Reads a key file written by `cuvirtd keygen`: public=... / secret=... lines.
Status readKeyFile(const std::string &path, std::string *publicKey, std::string *secretKey);

} // namespace cuvirt::remote
