// cuvirtd's state: sessions and what they own, the outbox that worker
// threads send through, the image cache. Shared by server.cpp (sockets,
// loop, authentication) and session.cpp (requests).
#pragma once
#include "remote/protocol/protocol.h"
#include "remote/server/server.h"
#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <spdlog/spdlog.h>
#include <thread>
#include <unordered_map>
#include <zmq.h>

namespace cuvirt::remote {

/// An owned zmq message (movable).
struct ZMsg {
  zmq_msg_t m;
  ZMsg() { zmq_msg_init(&m); }
  explicit ZMsg(std::size_t n) { zmq_msg_init_size(&m, n); }
  ~ZMsg() { zmq_msg_close(&m); }
  ZMsg(const ZMsg &) = delete;
  ZMsg &operator=(const ZMsg &) = delete;
  [[nodiscard]] std::uint8_t *data() { return static_cast<std::uint8_t *>(zmq_msg_data(&m)); }
  [[nodiscard]] std::size_t size() const { return zmq_msg_size(const_cast<zmq_msg_t *>(&m)); }
};
using ZMsgPtr = std::shared_ptr<ZMsg>;

struct Outgoing {
  std::string routing;
  std::vector<std::uint8_t> header;
  ZMsgPtr data; ///< may be null
};

struct Session;

/// A piece of session memory to send over the bulk socket: `rows` rows of
/// `width` bytes, `pitch` apart (checked against the session before queued).
struct BulkJob {
  std::uint64_t address = 0, width = 0, rows = 0, pitch = 0;
};

/// A session's bulk socket (bulk.cpp): a plain TCP connection beside the zmq
/// one that carries synchronous read data, raw, in request order. The client
/// proves the session with its token once; then the channel's thread writes
/// the jobs queued from zmq Reads (v3) and serves the copies the client asks
/// on the socket itself (v4: BulkRequest), one at a time.
struct BulkChannel {
  std::uint64_t session = 0;
  Session *owner = nullptr; ///< outlives the thread: teardown and ~Session close() first
  std::uint8_t token[kBulkTokenBytes] = {};
  std::mutex mutex;
  int wakeFd = -1;      ///< eventfd: jobs queued or stop
  int fd = -1;          ///< the accepted connection, once the token was shown
  bool claimed = false; ///< the token is good for one connection only
  bool broken = false;  ///< a send failed or stalled: later reads use zmq
  std::atomic<bool> stop{false};
  std::deque<BulkJob> jobs;
  std::thread sender;
  /// Queues a job when the socket is up; false: send the data through zmq.
  bool enqueue(const BulkJob &job);
  /// Stops the sender (pending jobs are dropped) and closes the socket: after
  /// it, nothing reads session memory for this channel.
  void close();
  ~BulkChannel() { close(); }
};
using BulkChannelPtr = std::shared_ptr<BulkChannel>;

/// A client's stream on a device; its failures go back as AsyncError, its
/// kernels' printf/assert text as Output (collected per launch, sent from the
/// queue right after the kernel: before any later MarkerDone).
struct ServerQueue : ErrorSink, OutputSink {
  Server::Impl *server = nullptr;
  std::string routing;
  std::uint64_t id = 0;
  std::uint32_t device = 0;
  std::mutex outputMutex;
  std::string output[2];        ///< fd 1, fd 2: not yet sent (bounded, like a GPU's printf FIFO)
  std::unique_ptr<Queue> queue; ///< last: drains while the members above still live
  void asyncError(CUresult code, const std::string &message) override;
  void write(int fd, std::string_view text) override;
  /// Sends what the last kernel wrote (on the queue, in stream order).
  void flushOutput();
};

struct Image {
  std::string ptx, cubin;
  ModuleInfo info;
  std::size_t bytes() const { return ptx.size() + cubin.size(); }
};

struct ServerModule {
  std::uint32_t device = 0;
  std::shared_ptr<Image> image; ///< outlives the backend module, which points into it
  std::unique_ptr<BackendModule> backend;
};

struct ServerKernel {
  std::shared_ptr<ServerModule> module;
  BackendKernel *kernel = nullptr;
  const KernelInfo *info = nullptr;
};

struct Session {
  std::uint64_t id = 0;
  std::string routing, client;
  std::int64_t lastSeen = 0;
  std::uint64_t committed = 0;
  struct Region {
    std::uint32_t device;
    std::uint64_t size;
  };
  std::map<std::uint64_t, Region> regions; ///< every commit, by address
  std::map<std::uint64_t, std::unique_ptr<ServerQueue>> queues;
  std::map<std::uint64_t, std::shared_ptr<ServerModule>> modules;
  std::mutex mutex; ///< kernels, markers, tokens: touched by queue and helper threads
  std::map<std::uint64_t, ServerKernel> kernels;
  std::unordered_map<std::uint64_t, MarkerPtr> markers; ///< recorded, not yet reached
  std::unordered_map<std::uint64_t, MarkerPtr> tokens;  ///< held until the client releases them
  Status pendingWriteError;                             ///< of unacknowledged write pieces
  BulkChannelPtr bulk;                                  ///< plaintext v3 sessions
  /// Frames zmq still sends straight from this session's memory; teardown
  /// unmaps only once they are gone. Never freed while any is out.
  struct Lent {
    std::atomic<int> count{0};
    static void release(void *, void *hint) { static_cast<Lent *>(hint)->count.fetch_sub(1); }
  };
  Lent *lent = new Lent;
  /// Guards `regions` against the bulk thread's checks (only the loop writes it).
  std::mutex regionsMutex;
  ~Session() {
    if (bulk)
      bulk->close(); // its thread reads `regions` and memory
    if (lent->count.load() == 0)
      delete lent; // else leaked on purpose: a late callback still finds it
  }
};
using SessionPtr = std::shared_ptr<Session>;

struct Server::Impl {
  ServerConfig config;
  std::vector<std::unique_ptr<BackendDevice>> devices;
  std::shared_ptr<spdlog::logger> log;
  void *ctx = nullptr, *router = nullptr;
  std::thread zap;
  std::atomic<bool> zapStop{false};
  bool sendless = false; ///< fuzzing: replies are only counted
  std::vector<int> sentCodes;

  std::unordered_map<std::string, SessionPtr> sessions; ///< by routing id (main thread only)
  std::uint64_t nextSession = 1;
  std::atomic<std::uint64_t> committed{0}, rejected{0};
  std::atomic<int> helpers{0}; ///< detached threads still running

  std::mutex outboxMutex;
  std::deque<Outgoing> outbox;
  int wakeFd = -1;

  // Bulk sockets (bulk.cpp): a listener per tcp endpoint, one acceptor thread.
  struct BulkListener {
    int fd = -1;
    std::string host; ///< numeric address it is bound to (that of the zmq endpoint)
    std::uint16_t port = 0;
  };
  std::vector<BulkListener> bulkListeners;
  std::thread bulkAcceptor;
  std::atomic<bool> bulkStop{false};
  std::mutex bulkMutex;
  std::unordered_map<std::uint64_t, std::weak_ptr<BulkChannel>> bulkChannels; ///< by session id
  std::atomic<std::uint64_t> bulkBytes{0};
  int messageFd = -1; ///< the connection the message being handled came through (ZMQ_SRCFD), or -1

  std::mutex imagesMutex;
  std::map<std::string, std::shared_ptr<Image>> images;
  std::deque<std::string> imageOrder;
  std::size_t imageBytes = 0;

  // server.cpp
  void send(const std::string &routing, flatbuffers::FlatBufferBuilder &fb, ZMsg *data = nullptr);
  /// Thread-safe: queued for the loop to send.
  void notice(const std::string &routing, flatbuffers::FlatBufferBuilder &fb, ZMsgPtr data = nullptr);
  void flushOutbox();
  void reply(const std::string &routing, std::uint64_t seq, Status status, const std::string &message = {});
  void receive(const std::string &routing, ZMsg &header, ZMsg *data, bool extraParts);
  void expireSessions();
  /// Frees everything a session owns (on a helper thread: queues drain).
  void endSession(const SessionPtr &s, const char *why, bool wait = false);
  /// Runs `fn` on a detached thread counted in `helpers`.
  void helper(std::function<void()> fn);

  // bulk.cpp
  /// A bulk listener beside the zmq endpoint just bound (`bound`: its
  /// ZMQ_LAST_ENDPOINT); tcp only; a failure leaves that endpoint without one.
  void openBulkListener(const std::string &bound);
  void startBulkAcceptor();
  void stopBulk();
  /// The channel for a new session whose Hello came through `messageFd`, or
  /// null (bulk off, ipc, no listener on that interface); its port in `port`.
  BulkChannelPtr offerBulk(Session &session, std::uint16_t *port);
  void bulkAcceptorMain();
  void bulkHandshake(int fd);

  // session.cpp
  void handle(const std::string &routing, const wire::ClientMessage &m, ZMsg *data);
  void hello(const std::string &routing, const wire::ClientMessage &m);
  void stats(const std::string &routing, std::uint64_t seq);
  void teardown(Session &s);
};

std::int64_t nowMs();
/// [address, address + bytes) lies in memory `s` committed on `device`
/// (the bulk thread holds s.regionsMutex around it).
bool owns(const Session &s, std::uint32_t device, std::uint64_t address, std::uint64_t bytes);

} // namespace cuvirt::remote
