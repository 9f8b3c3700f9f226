// cuvirtd's sockets and loop: the ROUTER that every client talks to, CURVE
// authentication (a ZAP handler with the allowed client keys), the outbox
// worker threads send through, and session expiry.
#include "remote/server/server_internal.h"
#include <algorithm>
#include <cstring>
#include <poll.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <sys/eventfd.h>
#include <unistd.h>

namespace cuvirt::remote {

std::int64_t nowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

bool isLocalEndpoint(const std::string &e) {
  if (e.rfind("ipc://", 0) == 0 || e.rfind("inproc://", 0) == 0)
    return true;
  if (e.rfind("tcp://", 0) != 0)
    return false;
  std::string host = e.substr(6, e.rfind(':') == std::string::npos ? std::string::npos : e.rfind(':') - 6);
  return host.rfind("127.", 0) == 0 || host == "localhost" || host == "[::1]" || host == "lo";
}

Server::Server(ServerConfig config, std::vector<std::unique_ptr<BackendDevice>> devices)
    : impl_(std::make_unique<Impl>()) {
  impl_->config = std::move(config);
  impl_->devices = std::move(devices);
  impl_->log = spdlog::get("cuvirtd");
  if (!impl_->log) {
    impl_->log = spdlog::stderr_logger_mt("cuvirtd");
    impl_->log->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ level=%l %v", spdlog::pattern_time_type::utc);
  }
}

Server::~Server() {
  auto &s = *impl_;
  s.zapStop = true;
  if (s.zap.joinable())
    s.zap.join();
  s.stopBulk();
  if (s.router != nullptr)
    zmq_close(s.router);
  if (s.wakeFd >= 0)
    close(s.wakeFd);
  // The context is left to process exit: helper threads may still hold messages.
}

namespace {

/// ZAP (RFC 27): admits CURVE clients whose public key is on the list.
void zapMain(Server::Impl *s, void *handler) {
  std::vector<std::string> allowed;
  for (const auto &k : s->config.allowedKeys) {
    std::uint8_t raw[32];
    if (zmq_z85_decode(raw, k.c_str()) != nullptr)
      allowed.emplace_back(reinterpret_cast<char *>(raw), 32);
  }
  while (!s->zapStop) {
    zmq_pollitem_t item{handler, 0, ZMQ_POLLIN, 0};
    if (zmq_poll(&item, 1, 100) <= 0)
      continue;
    std::vector<std::string> parts;
    for (;;) {
      zmq_msg_t part;
      zmq_msg_init(&part);
      if (zmq_msg_recv(&part, handler, 0) < 0) {
        zmq_msg_close(&part);
        break;
      }
      parts.emplace_back(static_cast<char *>(zmq_msg_data(&part)), zmq_msg_size(&part));
      const bool more = zmq_msg_more(&part) != 0;
      zmq_msg_close(&part);
      if (!more)
        break;
    }
    // version, request id, domain, address, identity, mechanism, credentials...
    bool ok = parts.size() >= 7 && parts[0] == "1.0" && parts[5] == "CURVE" &&
              std::find(allowed.begin(), allowed.end(), parts[6]) != allowed.end();
    const std::string peer = parts.size() > 3 ? parts[3] : "?";
    if (!ok) {
      char key[41] = "unknown";
      if (parts.size() >= 7 && parts[6].size() == 32)
        zmq_z85_encode(key, reinterpret_cast<const std::uint8_t *>(parts[6].data()), 32);
      s->log->warn("event=auth_refused peer={} key={}", peer, key);
    }
    const std::string reply[] = {
        "1.0", parts.size() > 1 ? parts[1] : "", ok ? "200" : "400", ok ? "OK" : "client key not allowed", "",
        ""};
    for (int i = 0; i < 6; ++i)
      zmq_send(handler, reply[i].data(), reply[i].size(), i < 5 ? ZMQ_SNDMORE : 0);
  }
  zmq_close(handler);
}

} // namespace

Status Server::start() {
  auto &s = *impl_;
  const bool secure = !s.config.secretKey.empty();
  if (!secure && !s.config.insecure)
    return error(CUDA_ERROR_INVALID_VALUE, "no server key: give --key (see `cuvirtd keygen`) or --insecure");
  if (!secure)
    for (const auto &e : s.config.endpoints)
      if (!isLocalEndpoint(e))
        return error(CUDA_ERROR_INVALID_VALUE, "--insecure serves only loopback and ipc endpoints, not {}",
                     e);
  if (secure && s.config.allowedKeys.empty())
    return error(CUDA_ERROR_INVALID_VALUE, "no allowed client keys (--allow-key / --allow-keys-dir)");
  if (s.config.endpoints.empty())
    return error(CUDA_ERROR_INVALID_VALUE, "no endpoint to listen on (--listen)");
  s.ctx = zmq_ctx_new();
  if (secure) {
    void *handler = zmq_socket(s.ctx, ZMQ_REP);
    if (zmq_bind(handler, "inproc://zeromq.zap.01") != 0)
      return error(CUDA_ERROR_OPERATING_SYSTEM, "ZAP handler: {}", zmq_strerror(zmq_errno()));
    s.zap = std::thread(zapMain, &s, handler);
  }
  s.router = zmq_socket(s.ctx, ZMQ_ROUTER);
  int zero = 0, one = 1, linger = 0;
  zmq_setsockopt(s.router, ZMQ_SNDHWM, &zero, sizeof zero);
  zmq_setsockopt(s.router, ZMQ_RCVHWM, &zero, sizeof zero);
  zmq_setsockopt(s.router, ZMQ_LINGER, &linger, sizeof linger);
  std::int64_t maxMsg = static_cast<std::int64_t>(kMaxControlFrame);
  zmq_setsockopt(s.router, ZMQ_MAXMSGSIZE, &maxMsg, sizeof maxMsg);
  if (secure) {
    zmq_setsockopt(s.router, ZMQ_CURVE_SERVER, &one, sizeof one);
    if (zmq_setsockopt(s.router, ZMQ_CURVE_SECRETKEY, s.config.secretKey.data(), s.config.secretKey.size()) !=
        0)
      return error(CUDA_ERROR_INVALID_VALUE, "bad server secret key: {}", zmq_strerror(zmq_errno()));
    zmq_setsockopt(s.router, ZMQ_ZAP_DOMAIN, "cuvirt", 6);
  }
  for (const auto &e : s.config.endpoints) {
    if (zmq_bind(s.router, e.c_str()) != 0)
      return error(CUDA_ERROR_INVALID_VALUE, "cannot listen on {}: {}", e, zmq_strerror(zmq_errno()));
    // Plaintext sessions get a bulk socket on the same interface (bulk.cpp).
    char bound[512] = {};
    size_t boundLen = sizeof bound;
    if (!secure && s.config.bulk && zmq_getsockopt(s.router, ZMQ_LAST_ENDPOINT, bound, &boundLen) == 0)
      s.openBulkListener(bound);
  }
  s.startBulkAcceptor();
  s.wakeFd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  for (const auto &e : s.config.endpoints)
    s.log->info("event=listen endpoint={} security={}", e, secure ? "curve" : "none");
  for (std::size_t i = 0; i < s.devices.size(); ++i)
    s.log->info("event=device index={} name=\"{}\" memory={}", i, s.devices[i]->props().name,
                s.devices[i]->props().totalMemory);
  return {};
}

void Server::Impl::send(const std::string &routing, flatbuffers::FlatBufferBuilder &fb, ZMsg *data) {
  if (sendless) {
    const auto *m = flatbuffers::GetRoot<wire::ServerMessage>(fb.GetBufferPointer());
    sentCodes.push_back(m->code());
    return;
  }
  zmq_send(router, routing.data(), routing.size(), ZMQ_SNDMORE);
  zmq_send(router, fb.GetBufferPointer(), fb.GetSize(), data != nullptr ? ZMQ_SNDMORE : 0);
  if (data != nullptr)
    zmq_msg_send(&data->m, router, 0);
}

void Server::Impl::notice(const std::string &routing, flatbuffers::FlatBufferBuilder &fb, ZMsgPtr data) {
  Outgoing o;
  o.routing = routing;
  o.header.assign(fb.GetBufferPointer(), fb.GetBufferPointer() + fb.GetSize());
  o.data = std::move(data);
  {
    std::lock_guard lock(outboxMutex);
    outbox.push_back(std::move(o));
  }
  if (wakeFd >= 0) {
    std::uint64_t one = 1;
    (void)!write(wakeFd, &one, sizeof one);
  }
}

void Server::Impl::flushOutbox() {
  std::deque<Outgoing> batch;
  {
    std::lock_guard lock(outboxMutex);
    batch.swap(outbox);
  }
  if (sendless)
    return;
  for (auto &o : batch) {
    zmq_send(router, o.routing.data(), o.routing.size(), ZMQ_SNDMORE);
    zmq_send(router, o.header.data(), o.header.size(), o.data ? ZMQ_SNDMORE : 0);
    if (o.data) {
      // The frame may still be shared with a queue task: send a copy of the handle.
      zmq_msg_t copy;
      zmq_msg_init(&copy);
      zmq_msg_copy(&copy, &o.data->m);
      zmq_msg_send(&copy, router, 0);
    }
  }
}

void Server::Impl::reply(const std::string &routing, std::uint64_t seq, Status status,
                         const std::string &message) {
  flatbuffers::FlatBufferBuilder fb;
  auto text = fb.CreateString(message);
  wire::ServerMessageBuilder b(fb);
  b.add_seq(seq);
  b.add_code(static_cast<int>(status.code()));
  b.add_message(text);
  fb.Finish(b.Finish());
  send(routing, fb);
}

void Server::Impl::receive(const std::string &routing, ZMsg &header, ZMsg *data, bool extraParts) {
  std::string why;
  const wire::ClientMessage *m = nullptr;
  std::vector<std::uint64_t> aligned;
  const void *bytes = header.data();
  if (reinterpret_cast<std::uintptr_t>(bytes) % 8 != 0 && header.size() <= kMaxControlFrame) {
    aligned.resize((header.size() + 7) / 8);
    std::memcpy(aligned.data(), bytes, header.size());
    bytes = aligned.data();
  }
  if (extraParts)
    why = "too many frames";
  else if (data != nullptr && data->size() > kMaxDataFrame)
    why = "data frame too large";
  else
    m = decodeClient(bytes, header.size(), why);
  if (m == nullptr) {
    ++rejected;
    log->warn("event=rejected reason=\"{}\" bytes={}", why, header.size());
    reply(routing, 0, CUDA_ERROR_INVALID_VALUE, "malformed message: " + why);
    return;
  }
  handle(routing, *m, data);
}

void Server::Impl::helper(std::function<void()> fn) {
  ++helpers;
  std::thread([this, fn = std::move(fn)] {
    fn();
    --helpers;
  }).detach();
}

void Server::Impl::endSession(const SessionPtr &s, const char *why, bool wait) {
  sessions.erase(s->routing);
  log->info("event=session_end session={} reason={} committed={}", s->id, why, s->committed);
  if (wait)
    teardown(*s);
  else
    helper([this, s] { teardown(*s); });
}

void Server::Impl::expireSessions() {
  const std::int64_t now = nowMs();
  std::vector<SessionPtr> dead;
  for (auto &[r, s] : sessions)
    if (now - s->lastSeen > config.sessionTimeoutMs)
      dead.push_back(s);
  for (auto &s : dead)
    endSession(s, "heartbeat_timeout");
}

void Server::run(const std::atomic<bool> &stop) {
  auto &s = *impl_;
  std::int64_t lastExpiry = nowMs();
  while (!stop) {
    zmq_pollitem_t items[2] = {{s.router, 0, ZMQ_POLLIN, 0}, {nullptr, s.wakeFd, ZMQ_POLLIN, 0}};
    zmq_poll(items, 2, 100);
    if ((items[1].revents & ZMQ_POLLIN) != 0) {
      std::uint64_t v;
      (void)!read(s.wakeFd, &v, sizeof v);
    }
    s.flushOutbox();
    for (int n = 0; n < 256; ++n) {
      ZMsg routing;
      if (zmq_msg_recv(&routing.m, s.router, ZMQ_DONTWAIT) < 0)
        break;
      ZMsg header;
      std::unique_ptr<ZMsg> data;
      bool extra = false;
      if (zmq_msg_more(&routing.m) != 0) {
        zmq_msg_recv(&header.m, s.router, 0);
        bool more = zmq_msg_more(&header.m) != 0;
        while (more) {
          auto part = std::make_unique<ZMsg>();
          zmq_msg_recv(&part->m, s.router, 0);
          more = zmq_msg_more(&part->m) != 0;
          if (!data)
            data = std::move(part);
          else
            extra = true;
        }
      }
      std::string id(reinterpret_cast<char *>(routing.data()), routing.size());
      s.messageFd = zmq_msg_get(&header.m, ZMQ_SRCFD);
      s.receive(id, header, data.get(), extra);
      s.messageFd = -1;
      s.flushOutbox();
    }
    if (nowMs() - lastExpiry > 200) {
      s.expireSessions();
      lastExpiry = nowMs();
    }
  }
  s.log->info("event=shutdown sessions={}", s.sessions.size());
  std::vector<SessionPtr> all;
  for (auto &[r, sp] : s.sessions)
    all.push_back(sp);
  for (auto &sp : all)
    s.endSession(sp, "shutdown", true);
  // Helpers (kernel compilation, queue teardown) finish before the devices go.
  for (int i = 0; i < 300 && s.helpers.load() > 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  s.flushOutbox();
  s.log->info("event=stopped");
}

std::vector<int> fuzzOneMessage(const std::uint8_t *data, std::size_t size) {
  static Server::Impl *impl = [] {
    ServerConfig c;
    c.insecure = true;
    c.quota = 64u << 20;
    std::vector<std::unique_ptr<BackendDevice>> devices;
    devices = makeCpuBackend()->devices();
    auto *i = new Server::Impl;
    i->config = c;
    i->devices = std::move(devices);
    i->log = spdlog::stderr_logger_mt("cuvirtd-fuzz");
    i->log->set_level(spdlog::level::off);
    i->sendless = true;
    return i;
  }();
  impl->sentCodes.clear();
  // A frame, optionally followed (after a 0xFF 'C' 'V' 'D' marker) by a data frame.
  static const std::uint8_t sep[4] = {0xff, 'C', 'V', 'D'};
  std::size_t cut = size;
  for (std::size_t i = 0; i + 4 <= size; ++i)
    if (std::memcmp(data + i, sep, 4) == 0) {
      cut = i;
      break;
    }
  ZMsg header(cut);
  if (cut != 0)
    std::memcpy(header.data(), data, cut);
  std::unique_ptr<ZMsg> extra;
  if (cut < size) {
    extra = std::make_unique<ZMsg>(size - cut - 4);
    if (size - cut - 4 != 0)
      std::memcpy(extra->data(), data + cut + 4, size - cut - 4);
  }
  impl->receive("fuzz-client", header, extra.get(), false);
  impl->flushOutbox();
  return impl->sentCodes;
}

} // namespace cuvirt::remote
