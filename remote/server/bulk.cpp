// cuvirtd's bulk sockets: synchronous device->host data goes raw over a plain
// TCP connection beside zmq, so that the client's recv() writes straight into
// the destination (zmq would receive into its own buffer first: one copy per
// byte more). Plaintext sessions only: the bytes bypass zmq, so with CURVE
// they would bypass encryption too. The request, its size and its status
// still travel over zmq; only payload bytes go here, in request order.
#include "remote/server/server_internal.h"
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

namespace cuvirt::remote {
namespace {

/// Jobs a session may have queued (each is a few words; a client keeps a
/// handful in flight).
constexpr std::size_t kMaxBulkJobs = 4096;

/// The numeric host of a socket address ("127.0.0.1", "::1"), or "".
std::string numericHost(const sockaddr *a, socklen_t len) {
  char host[NI_MAXHOST];
  if (getnameinfo(a, len, host, sizeof host, nullptr, 0, NI_NUMERICHOST) != 0)
    return {};
  return host;
}

bool isLoopback(const sockaddr *a) {
  if (a->sa_family == AF_INET)
    return (ntohl(reinterpret_cast<const sockaddr_in *>(a)->sin_addr.s_addr) >> 24) == 127;
  if (a->sa_family == AF_INET6)
    return IN6_IS_ADDR_LOOPBACK(&reinterpret_cast<const sockaddr_in6 *>(a)->sin6_addr);
  return false;
}

/// Moves `n` bytes with `io(left)` (one send or recv, returning what it
/// moved); false when the channel stops, the peer is gone or nothing moves
/// for `stallMs` (SO_SNDTIMEO/SO_RCVTIMEO make each call return often).
template <class Io> bool moveAll(BulkChannel &ch, std::size_t n, int stallMs, Io &&io) {
  std::int64_t last = nowMs();
  while (n > 0) {
    if (ch.stop.load())
      return false;
    const ssize_t r = io(n);
    if (r > 0) {
      n -= static_cast<std::size_t>(r);
      last = nowMs();
      continue;
    }
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && nowMs() - last < stallMs)
      continue;
    return false;
  }
  return true;
}

/// Sends all `n` bytes (see moveAll).
bool sendAll(BulkChannel &ch, const std::uint8_t *p, std::size_t n, int flags, int stallMs) {
  return moveAll(ch, n, stallMs, [&](std::size_t left) {
    const ssize_t r = ::send(ch.fd, p, left, flags | MSG_NOSIGNAL);
    p += std::max<ssize_t>(r, 0);
    return r;
  });
}

/// Receives exactly `n` bytes into `p` (see moveAll).
bool recvAll(BulkChannel &ch, std::uint8_t *p, std::size_t n, int stallMs) {
  return moveAll(ch, n, stallMs, [&](std::size_t left) {
    const ssize_t r = ::recv(ch.fd, p, left, MSG_WAITALL);
    p += std::max<ssize_t>(r, 0);
    return r;
  });
}

/// Sends `rows` rows of `width` bytes `pitch` apart (one send when packed).
bool sendRows(BulkChannel &ch, const std::uint8_t *at, std::uint64_t width, std::uint64_t rows,
              std::uint64_t pitch, int stallMs) {
  if (rows == 1 || pitch == width)
    return sendAll(ch, at, width * rows, 0, stallMs);
  for (std::uint64_t r = 0; r < rows; ++r)
    if (!sendAll(ch, at + r * pitch, width, r + 1 < rows ? MSG_MORE : 0, stallMs))
      return false;
  return true;
}

bool sendReply(BulkChannel &ch, std::uint64_t tag, Status st, std::uint64_t bytes, int stallMs) {
  BulkReply rep;
  rep.code = static_cast<std::int32_t>(st.code());
  rep.tag = tag;
  rep.bytes = st.ok() ? bytes : 0;
  const std::string text = st.ok() ? std::string() : lastErrorMessage().substr(0, kBulkMaxMessage);
  rep.message_bytes = static_cast<std::uint32_t>(text.size());
  const int more = rep.bytes != 0 || !text.empty() ? MSG_MORE : 0;
  return sendAll(ch, reinterpret_cast<const std::uint8_t *>(&rep), sizeof rep, more, stallMs) &&
         (text.empty() || sendAll(ch, reinterpret_cast<const std::uint8_t *>(text.data()), text.size(),
                                  rep.bytes ? MSG_MORE : 0, stallMs));
}

/// Serves one BulkRequest (v4) from the socket; false: the stream is broken.
/// The thread that reads the request sends or receives the data itself,
/// straight from or into device memory: no hand-off on the copy's path.
bool serveRequest(BulkChannel &ch, Server::Impl *srv, int stallMs) {
  BulkRequest q;
  if (!recvAll(ch, reinterpret_cast<std::uint8_t *>(&q), sizeof q, stallMs))
    return false;
  const std::uint64_t pitch = q.pitch != 0 ? q.pitch : q.width;
  std::uint64_t span = 0, total = 0;
  const bool sized = (q.op == kBulkRead || q.op == kBulkWrite) && q.width != 0 && q.rows != 0 &&
                     spanOf(q.width, q.rows, pitch, &span) &&
                     !__builtin_mul_overflow(q.width, q.rows, &total);
  if (!sized) {
    // A write's bytes cannot be skipped without their size: the stream ends.
    (void)sendReply(ch, q.tag, error(CUDA_ERROR_INVALID_VALUE, "bulk: bad request or size"), 0, stallMs);
    return false;
  }
  Status st;
  BackendDevice *dev = q.device < srv->devices.size() ? srv->devices[q.device].get() : nullptr;
  bool mine = false;
  if (dev != nullptr) {
    std::lock_guard lock(ch.owner->regionsMutex);
    mine = owns(*ch.owner, q.device, q.address, span);
  }
  if (!mine)
    st = error(CUDA_ERROR_INVALID_VALUE, "{}: 0x{:x}+{} is not this session's memory",
               q.op == kBulkRead ? "read" : "write", q.address, span);
  auto *at = reinterpret_cast<std::uint8_t *>(q.address);
  if (q.op == kBulkRead) {
    if (!st.ok())
      return sendReply(ch, q.tag, st, 0, stallMs); // nothing else follows
    std::vector<std::uint8_t> staged;
    if (!dev->hostVisible()) {
      staged.resize(total);
      CopyOp op;
      op.dst = reinterpret_cast<std::uint64_t>(staged.data());
      op.dstHost = true;
      op.src = q.address;
      op.widthBytes = q.width;
      op.height = q.rows;
      op.srcPitch = pitch;
      if (st = dev->copyNow(op); !st.ok())
        return sendReply(ch, q.tag, st, 0, stallMs);
    }
    if (!sendReply(ch, q.tag, st, total, stallMs))
      return false;
    const bool ok = staged.empty() ? sendRows(ch, at, q.width, q.rows, pitch, stallMs)
                                   : sendAll(ch, staged.data(), total, 0, stallMs);
    if (ok)
      srv->bulkBytes += total;
    return ok;
  }
  // Write: the bytes follow the request whether or not it is good.
  if (!st.ok() || !dev->hostVisible()) {
    std::vector<std::uint8_t> buf(std::min<std::uint64_t>(total, 4u << 20));
    std::vector<std::uint8_t> staged;
    if (st.ok())
      staged.resize(total);
    for (std::uint64_t off = 0; off < total;) {
      const std::size_t k = staged.empty() ? std::min<std::uint64_t>(total - off, buf.size()) : total;
      if (!recvAll(ch, staged.empty() ? buf.data() : staged.data(), k, stallMs))
        return false;
      off += k;
    }
    if (st.ok()) {
      CopyOp op;
      op.dst = q.address;
      op.src = reinterpret_cast<std::uint64_t>(staged.data());
      op.srcHost = true;
      op.widthBytes = q.width;
      op.height = q.rows;
      op.dstPitch = pitch;
      st = dev->copyNow(op);
    }
    return sendReply(ch, q.tag, st, 0, stallMs);
  }
  if (q.rows == 1 || pitch == q.width) {
    if (!recvAll(ch, at, total, stallMs))
      return false;
  } else {
    for (std::uint64_t r = 0; r < q.rows; ++r)
      if (!recvAll(ch, at + r * pitch, q.width, stallMs))
        return false;
  }
  return sendReply(ch, q.tag, st, 0, stallMs);
}

void channelMain(BulkChannel *ch, Server::Impl *srv) {
  pthread_setname_np(pthread_self(), "cuvirtd-bulk");
  const int stallMs = srv->config.sessionTimeoutMs;
  bool requests = true; // until the client closes its side
  while (!ch->stop.load()) {
    pollfd fds[2] = {{ch->wakeFd, POLLIN, 0}, {requests ? ch->fd : -1, POLLIN, 0}};
    if (::poll(fds, 2, 100) <= 0)
      continue;
    if ((fds[0].revents & POLLIN) != 0) {
      std::uint64_t v;
      (void)!::read(ch->wakeFd, &v, sizeof v);
    }
    bool ok = true;
    // v3: reads asked over zmq, in the order the loop checked them.
    for (;;) {
      BulkJob job;
      {
        std::lock_guard lock(ch->mutex);
        if (ch->stop.load() || ch->jobs.empty())
          break;
        job = ch->jobs.front();
        ch->jobs.pop_front();
      }
      ok = sendRows(*ch, reinterpret_cast<const std::uint8_t *>(job.address), job.width, job.rows, job.pitch,
                    stallMs);
      if (!ok)
        break;
      srv->bulkBytes += job.width * job.rows;
    }
    // v4: a request on the socket itself (or its end: the client is gone).
    if (ok && (fds[1].revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
      std::uint8_t peek;
      const ssize_t r = ::recv(ch->fd, &peek, 1, MSG_PEEK | MSG_DONTWAIT);
      if (r == 0)
        requests = false; // closed by the client; a v3 client never writes
      else if (r == 1)
        ok = serveRequest(*ch, srv, stallMs);
      else if (errno != EAGAIN && errno != EINTR)
        ok = false;
    }
    if (ok)
      continue;
    // The client sees the connection end and fails that copy; later copies
    // of this session go through zmq.
    std::lock_guard lock(ch->mutex);
    if (!ch->stop.load())
      srv->log->warn("event=bulk_broken session={} reason=\"{}\"", ch->session,
                     errno != 0 ? std::strerror(errno) : "stalled");
    ch->broken = true;
    ch->jobs.clear();
    ::shutdown(ch->fd, SHUT_RDWR);
    return;
  }
}

} // namespace

bool BulkChannel::enqueue(const BulkJob &job) {
  {
    std::lock_guard lock(mutex);
    if (fd < 0 || broken || stop.load() || jobs.size() >= kMaxBulkJobs)
      return false;
    jobs.push_back(job);
  }
  const std::uint64_t one = 1;
  (void)!::write(wakeFd, &one, sizeof one);
  return true;
}

void BulkChannel::close() {
  {
    std::lock_guard lock(mutex);
    stop = true;
    jobs.clear();
    if (fd >= 0)
      ::shutdown(fd, SHUT_RDWR); // a send or receive in progress returns at once
    if (wakeFd >= 0) {
      const std::uint64_t one = 1;
      (void)!::write(wakeFd, &one, sizeof one);
    }
  }
  if (sender.joinable())
    sender.join();
  std::lock_guard lock(mutex);
  if (fd >= 0)
    ::close(fd);
  fd = -1;
  if (wakeFd >= 0)
    ::close(wakeFd);
  wakeFd = -1;
}

void Server::Impl::openBulkListener(const std::string &bound) {
  if (bound.rfind("tcp://", 0) != 0)
    return; // ipc:// keeps its data on zmq
  const std::size_t colon = bound.rfind(':');
  if (colon == std::string::npos || colon < 6)
    return;
  std::string host = bound.substr(6, colon - 6);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  addrinfo hints{}, *found = nullptr;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICHOST;
  if (getaddrinfo(host.c_str(), "0", &hints, &found) != 0 || found == nullptr) {
    log->warn("event=bulk_off endpoint={} reason=\"not a numeric address\"", bound);
    return;
  }
  // Loopback only: the bytes are plaintext, and a wildcard address would
  // open the server to every interface.
  if (!isLoopback(found->ai_addr)) {
    log->warn("event=bulk_off endpoint={} reason=\"not a loopback address\"", bound);
    freeaddrinfo(found);
    return;
  }
  const int fd = socket(found->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  const bool ok = fd >= 0 && bind(fd, found->ai_addr, found->ai_addrlen) == 0 && listen(fd, 16) == 0;
  freeaddrinfo(found);
  sockaddr_storage a{};
  socklen_t len = sizeof a;
  if (!ok || getsockname(fd, reinterpret_cast<sockaddr *>(&a), &len) != 0) {
    log->warn("event=bulk_off endpoint={} reason=\"{}\"", bound, std::strerror(errno));
    if (fd >= 0)
      ::close(fd);
    return;
  }
  BulkListener l;
  l.fd = fd;
  l.host = numericHost(reinterpret_cast<sockaddr *>(&a), len);
  l.port = ntohs(a.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6 *>(&a)->sin6_port
                                         : reinterpret_cast<sockaddr_in *>(&a)->sin_port);
  bulkListeners.push_back(l);
  log->info("event=bulk_listen endpoint={} address={} port={}", bound, l.host, l.port);
}

void Server::Impl::startBulkAcceptor() {
  if (bulkListeners.empty())
    return;
  bulkAcceptor = std::thread([this] { bulkAcceptorMain(); });
}

void Server::Impl::stopBulk() {
  bulkStop = true;
  if (bulkAcceptor.joinable())
    bulkAcceptor.join();
  for (auto &l : bulkListeners)
    ::close(l.fd);
  bulkListeners.clear();
}

BulkChannelPtr Server::Impl::offerBulk(Session &session, std::uint16_t *port) {
  if (bulkListeners.empty() || !config.bulk || !config.secretKey.empty())
    return nullptr;
  // The listener on the interface this client reached (loopback stays loopback).
  const BulkListener *l = nullptr;
  sockaddr_storage a{};
  socklen_t len = sizeof a;
  if (messageFd >= 0 && getsockname(messageFd, reinterpret_cast<sockaddr *>(&a), &len) == 0) {
    const std::string host = numericHost(reinterpret_cast<sockaddr *>(&a), len);
    for (const auto &c : bulkListeners)
      if (c.host == host)
        l = &c;
  } else if (messageFd < 0 && bulkListeners.size() == 1) {
    l = &bulkListeners[0]; // this libzmq does not tell: the only listener (the client checks it uses tcp)
  }
  if (l == nullptr)
    return nullptr;
  auto ch = std::make_shared<BulkChannel>();
  ch->session = session.id;
  ch->owner = &session;
  ch->wakeFd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (ch->wakeFd < 0 || getrandom(ch->token, sizeof ch->token, 0) != static_cast<ssize_t>(sizeof ch->token))
    return nullptr;
  {
    std::lock_guard lock(bulkMutex);
    for (auto it = bulkChannels.begin(); it != bulkChannels.end();)
      it = it->second.expired() ? bulkChannels.erase(it) : std::next(it);
    bulkChannels[session.id] = ch;
  }
  *port = l->port;
  return ch;
}

void Server::Impl::bulkAcceptorMain() {
  pthread_setname_np(pthread_self(), "cuvirtd-accept");
  std::vector<pollfd> fds;
  for (const auto &l : bulkListeners)
    fds.push_back({l.fd, POLLIN, 0});
  while (!bulkStop.load()) {
    if (::poll(fds.data(), fds.size(), 100) <= 0)
      continue;
    for (auto &p : fds) {
      if ((p.revents & POLLIN) == 0)
        continue;
      const int fd = accept4(p.fd, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd >= 0)
        bulkHandshake(fd);
    }
  }
}

void Server::Impl::bulkHandshake(int fd) {
  // The opening must arrive whole and soon: this thread accepts for everyone.
  std::uint8_t hello[kBulkHelloBytes] = {};
  std::size_t got = 0;
  const std::int64_t deadline = nowMs() + config.bulkHandshakeMs;
  while (got < sizeof hello) {
    const std::int64_t left = deadline - nowMs();
    pollfd p{fd, POLLIN, 0};
    if (left <= 0 || ::poll(&p, 1, static_cast<int>(left)) <= 0)
      break;
    const ssize_t r = ::recv(fd, hello + got, sizeof hello - got, MSG_DONTWAIT);
    if (r <= 0 && !(r < 0 && (errno == EAGAIN || errno == EINTR)))
      break;
    if (r > 0)
      got += static_cast<std::size_t>(r);
  }
  std::uint64_t session = 0;
  for (int i = 7; i >= 0; --i)
    session = session << 8 | hello[8 + i];
  BulkChannelPtr ch;
  if (got == sizeof hello && std::memcmp(hello, kBulkMagic, sizeof kBulkMagic) == 0) {
    std::lock_guard lock(bulkMutex);
    auto it = bulkChannels.find(session);
    if (it != bulkChannels.end())
      ch = it->second.lock();
  }
  bool ok = false;
  if (ch) {
    std::lock_guard lock(ch->mutex);
    // Constant time: how many leading bytes matched must not show in timing.
    unsigned diff = 0;
    for (std::size_t i = 0; i < kBulkTokenBytes; ++i)
      diff |= ch->token[i] ^ hello[16 + i];
    ok = diff == 0 && !ch->claimed && !ch->stop.load();
    if (ok) {
      ch->claimed = true;
      ch->fd = fd;
      timeval tick{0, 100 * 1000}; // sends and receives return often enough to notice stop/stalls
      setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tick, sizeof tick);
      setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tick, sizeof tick);
      int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      ok = ::send(fd, &kBulkAccepted, 1, MSG_NOSIGNAL) == 1;
      if (ok)
        ch->sender = std::thread(channelMain, ch.get(), this);
      else
        ch->fd = -1;
    }
  }
  if (!ok) {
    log->warn("event=bulk_refused session={} reason=\"{}\"", session,
              got != sizeof hello                                      ? "short or slow opening"
              : std::memcmp(hello, kBulkMagic, sizeof kBulkMagic) != 0 ? "bad opening"
              : !ch                                                    ? "no such session"
                                                                       : "wrong or used token");
    ::close(fd);
    return;
  }
  log->info("event=bulk_open session={}", session);
}

} // namespace cuvirt::remote
