// cuvirt-smi: the devices of this machine and of cuvirtd servers, like
// nvidia-smi: name, memory used/total, sessions, utilisation, server.
//   cuvirt-smi                         local devices, and CUVIRT_REMOTE's servers
//   cuvirt-smi --remote tcp://h:7300   those servers
//   cuvirt-smi --json                  machine-readable
#include "remote/client/remote_backend.h"
#include <CLI/CLI.hpp>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <sstream>

using namespace cuvirt;
using namespace cuvirt::remote;

namespace {

struct Row {
  std::string server, name;
  std::uint64_t used = 0, total = 0;
  unsigned sessions = 0, busy = 0, queues = 0;
  bool ok = true;
  std::string error;
};

/// Asks a server for its StatsReply without opening a session.

std::vector<Row> queryServer(const Endpoint &e, int timeoutMs) {
  std::vector<Row> rows;
  void *sock = zmq_socket(zmqContext(), ZMQ_DEALER);
  int linger = 0;
  zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof linger);
  if (!e.serverKey.empty()) {
    zmq_setsockopt(sock, ZMQ_CURVE_SERVERKEY, e.serverKey.data(), e.serverKey.size());
    zmq_setsockopt(sock, ZMQ_CURVE_PUBLICKEY, e.clientPublic.data(), e.clientPublic.size());
    zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, e.clientSecret.data(), e.clientSecret.size());
  }
  zmq_connect(sock, e.address.c_str());
  flatbuffers::FlatBufferBuilder fb;
  fb.Finish(
      wire::CreateClientMessage(fb, 1, wire::Request::StatsRequest, wire::CreateStatsRequest(fb).Union()));
  zmq_send(sock, fb.GetBufferPointer(), fb.GetSize(), 0);
  zmq_pollitem_t item{sock, 0, ZMQ_POLLIN, 0};
  Row failed;
  failed.server = e.address;
  failed.ok = false;
  if (zmq_poll(&item, 1, timeoutMs) <= 0) {
    failed.error = "no answer";
    rows.push_back(failed);
    zmq_close(sock);
    return rows;
  }
  zmq_msg_t msg;
  zmq_msg_init(&msg);
  zmq_msg_recv(&msg, sock, 0);
  std::vector<std::uint64_t> aligned((zmq_msg_size(&msg) + 7) / 8);
  std::memcpy(aligned.data(), zmq_msg_data(&msg), zmq_msg_size(&msg));
  std::string why;
  const auto *m = decodeServer(aligned.data(), zmq_msg_size(&msg), why);
  const auto *st = m ? m->response_as_StatsReply() : nullptr;
  if (st == nullptr) {
    failed.error = m ? "refused" : why;
    rows.push_back(failed);
  } else if (st->devices() != nullptr) {
    for (const auto *d : *st->devices()) {
      Row r;
      r.server = e.address;
      r.name = d->name() ? d->name()->str() : "?";
      r.used = d->committed();
      r.total = d->total_memory();
      r.sessions = d->sessions();
      r.busy = d->busy_queues();
      r.queues = d->queues();
      rows.push_back(r);
    }
  }
  zmq_msg_close(&msg);
  zmq_close(sock);
  return rows;
}

} // namespace

int main(int argc, char **argv) {
  CLI::App app{"cuvirt-smi: cuvirt devices, local and remote"};
  std::string remoteList;
  bool json = false, noLocal = false;
  int timeoutMs = 2000;
  app.add_option("--remote", remoteList, "servers to ask (default: $CUVIRT_REMOTE)");
  app.add_flag("--json", json, "print JSON");
  app.add_flag("--no-local", noLocal, "skip this machine's devices");
  app.add_option("--timeout-ms", timeoutMs, "how long to wait for each server");
  CLI11_PARSE(app, argc, argv);
  if (!remoteList.empty())
    setenv("CUVIRT_REMOTE", remoteList.c_str(), 1);

  std::vector<Row> rows;
  if (!noLocal)
    for (auto &d : makeCpuBackend()->devices()) {
      Row r;
      r.server = "local";
      r.name = d->props().name;
      r.total = d->props().totalMemory;
      rows.push_back(r);
    }
  if (std::getenv("CUVIRT_REMOTE") != nullptr && *std::getenv("CUVIRT_REMOTE") != '\0') {
    auto eps = endpointsFromEnvironment();
    if (!eps) {
      std::fprintf(stderr, "cuvirt-smi: %s\n", lastErrorMessage().c_str());
      return 2;
    }
    for (const auto &e : *eps)
      for (auto &r : queryServer(e, timeoutMs))
        rows.push_back(r);
  }
  int failures = 0;
  if (json) {
    nlohmann::json out = nlohmann::json::array();
    for (std::size_t i = 0; i < rows.size(); ++i) {
      const Row &r = rows[i];
      out.push_back({{"index", i},
                     {"server", r.server},
                     {"name", r.name},
                     {"memory_used", r.used},
                     {"memory_total", r.total},
                     {"sessions", r.sessions},
                     {"busy_queues", r.busy},
                     {"queues", r.queues},
                     {"ok", r.ok},
                     {"error", r.error}});
      failures += r.ok ? 0 : 1;
    }
    std::printf("%s\n", out.dump(2).c_str());
    return failures ? 1 : 0;
  }
  std::printf("+-----+------------------------------------------+-----------------------+----------+------+--"
              "-------------------------+\n");
  std::printf("| Dev | Name                                     | Memory used / total   | Sessions | Util | "
              "Server                    |\n");
  std::printf("+-----+------------------------------------------+-----------------------+----------+------+--"
              "-------------------------+\n");
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const Row &r = rows[i];
    if (!r.ok) {
      std::printf("| %3zu | %-40.40s | %-21s | %8s | %4s | %-25.25s |\n", i, ("(" + r.error + ")").c_str(),
                  "-", "-", "-", r.server.c_str());
      ++failures;
      continue;
    }
    char mem[64];
    std::snprintf(mem, sizeof mem, "%llu / %llu MiB", (unsigned long long)(r.used >> 20),
                  (unsigned long long)(r.total >> 20));
    const unsigned util = r.queues ? 100 * r.busy / r.queues : 0;
    std::printf("| %3zu | %-40.40s | %21s | %8u | %3u%% | %-25.25s |\n", i, r.name.c_str(), mem, r.sessions,
                util, r.server.c_str());
  }
  std::printf("+-----+------------------------------------------+-----------------------+----------+------+--"
              "-------------------------+\n");
  return failures ? 1 : 0;
}
