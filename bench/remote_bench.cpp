// Remote devices against their transports, in one run on loopback:
//   sync round trip  - a synchronous backend call (a 4-byte fill: one
//                      request, one reply) vs ZeroMQ REQ/REP vs raw TCP
//   async ops        - pipelined fills on a queue per second (launches too,
//                      once the CPU device runs kernels)
//   bandwidth        - H2D / D2H copyNow, 1 MiB ... 1 GiB, vs raw TCP, each
//                      repetition interleaved with the TCP one; for
//                      D2H and raw TCP reads also this process's CPU ms and
//                      minor page faults per GB (steadier than MB/s under load)
// Needs CUVIRT_REMOTE=<a cuvirtd endpoint>; bench/run_remote.sh starts one.
#include "runtime/backend.h"
#include "translate/ptx/ptx.h"
#include <arpa/inet.h>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>
#include <zmq.h>

using Clock = std::chrono::steady_clock;
using namespace cuvirt;

namespace {

/// This process's CPU seconds (all threads, zmq's included) and minor page
/// faults so far: per-byte client cost that the machine's load does not move.
struct Usage {
  double cpu = 0;
  long faults = 0;
};
Usage usage() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  auto sec = [](timeval t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6; };
  return {sec(u.ru_utime) + sec(u.ru_stime), u.ru_minflt};
}

double seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

int freePort() {
  int s = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(s, reinterpret_cast<sockaddr *>(&a), sizeof a);
  socklen_t len = sizeof a;
  getsockname(s, reinterpret_cast<sockaddr *>(&a), &len);
  close(s);
  return ntohs(a.sin_port);
}

bool readAll(int fd, void *p, std::size_t n) {
  auto *c = static_cast<char *>(p);
  while (n > 0) {
    ssize_t r = read(fd, c, n);
    if (r <= 0)
      return false;
    c += r;
    n -= static_cast<std::size_t>(r);
  }
  return true;
}

bool writeAll(int fd, const void *p, std::size_t n) {
  const auto *c = static_cast<const char *>(p);
  while (n > 0) {
    ssize_t r = write(fd, c, n);
    if (r <= 0)
      return false;
    c += r;
    n -= static_cast<std::size_t>(r);
  }
  return true;
}

/// A child process serving raw TCP: "p" ping-pong 64 B, "w N" swallow N bytes then ack, "r N" send N bytes.
pid_t tcpServer(int port) {
  int ls = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  bind(ls, reinterpret_cast<sockaddr *>(&a), sizeof a);
  listen(ls, 4);
  pid_t pid = fork();
  if (pid != 0) {
    close(ls);
    return pid;
  }
  int fd = accept(ls, nullptr, nullptr);
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  std::vector<char> buf(8 << 20);
  for (;;) {
    char cmd[16];
    if (!readAll(fd, cmd, 16))
      _exit(0);
    std::uint64_t n = 0;
    std::memcpy(&n, cmd + 8, 8);
    if (cmd[0] == 'p') {
      char msg[64];
      for (std::uint64_t i = 0; i < n; ++i)
        if (!readAll(fd, msg, 64) || !writeAll(fd, msg, 64))
          _exit(0);
    } else if (cmd[0] == 'w') {
      for (std::uint64_t left = n; left > 0;) {
        std::size_t k = std::min<std::uint64_t>(left, buf.size());
        if (!readAll(fd, buf.data(), k))
          _exit(0);
        left -= k;
      }
      writeAll(fd, "k", 1);
    } else {
      for (std::uint64_t left = n; left > 0;) {
        std::size_t k = std::min<std::uint64_t>(left, buf.size());
        if (!writeAll(fd, buf.data(), k))
          _exit(0);
        left -= k;
      }
    }
  }
}

int tcpConnect(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  for (int i = 0; i < 100 && connect(fd, reinterpret_cast<sockaddr *>(&a), sizeof a) != 0; ++i)
    usleep(10000);
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

void tcpCommand(int fd, char c, std::uint64_t n) {
  char cmd[16] = {c};
  std::memcpy(cmd + 8, &n, 8);
  writeAll(fd, cmd, 16);
}

/// A child process with a ZeroMQ REP echo on tcp://127.0.0.1:port.
pid_t zmqServer(int port) {
  pid_t pid = fork();
  if (pid != 0)
    return pid;
  void *ctx = zmq_ctx_new();
  void *rep = zmq_socket(ctx, ZMQ_REP);
  zmq_bind(rep, ("tcp://127.0.0.1:" + std::to_string(port)).c_str());
  char buf[64];
  for (;;) {
    int n = zmq_recv(rep, buf, sizeof buf, 0);
    if (n < 0)
      _exit(0);
    zmq_send(rep, buf, static_cast<std::size_t>(n), 0);
  }
}

} // namespace

int main(int argc, char **argv) {
  const int rounds = argc > 1 ? std::atoi(argv[1]) : 20000;
  const std::size_t maxBytes = argc > 2 ? std::strtoull(argv[2], nullptr, 0) : (std::size_t(1) << 30);
  signal(SIGPIPE, SIG_IGN);
  const int tcpPort = freePort();
  pid_t tcpChild = tcpServer(tcpPort);
  const int zmqPort = freePort();
  pid_t zmqChild = zmqServer(zmqPort);

  auto backend = makeRemoteBackend();
  auto devices = backend ? backend->devices() : decltype(backend->devices()){};
  if (devices.empty()) {
    std::fprintf(stderr, "remote_bench: no remote device (set CUVIRT_REMOTE)\n");
    kill(tcpChild, SIGKILL);
    kill(zmqChild, SIGKILL);
    return 1;
  }
  BackendDevice &dev = *devices[0];
  // Device memory at addresses of a window reserved here, as the runtime does.
  const std::size_t window = maxBytes + (4u << 20);
  void *w = mmap(nullptr, window, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  const auto base = (reinterpret_cast<std::uint64_t>(w) + (2u << 20) - 1) / (2u << 20) * (2u << 20);
  if (Status s = dev.commit(base, maxBytes + (2u << 20)); !s.ok()) {
    std::fprintf(stderr, "remote_bench: commit failed: %s\n", lastErrorMessage().c_str());
    return 1;
  }

  std::printf("# remote_bench on loopback: %d round trips; bandwidth up to %zu MiB\n", rounds,
              maxBytes >> 20);
  // --- round trips -----------------------------------------------------------
  FillOp fill;
  fill.dst = base;
  fill.width = 4;
  fill.value = 7;
  for (int i = 0; i < 1000; ++i)
    (void)dev.fillNow(fill);
  auto t0 = Clock::now();
  for (int i = 0; i < rounds; ++i)
    (void)dev.fillNow(fill);
  const double ours = seconds(t0, Clock::now()) / rounds * 1e6;

  void *ctx = zmq_ctx_new();
  void *req = zmq_socket(ctx, ZMQ_REQ);
  zmq_connect(req, ("tcp://127.0.0.1:" + std::to_string(zmqPort)).c_str());
  char msg[64] = {};
  for (int i = 0; i < 1000; ++i) {
    zmq_send(req, msg, 64, 0);
    zmq_recv(req, msg, 64, 0);
  }
  t0 = Clock::now();
  for (int i = 0; i < rounds; ++i) {
    zmq_send(req, msg, 64, 0);
    zmq_recv(req, msg, 64, 0);
  }
  const double zmqRt = seconds(t0, Clock::now()) / rounds * 1e6;

  int fd = tcpConnect(tcpPort);
  tcpCommand(fd, 'p', static_cast<std::uint64_t>(rounds) + 1000);
  for (int i = 0; i < 1000; ++i) {
    writeAll(fd, msg, 64);
    readAll(fd, msg, 64);
  }
  t0 = Clock::now();
  for (int i = 0; i < rounds; ++i) {
    writeAll(fd, msg, 64);
    readAll(fd, msg, 64);
  }
  const double tcpRt = seconds(t0, Clock::now()) / rounds * 1e6;
  std::printf("sync round trip: cuvirt %.1f us, zmq REQ/REP %.1f us, raw TCP %.1f us; cuvirt/zmq %.2fx, "
              "cuvirt/tcp %.2fx\n",
              ours, zmqRt, tcpRt, ours / zmqRt, ours / tcpRt);

  // --- async throughput -------------------------------------------------------
  struct Sink : ErrorSink {
    int errors = 0;
    void asyncError(CUresult, const std::string &) override { ++errors; }
  } sink;
  auto q = dev.createQueue(0, &sink);
  const int ops = rounds * 5;
  t0 = Clock::now();
  for (int i = 0; i < ops; ++i)
    q->fill(fill);
  const double enqueue = seconds(t0, Clock::now());
  q->synchronize();
  const double total = seconds(t0, Clock::now());
  std::printf("async fills: %d pipelined in %.3f s: %.0f ops/s enqueued, %.0f ops/s completed (errors %d)\n",
              ops, enqueue, ops / enqueue, ops / total, sink.errors);

  // Launches of an empty kernel, pipelined.
  {
    static const char *kPtx = ".version 7.0\n.target sm_52\n.address_size 64\n"
                              ".visible .entry noop(.param .u64 p)\n{\n  ret;\n}\n";
    std::string log;
    auto info = ptx::moduleInfo(kPtx, log);
    ModuleSource src;
    src.ptx = kPtx;
    if (info)
      src.info = &*info;
    auto mod = info ? dev.loadModule(src, log) : Expected<std::unique_ptr<BackendModule>>(info.status());
    auto kernel = mod ? (*mod)->kernel("noop") : Expected<BackendKernel *>(mod.status());
    if (!kernel) {
      std::printf("async launches: not measured (%s)\n", lastErrorMessage().c_str());
    } else {
      LaunchOp op;
      op.kernel = *kernel;
      op.params.assign(8, 0);
      op.layout = info->kernels[0].params;
      op.name = "noop";
      q->launch(op);
      q->synchronize();
      const int launches = rounds * 5;
      t0 = Clock::now();
      for (int i = 0; i < launches; ++i)
        q->launch(op);
      const double sent = seconds(t0, Clock::now());
      q->synchronize();
      const double done = seconds(t0, Clock::now());
      std::printf(
          "async launches: %d pipelined: %.0f launches/s enqueued, %.0f launches/s completed (errors %d)\n",
          launches, launches / sent, launches / done, sink.errors);
    }
  }

  // --- bandwidth ----------------------------------------------------------------
  std::vector<std::uint8_t> host(maxBytes);
  std::memset(host.data(), 1, host.size());
  std::printf("%10s %12s %12s %12s %12s %8s %8s %14s %14s\n", "bytes", "H2D MB/s", "TCP-w MB/s", "D2H MB/s",
              "TCP-r MB/s", "H2D/TCP", "D2H/TCP", "D2H cpu,flt/GB", "TCP-r cpu,flt");
  for (std::size_t n = 1u << 20; n <= maxBytes; n *= 4) {
    const int reps = static_cast<int>(std::max<std::size_t>(3, (std::size_t(1) << 30) / n));
    CopyOp h2d;
    h2d.dst = base;
    h2d.src = reinterpret_cast<std::uint64_t>(host.data());
    h2d.srcHost = true;
    h2d.widthBytes = n;
    CopyOp d2h;
    d2h.dst = reinterpret_cast<std::uint64_t>(host.data());
    d2h.dstHost = true;
    d2h.src = base;
    d2h.widthBytes = n;
    // Each repetition runs all four transfers back to back, so that cuvirt
    // and raw TCP see the same machine load (2 shared cores, other builds):
    // ratios of sums over interleaved runs, not of runs seconds apart.
    bool failed = !dev.copyNow(h2d).ok() || !dev.copyNow(d2h).ok();
    double upS = 0, downS = 0, tcpUpS = 0, tcpDownS = 0;
    Usage d2hUse, tcpUse;
    char ack;
    for (int i = 0; i < reps && !failed; ++i) {
      t0 = Clock::now();
      failed = !dev.copyNow(h2d).ok();
      upS += seconds(t0, Clock::now());
      t0 = Clock::now();
      tcpCommand(fd, 'w', n);
      writeAll(fd, host.data(), n);
      readAll(fd, &ack, 1);
      tcpUpS += seconds(t0, Clock::now());
      Usage u0 = usage();
      t0 = Clock::now();
      failed = failed || !dev.copyNow(d2h).ok();
      downS += seconds(t0, Clock::now());
      Usage u1 = usage();
      d2hUse.cpu += u1.cpu - u0.cpu;
      d2hUse.faults += u1.faults - u0.faults;
      t0 = Clock::now();
      tcpCommand(fd, 'r', n);
      readAll(fd, host.data(), n);
      tcpDownS += seconds(t0, Clock::now());
      Usage u2 = usage();
      tcpUse.cpu += u2.cpu - u1.cpu;
      tcpUse.faults += u2.faults - u1.faults;
    }
    if (failed) {
      std::printf("%10zu copy failed: %s\n", n, lastErrorMessage().c_str());
      break;
    }
    const double up = n * reps / upS / 1e6, down = n * reps / downS / 1e6;
    const double tcpUp = n * reps / tcpUpS / 1e6, tcpDown = n * reps / tcpDownS / 1e6;
    // Client CPU ms and minor faults per GB read.
    const double gb = static_cast<double>(n) * reps / 1e9;
    std::printf("%10zu %12.0f %12.0f %12.0f %12.0f %8.2f %8.2f %8.0f,%5.0f %8.0f,%5.0f\n", n, up, tcpUp, down,
                tcpDown, up / tcpUp, down / tcpDown, d2hUse.cpu * 1e3 / gb, d2hUse.faults / gb,
                tcpUse.cpu * 1e3 / gb, tcpUse.faults / gb);
  }
  close(fd);
  kill(tcpChild, SIGKILL);
  kill(zmqChild, SIGKILL);
  waitpid(tcpChild, nullptr, 0);
  waitpid(zmqChild, nullptr, 0);
  return 0;
}
