// A raw protocol client for the remote tests: speaks remote.fbs directly,
// as a hostile or buggy client would, and checks cuvirtd's answers.
//   remote_probe forged ENDPOINT          forged pointers and handles are refused
//   remote_probe quota ENDPOINT BYTES     commits beyond the quota get OUT_OF_MEMORY
//   remote_probe corpus ENDPOINT FILE...  malformed frames get error replies, server keeps serving
//   remote_probe stats ENDPOINT           prints "sessions committed rejected bulk_bytes"
//   remote_probe bulk ENDPOINT            the bulk socket: forged/used tokens refused, data correct
//   remote_probe bulk-off ENDPOINT        a server with --bulk=off offers no bulk socket
//   remote_probe fake ENDPOINT MODE SECS  a fake server that breaks bulk reads (size|short|stall)
#include "remote/protocol/protocol.h"
#include <arpa/inet.h>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <cuda.h>
#include <fstream>
#include <iterator>
#include <netinet/in.h>
#include <optional>
#include <poll.h>
#include <string>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>
#include <zmq.h>

using namespace cuvirt::remote;

namespace {

int g_failures = 0;
#define EXPECT(cond, ...)                                                                                    \
  do {                                                                                                       \
    if (!(cond)) {                                                                                           \
      std::fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);                                   \
      std::fprintf(stderr, __VA_ARGS__);                                                                     \
      std::fprintf(stderr, "\n");                                                                            \
      ++g_failures;                                                                                          \
    }                                                                                                        \
  } while (0)

struct Reply {
  int code = -1;
  std::string message;
  std::vector<std::uint64_t> bytes; // aligned copy of the header
  std::string data;
  const wire::ServerMessage *msg = nullptr;
};

class Client {
public:
  Client(void *ctx, const std::string &endpoint) {
    sock_ = zmq_socket(ctx, ZMQ_DEALER);
    int linger = 0;
    zmq_setsockopt(sock_, ZMQ_LINGER, &linger, sizeof linger);
    zmq_connect(sock_, endpoint.c_str());
  }
  ~Client() { zmq_close(sock_); }

  void sendRaw(const void *p, std::size_t n, const std::string *data = nullptr) {
    zmq_send(sock_, p, n, data ? ZMQ_SNDMORE : 0);
    if (data)
      zmq_send(sock_, data->data(), data->size(), 0);
  }
  void send(flatbuffers::FlatBufferBuilder &fb, const std::string *data = nullptr) {
    sendRaw(fb.GetBufferPointer(), fb.GetSize(), data);
  }
  /// The next message with this seq (notices and other replies are skipped).
  std::optional<Reply> await(std::uint64_t seq, int timeoutMs = 5000) {
    for (int spent = 0; spent < timeoutMs;) {
      zmq_pollitem_t item{sock_, 0, ZMQ_POLLIN, 0};
      if (zmq_poll(&item, 1, 100) <= 0) {
        spent += 100;
        continue;
      }
      Reply r;
      zmq_msg_t m;
      zmq_msg_init(&m);
      zmq_msg_recv(&m, sock_, 0);
      r.bytes.resize((zmq_msg_size(&m) + 7) / 8);
      std::memcpy(r.bytes.data(), zmq_msg_data(&m), zmq_msg_size(&m));
      const bool more = zmq_msg_more(&m);
      const std::size_t size = zmq_msg_size(&m);
      zmq_msg_close(&m);
      if (more) {
        zmq_msg_init(&m);
        zmq_msg_recv(&m, sock_, 0);
        r.data.assign(static_cast<char *>(zmq_msg_data(&m)), zmq_msg_size(&m));
        zmq_msg_close(&m);
      }
      std::string why;
      r.msg = decodeServer(r.bytes.data(), size, why);
      if (r.msg == nullptr || r.msg->seq() != seq)
        continue;
      r.code = r.msg->code();
      r.message = r.msg->message() ? r.msg->message()->str() : "";
      return r;
    }
    return std::nullopt;
  }
  /// The next AsyncError notice.
  std::optional<Reply> awaitAsyncError(int timeoutMs = 5000) {
    for (int spent = 0; spent < timeoutMs;) {
      zmq_pollitem_t item{sock_, 0, ZMQ_POLLIN, 0};
      if (zmq_poll(&item, 1, 100) <= 0) {
        spent += 100;
        continue;
      }
      Reply r;
      zmq_msg_t m;
      zmq_msg_init(&m);
      zmq_msg_recv(&m, sock_, 0);
      r.bytes.resize((zmq_msg_size(&m) + 7) / 8);
      std::memcpy(r.bytes.data(), zmq_msg_data(&m), zmq_msg_size(&m));
      const std::size_t size = zmq_msg_size(&m);
      zmq_msg_close(&m);
      std::string why;
      r.msg = decodeServer(r.bytes.data(), size, why);
      if (r.msg && r.msg->response_type() == wire::Response::AsyncError) {
        r.code = r.msg->response_as_AsyncError()->code();
        return r;
      }
    }
    return std::nullopt;
  }
  std::optional<Reply> call(flatbuffers::FlatBufferBuilder &fb, std::uint64_t seq,
                            const std::string *data = nullptr) {
    send(fb, data);
    return await(seq);
  }
  bool hello() {
    flatbuffers::FlatBufferBuilder fb;
    fb.Finish(wire::CreateClientMessage(
        fb, 1, wire::Request::Hello,
        wire::CreateHello(fb, kVersionMin, kVersionMax, fb.CreateString("probe")).Union()));
    auto r = call(fb, 1);
    if (!r || r->code != 0 || r->msg->response_type() != wire::Response::HelloReply)
      return false;
    const auto *h = r->msg->response_as_HelloReply();
    session = h->session();
    bulkPort = h->bulk_port();
    if (h->bulk_token() != nullptr)
      token.assign(reinterpret_cast<const char *>(h->bulk_token()->data()), h->bulk_token()->size());
    return true;
  }
  std::uint64_t session = 0;
  std::uint32_t bulkPort = 0;
  std::string token;
  int commit(std::uint64_t seq, std::uint64_t address, std::uint64_t bytes) {
    flatbuffers::FlatBufferBuilder fb;
    fb.Finish(wire::CreateClientMessage(fb, seq, wire::Request::Commit,
                                        wire::CreateCommit(fb, 0, address, bytes).Union()));
    auto r = call(fb, seq);
    return r ? r->code : -1;
  }
  int write(std::uint64_t seq, std::uint64_t address, const std::string &bytes) {
    flatbuffers::FlatBufferBuilder fb;
    fb.Finish(
        wire::CreateClientMessage(fb, seq, wire::Request::Write,
                                  wire::CreateWrite(fb, 0, 0, address, bytes.size(), 1, 0, true).Union()));
    auto r = call(fb, seq, &bytes);
    return r ? r->code : -1;
  }
  std::optional<Reply> read(std::uint64_t seq, std::uint64_t address, std::uint64_t n, bool bulk = false) {
    flatbuffers::FlatBufferBuilder fb;
    fb.Finish(wire::CreateClientMessage(fb, seq, wire::Request::Read,
                                        wire::CreateRead(fb, 0, 0, address, n, 1, 0, 0, bulk).Union()));
    return call(fb, seq);
  }
  bool ping() {
    flatbuffers::FlatBufferBuilder fb;
    fb.Finish(wire::CreateClientMessage(fb, 99, wire::Request::Ping, wire::CreatePing(fb).Union()));
    auto r = call(fb, 99);
    return r && r->msg->response_type() == wire::Response::Pong;
  }

private:
  void *sock_;
};

/// An address range free in this process, likely free in the server too.
std::uint64_t freeRange(std::size_t bytes) {
  void *p = mmap(nullptr, bytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  return reinterpret_cast<std::uint64_t>(p);
}

int forged(void *ctx, const std::string &ep) {
  Client a(ctx, ep), b(ctx, ep);
  EXPECT(a.hello(), "session A");
  EXPECT(b.hello(), "session B");
  const std::uint64_t base = freeRange(8 << 20);
  EXPECT(a.commit(10, base, 2 << 20) == CUDA_SUCCESS, "A commits");
  EXPECT(a.write(11, base, "secret of A") == CUDA_SUCCESS, "A writes its memory");
  auto own = a.read(12, base, 11);
  EXPECT(own && own->code == 0 && own->data == "secret of A", "A reads its own memory back");
  // B forges A's pointer.
  auto stolen = b.read(13, base, 11);
  EXPECT(stolen && stolen->code == CUDA_ERROR_INVALID_VALUE && stolen->data.empty(),
         "B reading A's memory: %d", stolen ? stolen->code : -1);
  EXPECT(b.write(14, base, "overwrite") == CUDA_ERROR_INVALID_VALUE, "B writing A's memory");
  EXPECT(b.commit(15, base, 2 << 20) == CUDA_ERROR_OUT_OF_MEMORY, "B committing over A's memory");
  // Ranges that run past A's own commit, and overflowing ones.
  auto past = a.read(16, base + (2 << 20) - 4, 8);
  EXPECT(past && past->code == CUDA_ERROR_INVALID_VALUE, "A reading past its commit");
  auto wrap = a.read(17, ~std::uint64_t(0) - 2, 8);
  EXPECT(wrap && wrap->code == CUDA_ERROR_INVALID_VALUE, "wrapping range");
  EXPECT(a.commit(18, 4096, 4096) != CUDA_SUCCESS, "commit at a low address");
  // Forged handles: an unknown queue and an unknown kernel.
  {
    flatbuffers::FlatBufferBuilder fb;
    wire::Dim3 one(1, 1, 1);
    fb.Finish(wire::CreateClientMessage(fb, 0, wire::Request::Launch,
                                        wire::CreateLaunch(fb, 424242, 777, &one, &one, 0).Union()));
    b.send(fb);
    auto e = b.awaitAsyncError();
    EXPECT(e && e->code == CUDA_ERROR_INVALID_HANDLE, "launch on a forged queue: %d", e ? e->code : -1);
  }
  {
    flatbuffers::FlatBufferBuilder fb;
    fb.Finish(wire::CreateClientMessage(fb, 20, wire::Request::GetKernel,
                                        wire::CreateGetKernel(fb, 5555, 1, fb.CreateString("k")).Union()));
    auto r = b.call(fb, 20);
    EXPECT(r && r->code == CUDA_ERROR_INVALID_HANDLE, "kernel of a forged module");
  }
  // A's data is untouched.
  auto again = a.read(21, base, 11);
  EXPECT(again && again->data == "secret of A", "A's memory intact");
  return g_failures == 0 ? 0 : 1;
}

int quota(void *ctx, const std::string &ep, std::uint64_t limit) {
  Client a(ctx, ep);
  EXPECT(a.hello(), "session");
  const std::uint64_t chunk = 2 << 20;
  const std::uint64_t base = freeRange(limit + 4 * chunk);
  std::uint64_t done = 0;
  int code = 0;
  for (std::uint64_t seq = 10; done + chunk <= limit && seq < 100000; ++seq) {
    code = a.commit(seq, base + done, chunk);
    if (code != 0)
      break;
    done += chunk;
  }
  EXPECT(code == 0, "commits within the quota: %d", code);
  EXPECT(a.commit(7, base + done, chunk) == CUDA_ERROR_OUT_OF_MEMORY, "commit beyond the quota");
  return g_failures == 0 ? 0 : 1;
}

int corpus(void *ctx, const std::string &ep, int argc, char **argv) {
  Client bad(ctx, ep), good(ctx, ep);
  EXPECT(good.hello(), "well-behaved session");
  EXPECT(bad.hello(), "fuzzing session");
  int n = 0;
  for (int i = 0; i < argc; ++i) {
    std::ifstream in(argv[i], std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (bytes.empty())
      bytes = "x";
    bad.sendRaw(bytes.data(), bytes.size());
    ++n;
    // Every few frames the other client must still be served.
    if (n % 8 == 0)
      EXPECT(good.ping(), "server still answers after %d malformed frames", n);
  }
  EXPECT(good.ping(), "server answers after the corpus");
  EXPECT(bad.ping(), "the fuzzing client's session survives too");
  std::printf("sent %d frames\n", n);
  return g_failures == 0 ? 0 : 1;
}

/// Valid frames of every request, then damaged copies: the corpus test's
/// input and the fuzzer's seeds.
int gencorpus(const std::string &dir) {
  std::vector<std::string> frames;
  auto add = [&](flatbuffers::FlatBufferBuilder &fb) {
    frames.emplace_back(reinterpret_cast<const char *>(fb.GetBufferPointer()), fb.GetSize());
  };
  using R = wire::Request;
  {
    flatbuffers::FlatBufferBuilder fb;
    fb.Finish(wire::CreateClientMessage(fb, 1, R::Hello,
                                        wire::CreateHello(fb, 0, 99, fb.CreateString("x")).Union()));
    add(fb);
  }
  {
    flatbuffers::FlatBufferBuilder fb;
    fb.Finish(wire::CreateClientMessage(fb, 2, R::Hello, wire::CreateHello(fb, 50, 60).Union()));
    add(fb);
  }
  for (std::uint64_t a :
       {std::uint64_t(0), std::uint64_t(4096), ~std::uint64_t(0) - 4095, std::uint64_t(1) << 46}) {
    flatbuffers::FlatBufferBuilder fb;
    fb.Finish(
        wire::CreateClientMessage(fb, 3, R::Commit, wire::CreateCommit(fb, 0, a, ~std::uint64_t(0)).Union()));
    add(fb);
    flatbuffers::FlatBufferBuilder fb2;
    fb2.Finish(wire::CreateClientMessage(fb2, 4, R::Read,
                                         wire::CreateRead(fb2, 0, 7, a, 1u << 30, 1u << 30, 1).Union()));
    add(fb2);
    flatbuffers::FlatBufferBuilder fb3;
    fb3.Finish(
        wire::CreateClientMessage(fb3, 5, R::Write, wire::CreateWrite(fb3, 9, 0, a, 16, 4, 1, true).Union()));
    add(fb3);
    flatbuffers::FlatBufferBuilder fb4;
    fb4.Finish(wire::CreateClientMessage(
        fb4, 6, R::Copy, wire::CreateCopy(fb4, 0, 0, a, a + 8, ~std::uint64_t(0), 3, 3, 1, 1, 1, 1).Union()));
    add(fb4);
    flatbuffers::FlatBufferBuilder fb5;
    fb5.Finish(wire::CreateClientMessage(fb5, 7, R::Fill,
                                         wire::CreateFill(fb5, 0, 0, a, 0, 1u << 31, 9, 7, 3).Union()));
    add(fb5);
  }
  {
    flatbuffers::FlatBufferBuilder fb;
    std::uint8_t hash[16] = {1};
    fb.Finish(
        wire::CreateClientMessage(fb, 8, R::LoadModule,
                                  wire::CreateLoadModule(fb, 0, 1, fb.CreateVector(hash, 16),
                                                         fb.CreateString(".version 7.0\n.target sm_52\n@@@"))
                                      .Union()));
    add(fb);
  }
  {
    flatbuffers::FlatBufferBuilder fb;
    wire::Dim3 z(0, 0, 0), big(4096, 4096, 4096);
    std::vector<std::uint8_t> params(100000, 0xab);
    fb.Finish(wire::CreateClientMessage(
        fb, 0, R::Launch, wire::CreateLaunch(fb, 1, 1, &z, &big, ~0u, fb.CreateVector(params)).Union()));
    add(fb);
  }
  for (R r : {R::CreateQueue, R::DestroyQueue, R::Record, R::WaitMarker, R::WaitToken, R::HostPoint,
              R::ReleaseToken, R::UnloadModule, R::GetKernel, R::Release, R::StatsRequest, R::Ping}) {
    flatbuffers::FlatBufferBuilder fb;
    flatbuffers::Offset<void> body;
    switch (r) {
    case R::CreateQueue:
      body = wire::CreateCreateQueue(fb, 99, 0, -100).Union();
      break;
    case R::DestroyQueue:
      body = wire::CreateDestroyQueue(fb, 12345).Union();
      break;
    case R::Record:
      body = wire::CreateRecord(fb, 12345, 1).Union();
      break;
    case R::WaitMarker:
      body = wire::CreateWaitMarker(fb, 12345, 1).Union();
      break;
    case R::WaitToken:
      body = wire::CreateWaitToken(fb, 12345, 1).Union();
      break;
    case R::HostPoint:
      body = wire::CreateHostPoint(fb, 12345, 1).Union();
      break;
    case R::ReleaseToken:
      body = wire::CreateReleaseToken(fb, 777).Union();
      break;
    case R::UnloadModule:
      body = wire::CreateUnloadModule(fb, 777).Union();
      break;
    case R::GetKernel:
      body = wire::CreateGetKernel(fb, 777, 1).Union();
      break;
    case R::Release:
      body = wire::CreateRelease(fb, 0, 4096, 1 << 20).Union();
      break;
    case R::StatsRequest:
      body = wire::CreateStatsRequest(fb).Union();
      break;
    default:
      body = wire::CreatePing(fb).Union();
      break;
    }
    fb.Finish(wire::CreateClientMessage(fb, 9, r, body));
    add(fb);
  }
  // Damage: truncation, flipped bytes, a wrong union tag, junk.
  const std::size_t valid = frames.size();
  std::uint32_t rng = 12345;
  auto next = [&] { return rng = rng * 1664525u + 1013904223u; };
  for (std::size_t i = 0; i < valid; ++i) {
    const std::string f = frames[i];
    frames.push_back(f.substr(0, f.size() / 2));
    for (int k = 0; k < 3; ++k) {
      std::string g = f;
      for (int j = 0; j < 4; ++j)
        g[next() % g.size()] ^= static_cast<char>(1u << (next() % 8));
      frames.push_back(g);
    }
    std::string t = f;
    t[4] = static_cast<char>(0x7f); // root offset into nowhere
    frames.push_back(t);
  }
  frames.push_back(std::string(3, '\0'));
  frames.push_back(std::string(64, '\xff'));
  std::string junk(4096, '\0');
  for (auto &c : junk)
    c = static_cast<char>(next());
  frames.push_back(junk);
  mkdir(dir.c_str(), 0755);
  for (std::size_t i = 0; i < frames.size(); ++i) {
    std::ofstream out(dir + "/" + (i < valid ? "valid-" : "bad-") + std::to_string(i), std::ios::binary);
    out << frames[i];
  }
  std::printf("%zu frames in %s\n", frames.size(), dir.c_str());
  return 0;
}

/// Opens a bulk connection to 127.0.0.1:port and sends `opening`; returns
/// the fd once the server accepted (kBulkAccepted), else -1 with `*refused`
/// set when the server closed it within `waitMs`.
int bulkOpen(std::uint32_t port, const std::string &opening, bool *refused, int waitMs = 3000) {
  *refused = false;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  if (connect(fd, reinterpret_cast<sockaddr *>(&a), sizeof a) != 0) {
    close(fd);
    return -1;
  }
  if (!opening.empty())
    (void)!::send(fd, opening.data(), opening.size(), MSG_NOSIGNAL);
  pollfd p{fd, POLLIN, 0};
  char ack = 0;
  const ssize_t r = ::poll(&p, 1, waitMs) == 1 ? ::recv(fd, &ack, 1, 0) : -2;
  if (r == 1 && ack == kBulkAccepted)
    return fd;
  *refused = r == 0 || (r < 0 && r != -2); // closed (or reset) by the server, not a timeout
  close(fd);
  return -1;
}

std::string bulkOpening(std::uint64_t session, const std::string &token) {
  std::string o(kBulkMagic, sizeof kBulkMagic);
  for (int i = 0; i < 8; ++i)
    o.push_back(static_cast<char>(session >> (8 * i)));
  return o + token;
}

bool recvAll(int fd, char *p, std::size_t n, int timeoutMs) {
  while (n > 0) {
    pollfd pf{fd, POLLIN, 0};
    if (::poll(&pf, 1, timeoutMs) != 1)
      return false;
    const ssize_t r = ::recv(fd, p, n, 0);
    if (r <= 0)
      return false;
    p += r;
    n -= static_cast<std::size_t>(r);
  }
  return true;
}

int bulk(void *ctx, const std::string &ep, bool expectOff) {
  Client a(ctx, ep), b(ctx, ep);
  EXPECT(a.hello() && b.hello(), "sessions A and B");
  if (expectOff) {
    EXPECT(a.bulkPort == 0 && a.token.empty(), "no bulk socket offered: port %u", a.bulkPort);
    return g_failures == 0 ? 0 : 1;
  }
  EXPECT(a.bulkPort != 0 && a.token.size() == kBulkTokenBytes,
         "A is offered a bulk socket: port %u, token %zu", a.bulkPort, a.token.size());
  EXPECT(b.bulkPort == a.bulkPort && b.token != a.token, "B gets its own token");
  if (a.bulkPort == 0 || a.token.size() != kBulkTokenBytes)
    return 1;
  bool refused = false;
  // Forged openings: a wrong token, B's token for A's session, a bad magic,
  // a short opening, and silence; the server closes each.
  std::string wrong = a.token;
  wrong.back() = static_cast<char>(wrong.back() ^ 1);
  EXPECT(bulkOpen(a.bulkPort, bulkOpening(a.session, wrong), &refused) < 0 && refused, "wrong token refused");
  EXPECT(bulkOpen(a.bulkPort, bulkOpening(a.session, b.token), &refused) < 0 && refused,
         "another session's token refused");
  EXPECT(bulkOpen(a.bulkPort, bulkOpening(a.session + 1000, a.token), &refused) < 0 && refused,
         "unknown session refused");
  std::string badMagic = bulkOpening(a.session, a.token);
  badMagic[0] = 'X';
  EXPECT(bulkOpen(a.bulkPort, badMagic, &refused) < 0 && refused, "bad magic refused");
  EXPECT(bulkOpen(a.bulkPort, bulkOpening(a.session, a.token).substr(0, 20), &refused) < 0 && refused,
         "short opening closed (bounded wait)");
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT(bulkOpen(a.bulkPort, "", &refused, 5000) < 0 && refused, "silent connection closed");
  const double silentMs =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  EXPECT(silentMs < 4000, "silent connection closed within the handshake limit: %.0f ms", silentMs);
  // The right token, once.
  const int fd = bulkOpen(a.bulkPort, bulkOpening(a.session, a.token), &refused);
  EXPECT(fd >= 0, "A's own token accepted");
  EXPECT(bulkOpen(a.bulkPort, bulkOpening(a.session, a.token), &refused) < 0 && refused,
         "a used token is refused");
  if (fd < 0)
    return 1;
  // Data over it: the bytes of each read, in order, exactly.
  const std::uint64_t base = freeRange(8 << 20);
  EXPECT(a.commit(10, base, 2 << 20) == CUDA_SUCCESS, "A commits");
  std::string pattern(1 << 20, '\0');
  for (std::size_t i = 0; i < pattern.size(); ++i)
    pattern[i] = static_cast<char>(i * 7 + 3);
  EXPECT(a.write(11, base, pattern) == CUDA_SUCCESS, "A writes");
  auto r1 = a.read(12, base + 5, 300000, true);
  EXPECT(r1 && r1->code == 0 && r1->msg->response_as_ReadData() && r1->msg->response_as_ReadData()->bulk() &&
             r1->msg->response_as_ReadData()->bytes() == 300000 && r1->data.empty(),
         "a bulk read: status and size over zmq, no data frame");
  // A read outside the session: refused, and nothing goes on the socket.
  auto bad = a.read(13, base + (2 << 20) - 8, 64, true);
  EXPECT(bad && bad->code == CUDA_ERROR_INVALID_VALUE, "bulk read past the commit refused");
  auto r2 = a.read(14, base + 1000, 4096, true);
  EXPECT(r2 && r2->code == 0 && r2->msg->response_as_ReadData()->bulk(), "a second bulk read");
  std::string got(300000 + 4096, '\0');
  EXPECT(recvAll(fd, got.data(), got.size(), 5000), "the bytes of both reads arrive");
  EXPECT(got.substr(0, 300000) == pattern.substr(5, 300000) &&
             got.substr(300000) == pattern.substr(1000, 4096),
         "the bytes are the memory's, in request order");
  pollfd pf{fd, POLLIN, 0};
  EXPECT(::poll(&pf, 1, 300) == 0, "nothing more on the socket (the refused read sent nothing)");
  // B has no bulk socket: its bulk read falls back to a zmq data frame.
  const std::uint64_t bBase = freeRange(4 << 20);
  EXPECT(b.commit(20, bBase, 2 << 20) == CUDA_SUCCESS, "B commits");
  EXPECT(b.write(21, bBase, "B's data") == CUDA_SUCCESS, "B writes");
  auto rb = b.read(22, bBase, 8, true);
  EXPECT(rb && rb->code == 0 && rb->data == "B's data", "without a bulk socket the data comes over zmq");
  // B cannot read A's memory over A's socket either.
  auto steal = b.read(23, base, 64, true);
  EXPECT(steal && steal->code == CUDA_ERROR_INVALID_VALUE, "B's bulk read of A's memory refused");
  EXPECT(::poll(&pf, 1, 300) == 0, "and nothing appears on A's socket");
  // v4: copies asked on the socket itself, checked as zmq's are.
  auto ask = [&](char op, std::uint64_t tag, std::uint64_t at, std::uint64_t width, std::uint64_t rows,
                 std::uint64_t pitch, const std::string &bytes, BulkReply *rep, std::string *text) {
    BulkRequest q;
    q.op = op;
    q.tag = tag;
    q.address = at;
    q.width = width;
    q.rows = rows;
    q.pitch = pitch;
    std::string out(reinterpret_cast<const char *>(&q), sizeof q);
    out += bytes;
    if (::send(fd, out.data(), out.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(out.size()) ||
        !recvAll(fd, reinterpret_cast<char *>(rep), sizeof *rep, 5000) ||
        rep->message_bytes > kBulkMaxMessage)
      return false;
    text->assign(rep->message_bytes, '\0');
    return recvAll(fd, text->data(), text->size(), 5000);
  };
  BulkReply rep;
  std::string text, data;
  EXPECT(ask(kBulkRead, 31, base + 7, 5000, 1, 0, "", &rep, &text) && rep.code == 0 && rep.tag == 31 &&
             rep.bytes == 5000,
         "v4 read: accepted, tag echoed, size announced");
  data.assign(5000, '\0');
  EXPECT(recvAll(fd, data.data(), data.size(), 5000) && data == pattern.substr(7, 5000),
         "v4 read: the bytes");
  EXPECT(ask(kBulkRead, 32, base + (2 << 20) - 8, 64, 1, 0, "", &rep, &text) &&
             rep.code == CUDA_ERROR_INVALID_VALUE && rep.bytes == 0 && !text.empty() &&
             ::poll(&pf, 1, 300) == 0,
         "v4 read past the commit refused with a message, no data");
  EXPECT(ask(kBulkRead, 33, bBase, 8, 1, 0, "", &rep, &text) && rep.code == CUDA_ERROR_INVALID_VALUE,
         "v4 read of B's memory over A's socket refused");
  EXPECT(ask(kBulkWrite, 34, bBase, 8, 1, 0, "stolen!!", &rep, &text) && rep.code == CUDA_ERROR_INVALID_VALUE,
         "v4 write into B's memory refused (its bytes dropped)");
  auto rb2 = b.read(24, bBase, 8, true);
  EXPECT(rb2 && rb2->code == 0 && rb2->data == "B's data", "B's memory unchanged");
  // A pitched write (2 rows of 3 bytes, 10 apart), then read back pitched.
  EXPECT(ask(kBulkWrite, 35, base + 100, 3, 2, 10, "abcdef", &rep, &text) && rep.code == 0 && rep.tag == 35,
         "v4 pitched write accepted (the stream stayed in step after the refusals)");
  EXPECT(ask(kBulkRead, 36, base + 100, 13, 1, 0, "", &rep, &text) && rep.code == 0 && rep.bytes == 13,
         "v4 read after it");
  data.assign(13, '\0');
  EXPECT(recvAll(fd, data.data(), data.size(), 5000) && data == "abc" + pattern.substr(103, 7) + "def",
         "v4 pitched write landed in its rows only");
  EXPECT(ask('X', 37, base, 8, 1, 0, "", &rep, &text) && rep.code == CUDA_ERROR_INVALID_VALUE,
         "an unknown request is refused");
  char end = 0;
  EXPECT(recvAll(fd, &end, 1, 3000) == false, "and ends the socket (its size is unknown)");
  close(fd);
  return g_failures == 0 ? 0 : 1;
}

/// A fake cuvirtd for the client's bulk error paths: it answers Hello with
/// one device and a bulk socket, every other call with success, Pings with
/// Pong, and bulk reads (zmq Read{bulk} of v3, or v4's BulkRequest on the
/// bulk socket) wrongly, per `mode`:
///   size   ReadData says one byte more than was asked (nothing sent)
///   short  the right size, half the bytes, then the bulk socket closes
///   stall  the right size, half the bytes, then nothing (pings still answered)
/// Prints "listening" once bound; serves for `seconds`.
int fakeServer(void *ctx, const std::string &ep, const std::string &mode, int seconds) {
  void *router = zmq_socket(ctx, ZMQ_ROUTER);
  int linger = 0;
  zmq_setsockopt(router, ZMQ_LINGER, &linger, sizeof linger);
  if (zmq_bind(router, ep.c_str()) != 0)
    return 1;
  const int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t alen = sizeof a;
  if (bind(ls, reinterpret_cast<sockaddr *>(&a), sizeof a) != 0 || listen(ls, 4) != 0 ||
      getsockname(ls, reinterpret_cast<sockaddr *>(&a), &alen) != 0)
    return 1;
  const std::uint32_t port = ntohs(a.sin_port);
  std::printf("listening\n");
  std::fflush(stdout);
  int bulkFd = -1;
  std::vector<char> zeros(64 << 20, 7);
  auto reply = [&](const std::string &routing, flatbuffers::FlatBufferBuilder &fb) {
    zmq_send(router, routing.data(), routing.size(), ZMQ_SNDMORE);
    zmq_send(router, fb.GetBufferPointer(), fb.GetSize(), 0);
  };
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (std::chrono::steady_clock::now() < end) {
    zmq_pollitem_t items[3] = {
        {router, 0, ZMQ_POLLIN, 0}, {nullptr, ls, ZMQ_POLLIN, 0}, {nullptr, bulkFd, ZMQ_POLLIN, 0}};
    zmq_poll(items, bulkFd >= 0 ? 3 : 2, 50);
    if (bulkFd >= 0 && (items[2].revents & ZMQ_POLLIN) != 0) {
      // v4: the copy is asked on the bulk socket itself; writes succeed,
      // reads break as `mode` says (as the zmq Read below does for v3).
      BulkRequest q;
      if (!recvAll(bulkFd, reinterpret_cast<char *>(&q), sizeof q, 2000))
        return 1;
      const std::uint64_t n = q.width * q.rows;
      if (n > zeros.size())
        return 1;
      BulkReply rep;
      rep.tag = q.tag;
      if (q.op == kBulkWrite) {
        if (!recvAll(bulkFd, zeros.data(), n, 2000))
          return 1;
        (void)!::send(bulkFd, &rep, sizeof rep, MSG_NOSIGNAL);
        continue;
      }
      rep.bytes = mode == "size" ? n + 1 : n;
      (void)!::send(bulkFd, &rep, sizeof rep, MSG_NOSIGNAL);
      if (mode != "size")
        (void)!::send(bulkFd, zeros.data(), n / 2, MSG_NOSIGNAL);
      if (mode == "short") {
        close(bulkFd);
        bulkFd = -1;
      }
      continue;
    }
    if ((items[1].revents & ZMQ_POLLIN) != 0) {
      const int fd = accept4(ls, nullptr, nullptr, SOCK_CLOEXEC);
      char opening[kBulkHelloBytes];
      if (fd >= 0 && recvAll(fd, opening, sizeof opening, 2000)) {
        (void)!::send(fd, &kBulkAccepted, 1, MSG_NOSIGNAL);
        bulkFd = fd;
      }
    }
    if ((items[0].revents & ZMQ_POLLIN) == 0)
      continue;
    std::vector<std::string> parts;
    for (bool more = true; more;) {
      zmq_msg_t m;
      zmq_msg_init(&m);
      zmq_msg_recv(&m, router, 0);
      parts.emplace_back(static_cast<char *>(zmq_msg_data(&m)), zmq_msg_size(&m));
      more = zmq_msg_more(&m) != 0;
      zmq_msg_close(&m);
    }
    if (parts.size() < 2)
      continue;
    std::vector<std::uint64_t> aligned((parts[1].size() + 7) / 8);
    std::memcpy(aligned.data(), parts[1].data(), parts[1].size());
    std::string why;
    const auto *m = decodeClient(aligned.data(), parts[1].size(), why);
    if (m == nullptr)
      continue;
    flatbuffers::FlatBufferBuilder fb;
    switch (m->request_type()) {
    case wire::Request::Hello: {
      std::vector<int> attrs(CU_DEVICE_ATTRIBUTE_MAX, 1);
      attrs[CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR] = 8;
      attrs[CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR] = 0;
      attrs[CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK] = 1024;
      attrs[CU_DEVICE_ATTRIBUTE_WARP_SIZE] = 32;
      std::vector<flatbuffers::Offset<wire::DeviceInfo>> devs{
          wire::CreateDeviceInfo(fb, fb.CreateString("fake"), 1ull << 30,
                                 fb.CreateVector(std::vector<std::uint8_t>(16, 1)), fb.CreateVector(attrs))};
      auto body = wire::CreateHelloReply(fb, kVersionMax, 1, fb.CreateString("fake"), fb.CreateVector(devs),
                                         1000, 0, kMaxControlFrame, 0, port,
                                         fb.CreateVector(std::vector<std::uint8_t>(kBulkTokenBytes, 0)));
      fb.Finish(wire::CreateServerMessage(fb, m->seq(), 0, 0, wire::Response::HelloReply, body.Union()));
      break;
    }
    case wire::Request::Ping:
      fb.Finish(wire::CreateServerMessage(fb, 0, 0, 0, wire::Response::Pong, wire::CreatePong(fb).Union()));
      break;
    case wire::Request::Read: {
      const auto *r = m->request_as_Read();
      const std::uint64_t n = r->width() * r->rows();
      if (!r->bulk() || bulkFd < 0 || n > zeros.size())
        return 1; // the client should have asked for the bulk socket
      fb.Finish(wire::CreateServerMessage(
          fb, m->seq(), 0, 0, wire::Response::ReadData,
          wire::CreateReadData(fb, r->tag(), true, mode == "size" ? n + 1 : n).Union()));
      reply(parts[0], fb);
      if (mode != "size")
        (void)!::send(bulkFd, zeros.data(), n / 2, MSG_NOSIGNAL);
      if (mode == "short") {
        close(bulkFd);
        bulkFd = -1;
      }
      continue;
    }
    default:
      if (m->seq() == 0)
        continue;
      fb.Finish(wire::CreateServerMessage(fb, m->seq(), 0));
      break;
    }
    reply(parts[0], fb);
  }
  zmq_close(router);
  return 0;
}

int stats(void *ctx, const std::string &ep) {
  Client c(ctx, ep);
  flatbuffers::FlatBufferBuilder fb;
  fb.Finish(
      wire::CreateClientMessage(fb, 5, wire::Request::StatsRequest, wire::CreateStatsRequest(fb).Union()));
  auto r = c.call(fb, 5);
  if (!r || r->msg->response_type() != wire::Response::StatsReply)
    return 1;
  const auto *s = r->msg->response_as_StatsReply();
  std::printf("%u %llu %llu %llu\n", s->sessions(), (unsigned long long)s->committed(),
              (unsigned long long)s->rejected_messages(), (unsigned long long)s->bulk_bytes());
  return 0;
}

} // namespace

int main(int argc, char **argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: remote_probe forged|quota|corpus|stats|bulk|bulk-off ENDPOINT [...]\n");
    return 2;
  }
  void *ctx = zmq_ctx_new();
  const std::string cmd = argv[1], ep = argv[2];
  int rc = 2;
  if (cmd == "forged")
    rc = forged(ctx, ep);
  else if (cmd == "quota" && argc > 3)
    rc = quota(ctx, ep, std::strtoull(argv[3], nullptr, 0));
  else if (cmd == "corpus")
    rc = corpus(ctx, ep, argc - 3, argv + 3);
  else if (cmd == "gencorpus")
    rc = gencorpus(ep);
  else if (cmd == "stats")
    rc = stats(ctx, ep);
  else if (cmd == "fake" && argc > 4)
    rc = fakeServer(ctx, ep, argv[3], std::atoi(argv[4]));
  else if (cmd == "bulk" || cmd == "bulk-off")
    rc = bulk(ctx, ep, cmd == "bulk-off");
  std::printf("%s: %s\n", cmd.c_str(), rc == 0 ? "ok" : "FAILED");
  return rc;
}
