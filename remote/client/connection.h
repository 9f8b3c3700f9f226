// One client's connection to one cuvirtd: a ZeroMQ DEALER shared by the
// application's threads (sends, under a mutex) and an I/O thread (receives,
// heartbeats, notices). Synchronous calls wait for their reply; everything
// else is pipelined and reports through notices.
#pragma once
#include "remote/protocol/protocol.h"
#include "runtime/backend.h"
#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>
#include <zmq.h>

namespace cuvirt::remote {

/// A received frame (and its optional data frame), kept alive while used.
struct Frame {
  zmq_msg_t header{}, data{};
  bool hasData = false;
  std::vector<std::uint64_t> aligned; ///< the header, copied when zmq left it misaligned
  const wire::ServerMessage *message = nullptr;
  Frame() {
    zmq_msg_init(&header);
    zmq_msg_init(&data);
  }
  ~Frame() {
    zmq_msg_close(&header);
    zmq_msg_close(&data);
  }
  Frame(const Frame &) = delete;
  Frame &operator=(const Frame &) = delete;
};

struct Endpoint {
  std::string address;   ///< tcp://host:port or ipc://path
  std::string serverKey; ///< Z85 public key of the server ("" = plaintext)
  std::string clientPublic, clientSecret;
};

/// Where data of an asynchronous Read lands on the client.
struct ReadTarget {
  std::uint8_t *host = nullptr;
  std::size_t width = 0, rows = 0, pitch = 0;
  /// When set, takes the packed data instead (managed memory's host copy).
  std::function<void(const std::uint8_t *data, std::size_t bytes)> deliver;
};

class Connection {
public:
  explicit Connection(Endpoint endpoint);
  ~Connection();
  /// Connects and says Hello; fills devices().
  Status open(int timeoutMs);

  [[nodiscard]] const std::string &address() const { return endpoint_.address; }
  [[nodiscard]] const std::vector<DeviceProps> &devices() const { return devices_; }
  [[nodiscard]] std::uint64_t quota() const { return quota_; }
  /// The protocol version Hello settled on.
  [[nodiscard]] std::uint32_t version() const { return version_; }
  [[nodiscard]] bool dead() const { return dead_.load(std::memory_order_acquire); }
  /// Evidence that the server is alive other than a message from it: zmq
  /// let go of a frame we sent (with finite socket buffers, the server is
  /// reading). A long upload then does not look like silence.
  void heard();
  /// zmq free function for frames whose buffer was malloc'd: frees it and
  /// counts as heard() (`hint` is the Connection).
  static void freeSent(void *data, void *hint);

  /// Sends a request whose reply nobody waits for (seq 0).
  Status post(flatbuffers::FlatBufferBuilder &fb, zmq_msg_t *data = nullptr);
  /// Sends a request and waits for its reply; the reply's code as Status.
  Expected<std::unique_ptr<Frame>> call(flatbuffers::FlatBufferBuilder &fb, std::uint64_t seq,
                                        zmq_msg_t *data = nullptr);
  /// Several pipelined requests: registers `seq` as awaited, sends nothing.
  void expect(std::uint64_t seq);
  /// Sends one request of a batch registered with expect().
  Status send(flatbuffers::FlatBufferBuilder &fb, zmq_msg_t *data = nullptr);
  /// Waits for an awaited reply.
  Expected<std::unique_ptr<Frame>> await(std::uint64_t seq, int timeoutMs = -1);
  /// Stops waiting for `seq`: its reply, if any comes, is dropped.
  void forget(std::uint64_t seq);
  std::uint64_t nextSeq() { return seq_.fetch_add(1, std::memory_order_relaxed); }
  std::uint64_t nextId() { return id_.fetch_add(1, std::memory_order_relaxed); }

  // Notice routing (the I/O thread completes or calls these).
  void trackMarker(std::uint64_t id, MarkerPtr marker, ErrorSink *sink);
  /// The id under which `marker` was recorded here, if it is still pending.
  std::optional<std::uint64_t> markerId(const Marker *marker);
  void trackRead(std::uint64_t tag, ReadTarget target);
  void trackQueue(std::uint64_t queue, ErrorSink *sink);
  void forgetQueue(std::uint64_t queue);
  void trackHostPoint(std::uint64_t token, std::function<void()> onReached);
  /// Has the image with this hash been shipped to this server already?
  bool imageShipped(const std::string &hash);
  void markImageShipped(const std::string &hash);

  /// Ends the session politely (process exit).
  void goodbye();

  // The bulk socket (plaintext v3 sessions on tcp): synchronous read data
  // arrives raw, in request order, and recv() writes it into the destination.
  [[nodiscard]] bool bulkReady() const { return bulkReady_.load(std::memory_order_acquire); }
  /// One user at a time: the bytes of its reads come in its order.
  [[nodiscard]] std::unique_lock<std::mutex> lockBulk() { return std::unique_lock(bulkMutex_); }
  /// Receives exactly `n` bytes into `dst` (holding lockBulk()). Fails with
  /// CUDA_ERROR_DEVICE_UNAVAILABLE when the server closes it, dies, or sends
  /// nothing for the server timeout; the socket is then closed for good.
  Status bulkRecv(std::uint8_t *dst, std::size_t n);
  /// Gives the bulk socket up (holding lockBulk()): later reads use zmq.
  void bulkBreak(const std::string &why);
  /// v4: synchronous copies asked on the bulk socket itself (the calling
  /// thread sends the request and the data, or receives the data: no zmq
  /// hop, no other thread on the path).
  [[nodiscard]] bool bulkRequests() const { return bulkRequests_ && bulkReady(); }
  /// Host->device copies too (CUVIRT_REMOTE_BULK_WRITES=0 keeps them on zmq,
  /// for A/B: docs/PERFORMANCE.md).
  [[nodiscard]] bool bulkWrites() const { return bulkWrites_ && bulkRequests(); }
  /// Reads `rows` rows of `width` bytes from device `device`'s `src` (rows
  /// `srcPitch` apart) into `dst` (rows `dstPitch` apart), holding lockBulk().
  Status bulkRead(std::uint32_t device, std::uint8_t *dst, std::size_t dstPitch, std::uint64_t src,
                  std::size_t srcPitch, std::size_t width, std::size_t rows);
  /// Writes the other way; returns once the server has the bytes in place.
  Status bulkWrite(std::uint32_t device, std::uint64_t dst, std::size_t dstPitch, const std::uint8_t *src,
                   std::size_t srcPitch, std::size_t width, std::size_t rows);

private:
  /// Opens the bulk socket the server offered; on failure reads stay on zmq.
  void connectBulk(std::uint16_t port, std::uint64_t session, const std::uint8_t *token);
  /// Sends all `n` bytes on the bulk socket (as bulkRecv receives them).
  Status bulkSend(const std::uint8_t *p, std::size_t n, int flags);
  template <class Io> Status bulkMove(std::size_t n, const std::string &closed, const char *silence, Io &&io);
  /// A bulk request for `op` (kBulkRead/kBulkWrite) with the next tag.
  BulkRequest bulkRequest(char op, std::uint32_t device, std::uint64_t address, std::size_t pitch,
                          std::size_t width, std::size_t rows);
  /// Sends `q`, then (a write) its rows; receives the reply header and its
  /// message. A failed request leaves the stream usable; a broken one, not.
  Status bulkAsk(const BulkRequest &q, const std::uint8_t *src, std::size_t srcPitch, BulkReply *reply);
  Status sendLocked(flatbuffers::FlatBufferBuilder &fb, zmq_msg_t *data);
  void ioMain();
  /// Receives whatever is there and dispatches it, in arrival order (the
  /// I/O thread and a waiting caller both do this). Returns frames handled.
  std::size_t pump();
  void dispatch(std::unique_ptr<Frame> frame);
  /// The server is gone: every waiter and marker is released with an error.
  void die(const std::string &why);

  struct Waiter {
    std::atomic<bool> done{false};
    std::unique_ptr<Frame> frame;
  };

  Endpoint endpoint_;
  void *socket_ = nullptr;
  int wakeFd_ = -1;  ///< wakes the I/O thread
  int replyFd_ = -1; ///< wakes the caller that receives for everyone
  int zmqFd_ = -1;
  /// A caller waiting for a reply receives itself (no thread hand-off on the
  /// reply path); the I/O thread leaves the socket alone meanwhile.
  std::atomic<bool> leading_{false};
  std::mutex dispatchMutex_;
  std::mutex sendMutex_;
  std::thread io_;
  std::atomic<bool> stop_{false}, dead_{false};
  std::string deathReason_;
  std::atomic<std::uint64_t> seq_{1}, id_{1};
  int heartbeatMs_ = 1000, timeoutMs_ = 5000;
  std::atomic<std::int64_t> lastHeard_{0};

  std::mutex waitMutex_;
  std::condition_variable waitCv_;
  std::unordered_map<std::uint64_t, std::shared_ptr<Waiter>> waiters_;

  std::mutex noticeMutex_;
  struct PendingMarker {
    MarkerPtr marker;
    ErrorSink *sink;
  };
  std::unordered_map<std::uint64_t, PendingMarker> markers_;
  std::unordered_map<const Marker *, std::uint64_t> markerIds_;
  std::unordered_map<std::uint64_t, ReadTarget> reads_;
  std::unordered_map<std::uint64_t, ErrorSink *> queues_;
  std::unordered_map<std::uint64_t, std::function<void()>> hostPoints_;
  std::mutex imagesMutex_;
  std::vector<std::string> shipped_;

  std::mutex bulkMutex_;
  /// Set once at open, closed only by the destructor (the I/O thread polls
  /// it: a server that closes it is gone); bulkReady_ says whether to use it.
  std::atomic<int> bulkFd_{-1};
  std::atomic<bool> bulkReady_{false};
  std::uint64_t bulkTag_ = 0; ///< the last BulkRequest's (holding bulkMutex_)
  /// v4 server, and not CUVIRT_REMOTE_BULK_REQUESTS=0 (A/B against v3's use).
  bool bulkRequests_ = false, bulkWrites_ = false;

  std::vector<DeviceProps> devices_;
  std::uint64_t quota_ = 0;
  std::uint32_t version_ = 0;
  /// Client steady clock minus the server's (ns), estimated at Hello: marker
  /// times the server stamps become client times (differences exact).
  std::int64_t clockOffsetNs_ = 0;
  bool serverClock_ = false;
};

/// The process's zmq context (never destroyed: cudart tears down late).
void *zmqContext();

} // namespace cuvirt::remote
