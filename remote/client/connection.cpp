// The client end of a session with cuvirtd: sends, replies, notices,
// heartbeats, and failing fast when the server goes away.
#include "remote/client/connection.h"
#include "runtime/log.h"
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <malloc.h>
#include <mutex>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

namespace cuvirt::remote {
namespace {

std::int64_t nowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

int envInt(const char *name, int fallback) {
  const char *v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::atoi(v) : fallback;
}

/// The header frame's bytes at an 8-byte aligned address (the verifier's
/// and FlatBuffers' loads assume it).
const void *alignedHeader(Frame &f) {
  const void *p = zmq_msg_data(&f.header);
  if (reinterpret_cast<std::uintptr_t>(p) % 8 == 0)
    return p;
  f.aligned.resize((zmq_msg_size(&f.header) + 7) / 8);
  std::memcpy(f.aligned.data(), p, zmq_msg_size(&f.header));
  return f.aligned.data();
}

/// zmq receives every data frame into a fresh malloc'd buffer. With several
/// read pieces in flight, glibc's default thresholds give those buffers back
/// to the kernel after each piece (heap trim), so the next piece page-faults
/// and zeroes them again: ~80k faults and twice the client CPU per GB read
/// from 16 MiB up (docs/PERFORMANCE.md). Fixed thresholds above the bytes in
/// flight keep them mapped. Process-wide, so the application's own malloc
/// tuning wins, and CUVIRT_REMOTE_MALLOC_TUNE=0 leaves malloc alone.
void keepReceiveBuffers() {
#ifdef __GLIBC__
  static std::once_flag once;
  std::call_once(once, [] {
    if (std::getenv("MALLOC_MMAP_THRESHOLD_") != nullptr ||
        std::getenv("MALLOC_TRIM_THRESHOLD_") != nullptr || std::getenv("GLIBC_TUNABLES") != nullptr ||
        envInt("CUVIRT_REMOTE_MALLOC_TUNE", 1) == 0)
      return;
    mallopt(M_MMAP_THRESHOLD, static_cast<int>(2 * kChunkBytes));
    mallopt(M_TRIM_THRESHOLD, 64 << 20);
  });
#endif
}

} // namespace

void Connection::heard() { lastHeard_ = nowMs(); }

void Connection::freeSent(void *data, void *hint) {
  std::free(data);
  static_cast<Connection *>(hint)->heard();
}

void *zmqContext() {
  static void *ctx = [] {
    void *c = zmq_ctx_new();
    zmq_ctx_set(c, ZMQ_BLOCKY, 0);
    return c;
  }();
  return ctx;
}

Connection::Connection(Endpoint endpoint) : endpoint_(std::move(endpoint)) {}

Connection::~Connection() {
  stop_ = true;
  if (wakeFd_ >= 0) {
    std::uint64_t one = 1;
    (void)!write(wakeFd_, &one, sizeof one);
  }
  if (io_.joinable())
    io_.join();
  if (socket_ != nullptr)
    zmq_close(socket_);
  if (wakeFd_ >= 0)
    close(wakeFd_);
  if (replyFd_ >= 0)
    close(replyFd_);
  if (bulkFd_ >= 0)
    close(bulkFd_);
}

Status Connection::open(int timeoutMs) {
  timeoutMs_ = envInt("CUVIRT_REMOTE_TIMEOUT_MS", 5000);
  keepReceiveBuffers();
  socket_ = zmq_socket(zmqContext(), ZMQ_DEALER);
  if (socket_ == nullptr)
    return error(CUDA_ERROR_OPERATING_SYSTEM, "zmq_socket: {}", zmq_strerror(zmq_errno()));
  int zero = 0, linger = 200;
  zmq_setsockopt(socket_, ZMQ_SNDHWM, &zero, sizeof zero);
  zmq_setsockopt(socket_, ZMQ_RCVHWM, &zero, sizeof zero);
  zmq_setsockopt(socket_, ZMQ_LINGER, &linger, sizeof linger);
  std::int64_t maxMsg = static_cast<std::int64_t>(kMaxControlFrame);
  zmq_setsockopt(socket_, ZMQ_MAXMSGSIZE, &maxMsg, sizeof maxMsg);
  if (!endpoint_.serverKey.empty()) {
    if (zmq_setsockopt(socket_, ZMQ_CURVE_SERVERKEY, endpoint_.serverKey.data(),
                       endpoint_.serverKey.size()) != 0 ||
        zmq_setsockopt(socket_, ZMQ_CURVE_PUBLICKEY, endpoint_.clientPublic.data(),
                       endpoint_.clientPublic.size()) != 0 ||
        zmq_setsockopt(socket_, ZMQ_CURVE_SECRETKEY, endpoint_.clientSecret.data(),
                       endpoint_.clientSecret.size()) != 0)
      return error(CUDA_ERROR_INVALID_VALUE, "remote {}: bad CURVE keys: {}", endpoint_.address,
                   zmq_strerror(zmq_errno()));
  }
  if (zmq_connect(socket_, endpoint_.address.c_str()) != 0)
    return error(CUDA_ERROR_INVALID_VALUE, "remote {}: cannot connect: {}", endpoint_.address,
                 zmq_strerror(zmq_errno()));
  wakeFd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  replyFd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  size_t fdLen = sizeof zmqFd_;
  zmq_getsockopt(socket_, ZMQ_FD, &zmqFd_, &fdLen);
  lastHeard_ = nowMs();
  // Until the server answers Hello, its silence counts against `timeoutMs`.
  const int steadyTimeout = timeoutMs_;
  timeoutMs_ = timeoutMs;
  io_ = std::thread([this] { ioMain(); });

  flatbuffers::FlatBufferBuilder fb;
  std::string me = fmt::format("pid {}", getpid());
  auto hello = wire::CreateHello(fb, kVersionMin, kVersionMax, fb.CreateString(me));
  const std::uint64_t seq = nextSeq();
  fb.Finish(wire::CreateClientMessage(fb, seq, wire::Request::Hello, hello.Union()));
  const auto sentAt = Marker::Clock::now();
  auto reply = call(fb, seq);
  const auto heardAt = Marker::Clock::now();
  if (!reply)
    return error(reply.status().code() == CUDA_ERROR_DEVICE_UNAVAILABLE ? CUDA_ERROR_NO_DEVICE
                                                                        : reply.status().code(),
                 "remote {}: no session ({})", endpoint_.address, lastErrorMessage());
  const auto *h = (*reply)->message->response_as_HelloReply();
  if (h == nullptr || h->version() < kVersionMin || h->version() > kVersionMax)
    return error(CUDA_ERROR_NOT_SUPPORTED,
                 "remote {}: the server speaks no protocol version this client knows", endpoint_.address);
  quota_ = h->quota();
  version_ = h->version();
  if (h->clock_ns() != 0) {
    // The server stamped its clock about halfway through the round trip.
    const auto mid = sentAt.time_since_epoch() + (heardAt - sentAt) / 2;
    clockOffsetNs_ = std::chrono::duration_cast<std::chrono::nanoseconds>(mid).count() -
                     static_cast<std::int64_t>(h->clock_ns());
    serverClock_ = true;
  }
  if (h->heartbeat_ms() >= 10 && h->heartbeat_ms() <= 60000)
    heartbeatMs_ = static_cast<int>(h->heartbeat_ms());
  if (h->devices() != nullptr)
    for (const auto *d : *h->devices()) {
      if (devices_.size() >= kMaxDevices)
        break;
      DeviceProps p;
      p.name = d->name() ? d->name()->str() : "remote device";
      p.totalMemory = d->total_memory();
      if (quota_ != 0)
        p.totalMemory = std::min<std::uint64_t>(p.totalMemory, quota_);
      if (d->uuid() != nullptr && d->uuid()->size() == sizeof p.uuid.bytes)
        std::memcpy(p.uuid.bytes, d->uuid()->data(), sizeof p.uuid.bytes);
      if (d->attributes() != nullptr)
        for (std::size_t i = 0; i < d->attributes()->size() && i < p.attributes.size(); ++i)
          p.attributes[i] = d->attributes()->Get(static_cast<flatbuffers::uoffset_t>(i));
      // Attributes pass through as the server's device reports them. (Mapped
      // and managed memory still fail on remote devices: the runtime refuses
      // them on devices that are not host-visible.) Thread block clusters do
      // not: the protocol's launches carry no cluster shape.
      p.attributes[CU_DEVICE_ATTRIBUTE_CLUSTER_LAUNCH] = 0;
      devices_.push_back(std::move(p));
    }
  timeoutMs_ = steadyTimeout;
  if (version_ >= 3 && h->bulk_port() != 0 && h->bulk_port() <= 65535 && h->bulk_token() != nullptr &&
      h->bulk_token()->size() == kBulkTokenBytes)
    connectBulk(static_cast<std::uint16_t>(h->bulk_port()), h->session(), h->bulk_token()->data());
  log().info("remote {}: session {} with {} device(s), protocol v{}{}", endpoint_.address, h->session(),
             devices_.size(), h->version(), bulkReady() ? ", bulk socket" : "");
  return {};
}

void Connection::connectBulk(std::uint16_t port, std::uint64_t session, const std::uint8_t *token) {
  // Plaintext tcp only (the server offers it to no CURVE session either);
  // CUVIRT_REMOTE_BULK=0 keeps every read on zmq.
  const std::string &ep = endpoint_.address;
  if (envInt("CUVIRT_REMOTE_BULK", 1) == 0 || !endpoint_.serverKey.empty() || ep.rfind("tcp://", 0) != 0 ||
      ep.find(';') != std::string::npos)
    return;
  const std::size_t colon = ep.rfind(':');
  if (colon == std::string::npos || colon < 6)
    return;
  // The host we reached zmq on: the server listens on the same interface.
  std::string host = ep.substr(6, colon - 6);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  addrinfo hints{}, *found = nullptr;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  if (getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found) != 0)
    return;
  int fd = -1;
  for (addrinfo *a = found; a != nullptr && fd < 0; a = a->ai_next) {
    fd = socket(a->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
      continue;
    int soErr = 0;
    socklen_t len = sizeof soErr;
    pollfd p{fd, POLLOUT, 0};
    const bool connected = connect(fd, a->ai_addr, a->ai_addrlen) == 0 ||
                           (errno == EINPROGRESS && ::poll(&p, 1, 1000) == 1 &&
                            getsockopt(fd, SOL_SOCKET, SO_ERROR, &soErr, &len) == 0 && soErr == 0);
    if (!connected) {
      close(fd);
      fd = -1;
    }
  }
  freeaddrinfo(found);
  if (fd < 0) {
    log().debug("remote {}: no bulk socket (cannot connect to port {}); reads use zmq", ep, port);
    return;
  }
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  std::uint8_t hello[kBulkHelloBytes];
  std::memcpy(hello, kBulkMagic, sizeof kBulkMagic);
  for (int i = 0; i < 8; ++i)
    hello[8 + i] = static_cast<std::uint8_t>(session >> (8 * i));
  std::memcpy(hello + 16, token, kBulkTokenBytes);
  char ack = 0;
  pollfd p{fd, POLLIN, 0};
  if (::send(fd, hello, sizeof hello, MSG_NOSIGNAL) != static_cast<ssize_t>(sizeof hello) ||
      ::poll(&p, 1, 2000) != 1 || ::recv(fd, &ack, 1, 0) != 1 || ack != kBulkAccepted) {
    log().debug("remote {}: the server refused the bulk socket; reads use zmq", ep);
    close(fd);
    return;
  }
  // Receives and sends return often enough to notice a dead server.
  timeval tick{0, 100 * 1000};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tick, sizeof tick);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tick, sizeof tick);
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one); // requests go out at once
  bulkFd_ = fd;
  bulkRequests_ = version_ >= 4 && envInt("CUVIRT_REMOTE_BULK_REQUESTS", 1) != 0;
  bulkWrites_ = bulkRequests_ && envInt("CUVIRT_REMOTE_BULK_WRITES", 1) != 0;
  bulkReady_.store(true, std::memory_order_release);
}

// Moves `n` bytes with `io(left)` (one send or recv on the bulk socket,
// returning what it moved) until done; the socket's timeout ticks and EINTR
// only make it look again, while a dead server or `timeoutMs_` without
// progress ends the bulk socket. `closed` says what a 0 return means,
// `silence` what no progress means.
template <class Io>
Status Connection::bulkMove(std::size_t n, const std::string &closed, const char *silence, Io &&io) {
  if (!bulkReady())
    return error(CUDA_ERROR_DEVICE_UNAVAILABLE, "remote {}: the bulk socket is closed", endpoint_.address);
  std::int64_t last = nowMs();
  while (n > 0) {
    const ssize_t r = io(n);
    if (r > 0) {
      n -= static_cast<std::size_t>(r);
      last = nowMs();
      heard(); // the server moves bytes: a long copy is no silence
      continue;
    }
    std::string why;
    if (r == 0)
      why = closed;
    else if (errno == EINTR)
      continue;
    else if (errno != EAGAIN && errno != EWOULDBLOCK)
      why = std::string("bulk socket: ") + std::strerror(errno);
    else if (dead())
      why = deathReason_;
    else if (nowMs() - last > timeoutMs_)
      why = fmt::format("{} for {} ms", silence, nowMs() - last);
    else
      continue;
    bulkBreak(why);
    return error(CUDA_ERROR_DEVICE_UNAVAILABLE, "remote {}: {}", endpoint_.address, why);
  }
  return {};
}

Status Connection::bulkRecv(std::uint8_t *dst, std::size_t n) {
  return bulkMove(n, "the server closed the bulk socket", "no read data", [&](std::size_t left) {
    const ssize_t r = ::recv(bulkFd_, dst, left, MSG_WAITALL);
    dst += std::max<ssize_t>(r, 0);
    return r;
  });
}

Status Connection::bulkSend(const std::uint8_t *p, std::size_t n, int flags) {
  return bulkMove(n, std::string("bulk socket: ") + std::strerror(EPIPE), "the server took no data",
                  [&](std::size_t left) {
                    const ssize_t r = ::send(bulkFd_, p, left, flags | MSG_NOSIGNAL);
                    p += std::max<ssize_t>(r, 0);
                    return r;
                  });
}

Status Connection::bulkAsk(const BulkRequest &q, const std::uint8_t *src, std::size_t srcPitch,
                           BulkReply *reply) {
  const bool write = q.op == kBulkWrite;
  CUVIRT_TRY(bulkSend(reinterpret_cast<const std::uint8_t *>(&q), sizeof q, write ? MSG_MORE : 0));
  if (write) {
    if (q.rows == 1 || srcPitch == q.width) {
      CUVIRT_TRY(bulkSend(src, q.width * q.rows, 0));
    } else {
      for (std::size_t r = 0; r < q.rows; ++r)
        CUVIRT_TRY(bulkSend(src + r * srcPitch, q.width, r + 1 < q.rows ? MSG_MORE : 0));
    }
  }
  CUVIRT_TRY(bulkRecv(reinterpret_cast<std::uint8_t *>(reply), sizeof *reply));
  if (reply->tag != q.tag || reply->message_bytes > kBulkMaxMessage ||
      (reply->code != 0 && reply->bytes != 0)) {
    bulkBreak("a reply does not match its request");
    return error(CUDA_ERROR_INVALID_VALUE, "remote {}: the bulk socket's reply does not match its request",
                 endpoint_.address);
  }
  std::string text(reply->message_bytes, '\0');
  if (!text.empty())
    CUVIRT_TRY(bulkRecv(reinterpret_cast<std::uint8_t *>(text.data()), text.size()));
  if (reply->code != 0)
    return error(static_cast<CUresult>(reply->code), "remote {}: {}", endpoint_.address, text);
  return {};
}

BulkRequest Connection::bulkRequest(char op, std::uint32_t device, std::uint64_t address, std::size_t pitch,
                                    std::size_t width, std::size_t rows) {
  BulkRequest q;
  q.op = op;
  q.device = device;
  q.tag = ++bulkTag_;
  q.address = address;
  q.width = width;
  q.rows = rows;
  q.pitch = pitch;
  return q;
}

Status Connection::bulkRead(std::uint32_t device, std::uint8_t *dst, std::size_t dstPitch, std::uint64_t src,
                            std::size_t srcPitch, std::size_t width, std::size_t rows) {
  BulkRequest q = bulkRequest(kBulkRead, device, src, srcPitch, width, rows);
  BulkReply reply;
  CUVIRT_TRY(bulkAsk(q, nullptr, 0, &reply));
  if (reply.bytes != width * rows) {
    // The socket's stream no longer matches what we expect: drop it.
    bulkBreak("a read's size does not match its request");
    return error(CUDA_ERROR_INVALID_VALUE, "remote {}: a bulk read came back with the wrong size",
                 endpoint_.address);
  }
  if (rows == 1 || dstPitch == width)
    return bulkRecv(dst, width * rows);
  for (std::size_t r = 0; r < rows; ++r)
    CUVIRT_TRY(bulkRecv(dst + r * dstPitch, width));
  return {};
}

Status Connection::bulkWrite(std::uint32_t device, std::uint64_t dst, std::size_t dstPitch,
                             const std::uint8_t *src, std::size_t srcPitch, std::size_t width,
                             std::size_t rows) {
  BulkReply reply;
  return bulkAsk(bulkRequest(kBulkWrite, device, dst, dstPitch, width, rows), src, srcPitch, &reply);
}

void Connection::bulkBreak(const std::string &why) {
  if (!bulkReady())
    return;
  if (!dead())
    log().warn("remote {}: bulk socket given up ({}); reads use zmq", endpoint_.address, why);
  // Not ready first: the I/O thread then takes the shutdown for ours, not the server's.
  bulkReady_.store(false, std::memory_order_release);
  ::shutdown(bulkFd_, SHUT_RDWR);
}

Status Connection::sendLocked(flatbuffers::FlatBufferBuilder &fb, zmq_msg_t *data) {
  zmq_msg_t header;
  zmq_msg_init_size(&header, fb.GetSize());
  std::memcpy(zmq_msg_data(&header), fb.GetBufferPointer(), fb.GetSize());
  // Never blocks: with no peer at all (refused by authentication) a
  // blocking send would hang the caller instead of failing.
  if (zmq_msg_send(&header, socket_, ZMQ_DONTWAIT | (data != nullptr ? ZMQ_SNDMORE : 0)) < 0) {
    zmq_msg_close(&header);
    if (data != nullptr)
      zmq_msg_close(data);
    return error(CUDA_ERROR_DEVICE_UNAVAILABLE, "remote {}: send failed: {}", endpoint_.address,
                 zmq_strerror(zmq_errno()));
  }
  if (data != nullptr && zmq_msg_send(data, socket_, ZMQ_DONTWAIT) < 0)
    return error(CUDA_ERROR_DEVICE_UNAVAILABLE, "remote {}: send failed: {}", endpoint_.address,
                 zmq_strerror(zmq_errno()));
  // A send may consume the edge of ZMQ_FD that the I/O thread sleeps on.
  int events = 0;
  size_t len = sizeof events;
  if (zmq_getsockopt(socket_, ZMQ_EVENTS, &events, &len) == 0 && (events & ZMQ_POLLIN) != 0) {
    std::uint64_t one = 1;
    (void)!write(leading_.load() ? replyFd_ : wakeFd_, &one, sizeof one);
  }
  return {};
}

Status Connection::post(flatbuffers::FlatBufferBuilder &fb, zmq_msg_t *data) {
  if (dead()) {
    if (data != nullptr)
      zmq_msg_close(data); // the data frame is consumed either way
    return error(CUDA_ERROR_DEVICE_UNAVAILABLE, "remote {}: {}", endpoint_.address, deathReason_);
  }
  std::lock_guard lock(sendMutex_);
  return sendLocked(fb, data);
}

Status Connection::send(flatbuffers::FlatBufferBuilder &fb, zmq_msg_t *data) { return post(fb, data); }

void Connection::expect(std::uint64_t seq) {
  std::lock_guard lock(waitMutex_);
  waiters_[seq] = std::make_shared<Waiter>();
}

Expected<std::unique_ptr<Frame>> Connection::call(flatbuffers::FlatBufferBuilder &fb, std::uint64_t seq,
                                                  zmq_msg_t *data) {
  expect(seq);
  Status s = post(fb, data);
  if (!s.ok()) {
    std::lock_guard lock(waitMutex_);
    waiters_.erase(seq);
    return s;
  }
  return await(seq);
}

Expected<std::unique_ptr<Frame>> Connection::await(std::uint64_t seq, int timeoutMs) {
  std::shared_ptr<Waiter> w;
  {
    std::lock_guard lock(waitMutex_);
    auto it = waiters_.find(seq);
    if (it == waiters_.end())
      return error(dead() ? CUDA_ERROR_DEVICE_UNAVAILABLE : CUDA_ERROR_UNKNOWN,
                   "remote {}: no request {} is pending", endpoint_.address, seq);
    w = it->second;
  }
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(timeoutMs < 0 ? 0 : timeoutMs);
  auto expired = [&] { return timeoutMs >= 0 && std::chrono::steady_clock::now() >= deadline; };
  while (!w->done.load(std::memory_order_acquire) && !dead() && !expired()) {
    bool idle = false;
    if (leading_.compare_exchange_strong(idle, true)) {
      // Receive for everyone until our reply is in.
      while (!w->done.load(std::memory_order_acquire) && !dead() && !expired()) {
        if (pump() != 0)
          continue;
        pollfd fds[2] = {{zmqFd_, POLLIN, 0}, {replyFd_, POLLIN, 0}};
        ::poll(fds, 2, 20); // bounded: the I/O thread still judges the server's silence
        if ((fds[1].revents & POLLIN) != 0) {
          std::uint64_t v;
          (void)!read(replyFd_, &v, sizeof v);
        }
      }
      leading_.store(false);
      std::uint64_t one = 1;
      (void)!write(wakeFd_, &one, sizeof one); // the I/O thread takes the socket back
      std::lock_guard lock(waitMutex_);
      waitCv_.notify_all(); // another waiter may lead now
      break;
    }
    std::unique_lock lock(waitMutex_);
    waitCv_.wait_for(lock, std::chrono::milliseconds(1),
                     [&] { return w->done.load(std::memory_order_acquire) || dead() || !leading_.load(); });
  }
  {
    std::lock_guard lock(waitMutex_);
    waiters_.erase(seq);
  }
  if (!w->done.load(std::memory_order_acquire) || !w->frame)
    return error(CUDA_ERROR_DEVICE_UNAVAILABLE, "remote {}: {}", endpoint_.address,
                 dead() ? deathReason_ : std::string("no reply in time"));
  auto frame = std::move(w->frame);
  const int code = frame->message->code();
  if (code != CUDA_SUCCESS)
    return error(static_cast<CUresult>(code), "remote {}: {}", endpoint_.address,
                 frame->message->message() ? frame->message->message()->str() : std::string());
  return frame;
}

void Connection::forget(std::uint64_t seq) {
  std::lock_guard lock(waitMutex_);
  waiters_.erase(seq);
}

void Connection::trackMarker(std::uint64_t id, MarkerPtr marker, ErrorSink *sink) {
  {
    std::lock_guard lock(noticeMutex_);
    if (!dead()) {
      markerIds_[marker.get()] = id;
      markers_[id] = {std::move(marker), sink};
      return;
    }
  }
  if (sink != nullptr)
    sink->asyncError(CUDA_ERROR_DEVICE_UNAVAILABLE, "remote " + endpoint_.address + ": " + deathReason_);
  marker->complete();
}

std::optional<std::uint64_t> Connection::markerId(const Marker *marker) {
  std::lock_guard lock(noticeMutex_);
  auto it = markerIds_.find(marker);
  if (it == markerIds_.end())
    return std::nullopt;
  return it->second;
}

void Connection::trackRead(std::uint64_t tag, ReadTarget target) {
  std::lock_guard lock(noticeMutex_);
  reads_[tag] = target;
}

void Connection::trackQueue(std::uint64_t queue, ErrorSink *sink) {
  std::lock_guard lock(noticeMutex_);
  queues_[queue] = sink;
}

void Connection::forgetQueue(std::uint64_t queue) {
  std::lock_guard lock(noticeMutex_);
  queues_.erase(queue);
}

void Connection::trackHostPoint(std::uint64_t token, std::function<void()> onReached) {
  std::lock_guard lock(noticeMutex_);
  hostPoints_[token] = std::move(onReached);
}

bool Connection::imageShipped(const std::string &hash) {
  std::lock_guard lock(imagesMutex_);
  return std::find(shipped_.begin(), shipped_.end(), hash) != shipped_.end();
}

void Connection::markImageShipped(const std::string &hash) {
  std::lock_guard lock(imagesMutex_);
  shipped_.push_back(hash);
}

void Connection::goodbye() {
  if (dead() || socket_ == nullptr)
    return;
  // The server closes the bulk socket as the session ends: no alarm.
  bulkReady_.store(false, std::memory_order_release);
  flatbuffers::FlatBufferBuilder fb;
  const std::uint64_t seq = nextSeq();
  fb.Finish(wire::CreateClientMessage(fb, seq, wire::Request::Goodbye, wire::CreateGoodbye(fb).Union()));
  expect(seq);
  if (post(fb).ok())
    (void)await(seq, 1000);
}

void Connection::ioMain() {
  pthread_setname_np(pthread_self(), "cuvirt-remote");
  std::int64_t lastPing = nowMs();
  while (!stop_) {
    if (!leading_.load() && pump() != 0 && leading_.load()) {
      // A caller leads now and may be waiting for what was just dispatched.
      std::uint64_t one = 1;
      (void)!write(replyFd_, &one, sizeof one);
    }
    if (dead())
      break;
    const std::int64_t now = nowMs();
    if (now - lastPing >= heartbeatMs_) {
      flatbuffers::FlatBufferBuilder fb;
      fb.Finish(wire::CreateClientMessage(fb, 0, wire::Request::Ping, wire::CreatePing(fb).Union()));
      (void)post(fb);
      lastPing = now;
    }
    if (now - lastHeard_ > timeoutMs_) {
      die(fmt::format("the server has not answered for {} ms", now - lastHeard_.load()));
      break;
    }
    // The server closes the bulk socket only when the session ends (or it
    // dies): no need to wait out the timeout then.
    const int bulk = bulkReady() ? bulkFd_.load() : -1;
    pollfd fds[3] = {{leading_.load() ? -1 : zmqFd_, POLLIN, 0}, {wakeFd_, POLLIN, 0}, {bulk, POLLRDHUP, 0}};
    ::poll(fds, 3, std::min(heartbeatMs_, 100));
    if ((fds[1].revents & POLLIN) != 0) {
      std::uint64_t v;
      (void)!read(wakeFd_, &v, sizeof v);
    }
    if ((fds[2].revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0 && bulkReady()) {
      die("the server closed the bulk socket");
      break;
    }
  }
}

std::size_t Connection::pump() {
  std::lock_guard order(dispatchMutex_);
  std::vector<std::unique_ptr<Frame>> batch;
  {
    std::lock_guard lock(sendMutex_);
    for (;;) {
      auto f = std::make_unique<Frame>();
      if (zmq_msg_recv(&f->header, socket_, ZMQ_DONTWAIT) < 0)
        break;
      // A multipart message arrives whole: these receives do not block.
      bool more = zmq_msg_more(&f->header) != 0;
      while (more) {
        zmq_msg_t part;
        zmq_msg_init(&part);
        zmq_msg_recv(&part, socket_, 0);
        more = zmq_msg_more(&part) != 0;
        if (!f->hasData) {
          zmq_msg_move(&f->data, &part);
          f->hasData = true;
        }
        zmq_msg_close(&part);
      }
      batch.push_back(std::move(f));
    }
  }
  if (!batch.empty())
    lastHeard_ = nowMs();
  for (auto &f : batch)
    dispatch(std::move(f));
  return batch.size();
}

void Connection::dispatch(std::unique_ptr<Frame> f) {
  std::string why;
  const void *bytes = alignedHeader(*f);
  f->message = decodeServer(bytes, zmq_msg_size(&f->header), why);
  if (f->message == nullptr) {
    log().warn("remote {}: dropped a malformed message: {}", endpoint_.address, why);
    return;
  }
  const auto *m = f->message;
  if (m->seq() != 0) {
    std::lock_guard lock(waitMutex_);
    auto it = waiters_.find(m->seq());
    if (it == waiters_.end())
      return; // a reply nobody waits for any more
    // await() erases it: it may not have looked it up yet.
    it->second->frame = std::move(f);
    it->second->done.store(true, std::memory_order_release);
    waitCv_.notify_all();
    return;
  }
  switch (m->response_type()) {
  case wire::Response::MarkerDone: {
    const auto *done = m->response_as_MarkerDone();
    PendingMarker p{};
    {
      std::lock_guard lock(noticeMutex_);
      auto it = markers_.find(done->marker());
      if (it == markers_.end())
        return;
      p = std::move(it->second);
      markers_.erase(it);
      markerIds_.erase(p.marker.get());
    }
    if (serverClock_ && done->time_ns() != 0)
      // The server's completion time: event timings without the network.
      p.marker->complete(Marker::Clock::time_point(
          std::chrono::nanoseconds(static_cast<std::int64_t>(done->time_ns()) + clockOffsetNs_)));
    else
      p.marker->complete();
    return;
  }
  case wire::Response::Output: {
    // Kernel printf (fd 1) and assertion text (fd 2), into this process's
    // streams before the MarkerDone that follows: out by the next sync.
    const auto *o = m->response_as_Output();
    if (o->text() == nullptr || o->text()->size() == 0)
      return;
    std::FILE *f = o->fd() == 2 ? stderr : stdout;
    std::fwrite(o->text()->data(), 1, o->text()->size(), f);
    if (o->fd() == 2)
      std::fflush(f);
    return;
  }
  case wire::Response::AsyncError: {
    const auto *e = m->response_as_AsyncError();
    ErrorSink *sink = nullptr;
    {
      std::lock_guard lock(noticeMutex_);
      auto it = queues_.find(e->queue());
      if (it != queues_.end())
        sink = it->second;
    }
    std::string text = "remote " + endpoint_.address + ": " + (e->message() ? e->message()->str() : "");
    log().debug("{}", text);
    if (sink != nullptr)
      sink->asyncError(static_cast<CUresult>(e->code()), text);
    else
      log().warn("{} (code {})", text, e->code());
    return;
  }
  case wire::Response::HostReached: {
    std::function<void()> fn;
    {
      std::lock_guard lock(noticeMutex_);
      auto it = hostPoints_.find(m->response_as_HostReached()->token());
      if (it == hostPoints_.end())
        return;
      fn = std::move(it->second);
      hostPoints_.erase(it);
    }
    fn();
    return;
  }
  case wire::Response::ReadData: {
    ReadTarget t;
    {
      std::lock_guard lock(noticeMutex_);
      auto it = reads_.find(m->response_as_ReadData()->tag());
      if (it == reads_.end())
        return;
      t = it->second;
      reads_.erase(it);
    }
    const auto *src = static_cast<const std::uint8_t *>(zmq_msg_data(&f->data));
    if (!f->hasData || zmq_msg_size(&f->data) != t.width * t.rows)
      return;
    if (t.deliver) {
      t.deliver(src, t.width * t.rows);
      return;
    }
    for (std::size_t r = 0; r < t.rows; ++r)
      std::memcpy(t.host + r * t.pitch, src + r * t.width, t.width);
    return;
  }
  default:
    return; // Pong: hearing from the server is all it says
  }
}

void Connection::die(const std::string &why) {
  {
    std::lock_guard lock(noticeMutex_);
    deathReason_ = "server unavailable: " + why;
    dead_.store(true, std::memory_order_release);
  }
  log().error("remote {}: {}", endpoint_.address, deathReason_);
  {
    std::lock_guard lock(waitMutex_);
    for (auto &[seq, w] : waiters_)
      w->done.store(true, std::memory_order_release);
    waitCv_.notify_all();
  }
  std::unordered_map<std::uint64_t, PendingMarker> markers;
  std::unordered_map<std::uint64_t, ErrorSink *> queues;
  {
    std::lock_guard lock(noticeMutex_);
    markers.swap(markers_);
    markerIds_.clear();
    queues = queues_;
    reads_.clear();
    hostPoints_.clear();
  }
  const std::string text = "remote " + endpoint_.address + ": " + deathReason_;
  for (auto &[q, sink] : queues)
    if (sink != nullptr)
      sink->asyncError(CUDA_ERROR_DEVICE_UNAVAILABLE, text);
  for (auto &[id, p] : markers) {
    if (p.sink != nullptr)
      p.sink->asyncError(CUDA_ERROR_DEVICE_UNAVAILABLE, text);
    p.marker->complete();
  }
}

} // namespace cuvirt::remote
