// makeRemoteBackend(): the devices of every server in CUVIRT_REMOTE.
#include "remote/client/remote_backend.h"
#include "runtime/log.h"
#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace cuvirt::remote {
namespace {

std::string env(const char *name) {
  const char *v = std::getenv(name);
  return v != nullptr ? v : "";
}

// Sessions end at exit rather than at the server's heartbeat timeout.
std::mutex g_connectionsMutex;
std::vector<std::shared_ptr<Connection>> g_connections;

void sayGoodbye() {
  std::vector<std::shared_ptr<Connection>> all;
  {
    std::lock_guard lock(g_connectionsMutex);
    all = g_connections;
  }
  for (auto &c : all)
    c->goodbye();
}

struct Candidate {
  std::shared_ptr<Connection> conn;
  std::uint32_t index;
};

} // namespace

DeviceLoad RemoteDevice::load() {
  // The server's view: sessions using the device (this one uses none yet),
  // memory nobody committed.
  flatbuffers::FlatBufferBuilder fb;
  const std::uint64_t seq = conn_->nextSeq();
  fb.Finish(
      wire::CreateClientMessage(fb, seq, wire::Request::StatsRequest, wire::CreateStatsRequest(fb).Union()));
  auto r = conn_->call(fb, seq);
  const auto *st = r ? (*r)->message->response_as_StatsReply() : nullptr;
  if (st == nullptr || st->devices() == nullptr || index_ >= st->devices()->size())
    return {~0u, 0, false};
  const auto *d = st->devices()->Get(index_);
  return {d->sessions(), d->total_memory() > d->committed() ? d->total_memory() - d->committed() : 0, true};
}

RemoteDevice::~RemoteDevice() {
  // Only devices left out by CUVIRT_DEVICES are destroyed (the runtime lives
  // until exit): a server none of whose devices is used ends its session now.
  std::lock_guard lock(g_connectionsMutex);
  if (conn_.use_count() > 2) // this device, the list, and another device
    return;
  auto it = std::find(g_connections.begin(), g_connections.end(), conn_);
  if (it == g_connections.end())
    return;
  conn_->goodbye();
  g_connections.erase(it);
}

namespace {

class RemoteBackend : public Backend {
public:
  [[nodiscard]] std::string name() const override { return "remote"; }
  std::vector<std::unique_ptr<BackendDevice>> devices() override {
    std::vector<std::unique_ptr<BackendDevice>> out;
    auto endpoints = endpointsFromEnvironment();
    if (!endpoints) {
      log().error("CUVIRT_REMOTE: {}", lastErrorMessage());
      return out;
    }
    const char *t = std::getenv("CUVIRT_REMOTE_CONNECT_MS");
    const int connectMs = t != nullptr ? std::atoi(t) : 5000;
    std::vector<Candidate> all;
    for (auto &e : *endpoints) {
      auto conn = std::make_shared<Connection>(e);
      // A server that is down costs its devices, not the others'.
      if (Status s = conn->open(connectMs); !s.ok()) {
        log().error("{}", lastErrorMessage());
        continue;
      }
      for (std::uint32_t i = 0; i < conn->devices().size(); ++i)
        all.push_back({conn, i});
      std::lock_guard lock(g_connectionsMutex);
      if (g_connections.empty())
        std::atexit(sayGoodbye);
      g_connections.push_back(conn);
    }
    // CUVIRT_DEVICES=N chooses among the whole pool (runtime/device.cpp).
    for (auto &c : all)
      out.push_back(std::make_unique<RemoteDevice>(c.conn, c.index, c.conn->devices()[c.index]));
    return out;
  }
};

std::string trim(std::string s) {
  s.erase(0, s.find_first_not_of(" \t\r\n"));
  s.erase(s.find_last_not_of(" \t\r\n") + 1);
  return s;
}

} // namespace

Status readKeyFile(const std::string &path, std::string *publicKey, std::string *secretKey) {
  std::ifstream in(path);
  if (!in)
    return error(CUDA_ERROR_FILE_NOT_FOUND, "cannot read key file {}", path);
  for (std::string line; std::getline(in, line);) {
    line = trim(line);
    if (line.rfind("public=", 0) == 0 && publicKey != nullptr)
      *publicKey = trim(line.substr(7));
    else if (line.rfind("secret=", 0) == 0 && secretKey != nullptr)
      *secretKey = trim(line.substr(7));
  }
  if ((publicKey != nullptr && publicKey->size() != 40) || (secretKey != nullptr && secretKey->size() != 40))
    return error(CUDA_ERROR_INVALID_VALUE, "key file {} lacks a 40-character Z85 key", path);
  return {};
}

Expected<std::vector<Endpoint>> endpointsFromEnvironment() {
  std::vector<Endpoint> out;
  std::string serverKey, clientPublic, clientSecret;
  const std::string serverKeySpec = env("CUVIRT_REMOTE_SERVER_KEY"), clientKeyFile = env("CUVIRT_REMOTE_KEY");
  if (serverKeySpec.empty() != clientKeyFile.empty())
    return error(
        CUDA_ERROR_INVALID_VALUE,
        "set both CUVIRT_REMOTE_KEY (this client's key pair) and CUVIRT_REMOTE_SERVER_KEY, or neither");
  if (!clientKeyFile.empty()) {
    CUVIRT_TRY(readKeyFile(clientKeyFile, &clientPublic, &clientSecret));
    if (serverKeySpec.size() == 40 && serverKeySpec.find('/') == std::string::npos)
      serverKey = serverKeySpec;
    else
      CUVIRT_TRY(readKeyFile(serverKeySpec, &serverKey, nullptr));
  }
  std::stringstream in(env("CUVIRT_REMOTE"));
  for (std::string item; std::getline(in, item, ',');) {
    item = trim(item);
    if (item.empty())
      continue;
    if (item.rfind("tcp://", 0) != 0 && item.rfind("ipc://", 0) != 0)
      return error(CUDA_ERROR_INVALID_VALUE, "'{}' is not a tcp:// or ipc:// endpoint", item);
    out.push_back({item, serverKey, clientPublic, clientSecret});
  }
  if (out.empty())
    return error(CUDA_ERROR_INVALID_VALUE, "no endpoint given (CUVIRT_REMOTE=tcp://host:port[,...])");
  return out;
}

} // namespace cuvirt::remote

namespace cuvirt {
std::unique_ptr<Backend> makeRemoteBackend() { return std::make_unique<remote::RemoteBackend>(); }
} // namespace cuvirt
