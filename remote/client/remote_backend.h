// The remote backend's objects: devices, queues, modules and kernels that
// stand for those of a cuvirtd session (runtime/backend.h).
#pragma once
#include "remote/client/connection.h"
#include <deque>

namespace cuvirt::remote {

class RemoteDevice : public BackendDevice {
public:
  RemoteDevice(std::shared_ptr<Connection> conn, std::uint32_t index, DeviceProps props)
      : conn_(std::move(conn)), index_(index), props_(std::move(props)) {}
  [[nodiscard]] const DeviceProps &props() const override { return props_; }
  Status commit(std::uint64_t address, std::size_t bytes) override;
  void release(std::uint64_t address, std::size_t bytes) override;
  [[nodiscard]] bool hostVisible() const override { return false; }
  std::unique_ptr<Queue> createQueue(int priority, ErrorSink *errors) override;
  Status copyNow(const CopyOp &op) override;
  Status fillNow(const FillOp &op) override;
  Expected<std::unique_ptr<BackendModule>> loadModule(const ModuleSource &source, std::string &log) override;

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
  Status writeNow(std::uint64_t dst, std::size_t dstPitch, const std::uint8_t *src, std::size_t srcPitch,
                  std::size_t width, std::size_t rows);
  Status readNow(std::uint8_t *dst, std::size_t dstPitch, std::uint64_t src, std::size_t srcPitch,
                 std::size_t width, std::size_t rows);

  std::shared_ptr<Connection> conn_;
  std::uint32_t index_;
  DeviceProps props_;
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
