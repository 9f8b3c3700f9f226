// cuvirtd: serves a local backend's devices to remote clients over ZeroMQ,
// one session per client (remote/protocol/remote.fbs).
#pragma once
#include "runtime/backend.h"
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace cuvirt::remote {

struct ServerConfig {
  std::vector<std::string> endpoints;   ///< tcp://ADDR:PORT or ipc://PATH
  std::uint64_t quota = 0;              ///< bytes a session may commit; 0 = no limit
  int heartbeatMs = 1000;               ///< clients ping this often
  int sessionTimeoutMs = 10000;         ///< silence after which a session is freed
  bool insecure = false;                ///< no CURVE (loopback and ipc only)
  std::string publicKey, secretKey;     ///< the server's CURVE key pair (Z85)
  std::vector<std::string> allowedKeys; ///< client public keys (Z85)
  std::string name = "cuvirtd";
  std::size_t imageCacheBytes = 256u << 20; ///< module images kept by hash
  std::size_t maxSessions = 256;
  /// Synchronous device->host data over a plain TCP socket beside zmq, for
  /// plaintext (--insecure, so loopback) sessions; never with CURVE.
  bool bulk = true;
  int bulkHandshakeMs = 1000; ///< a bulk connection must show its token this fast
};

/// True for endpoints that never leave the machine (ipc://, tcp on loopback).
bool isLocalEndpoint(const std::string &endpoint);

class Server {
public:
  Server(ServerConfig config, std::vector<std::unique_ptr<BackendDevice>> devices);
  ~Server();
  Server(const Server &) = delete;
  Server &operator=(const Server &) = delete;
  /// Binds every endpoint (and starts authentication); errors are fatal.
  Status start();
  /// Serves until `stop` becomes true; then frees every session.
  void run(const std::atomic<bool> &stop);

  struct Impl;

private:
  std::unique_ptr<Impl> impl_;
};

/// Serves one frame as if it came from a client with this routing id, with
/// no socket: the fuzzer's entry (remote_fuzz.cpp). Returns the replies'
/// codes, in order.
std::vector<int> fuzzOneMessage(const std::uint8_t *data, std::size_t size);

} // namespace cuvirt::remote
