// cuvirtd: serves this machine's cuvirt devices to remote clients.
//   cuvirtd --listen tcp://127.0.0.1:7300 --insecure
//   cuvirtd --config /etc/cuvirt/cuvirtd.ini
//   cuvirtd keygen NAME        (writes NAME.key and NAME.pub)
#include "remote/client/remote_backend.h"
#include "remote/server/server.h"
#include <CLI/CLI.hpp>
#include <atomic>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <malloc.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <zmq.h>

namespace {

std::atomic<bool> g_stop{false};
void onSignal(int) { g_stop = true; }

/// "512M", "4G", "1048576" -> bytes.
bool parseBytes(const std::string &text, std::uint64_t *out) {
  if (text.empty())
    return false;
  char *end = nullptr;
  unsigned long long v = std::strtoull(text.c_str(), &end, 10);
  std::uint64_t mul = 1;
  switch (*end) {
  case 'k':
  case 'K':
    mul = 1ull << 10;
    ++end;
    break;
  case 'm':
  case 'M':
    mul = 1ull << 20;
    ++end;
    break;
  case 'g':
  case 'G':
    mul = 1ull << 30;
    ++end;
    break;
  case 't':
  case 'T':
    mul = 1ull << 40;
    ++end;
    break;
  default:
    break;
  }
  if (*end == 'i' || *end == 'B')
    ++end;
  if (*end == 'B')
    ++end;
  *out = v * mul;
  return *end == '\0';
}

int keygen(const std::string &name) {
  char pub[41], sec[41];
  if (zmq_curve_keypair(pub, sec) != 0) {
    std::cerr << "cuvirtd: this libzmq has no CURVE support\n";
    return 1;
  }
  {
    std::ofstream key(name + ".key");
    key << "# cuvirt CURVE key pair: keep secret\npublic=" << pub << "\nsecret=" << sec << "\n";
    if (!key) {
      std::cerr << "cuvirtd: cannot write " << name << ".key\n";
      return 1;
    }
  }
  chmod((name + ".key").c_str(), 0600);
  std::ofstream(name + ".pub") << "# cuvirt CURVE public key\npublic=" << pub << "\n";
  std::cout << "wrote " << name << ".key (key pair, mode 600) and " << name << ".pub (public key)\n";
  return 0;
}

} // namespace

int main(int argc, char **argv) {
  CLI::App app{"cuvirtd: serves this machine's cuvirt devices to remote clients over ZeroMQ"};
  app.set_config("--config", "", "INI/TOML file with any of these options (e.g. listen = [\"tcp://...\"])");
  std::vector<std::string> listen;
  std::string quotaText = "0", keyFile, allowDir, level = "info";
  std::vector<std::string> allowKeys;
  std::vector<int> deviceList;
  cuvirt::remote::ServerConfig config;
  app.add_option("-l,--listen", listen, "endpoint to serve on: tcp://ADDR:PORT or ipc://PATH (repeatable)");
  app.add_option("--devices", deviceList, "indices of the local devices to export (default: all)");
  app.add_option("--quota", quotaText, "device memory each client session may use (e.g. 4G; 0 = no limit)");
  app.add_option("--key", keyFile, "the server's key pair file (from `cuvirtd keygen`): enables CURVE");
  app.add_option("--allow-key", allowKeys, "a client public key (Z85) or .pub file allowed in (repeatable)");
  app.add_option("--allow-keys-dir", allowDir, "a directory of allowed clients' .pub files");
  app.add_flag("--insecure", config.insecure,
               "no encryption or authentication (loopback and ipc endpoints only)");
  app.add_option("--heartbeat-ms", config.heartbeatMs, "how often clients must ping")
      ->check(CLI::Range(10, 60000));
  app.add_option("--session-timeout-ms", config.sessionTimeoutMs, "silence after which a session is freed")
      ->check(CLI::Range(100, 3600000));
  std::string bulkMode = "plain";
  app.add_option("--bulk", bulkMode,
                 "device->host data over a plain TCP socket beside zmq: plain (default; --insecure tcp "
                 "endpoints only, never with --key) or off")
      ->check(CLI::IsMember({"off", "plain"}));
  app.add_option("--name", config.name, "this server's name in listings");
  app.add_option("--log-level", level, "trace, debug, info, warn, error");
  std::string keygenName;
  auto *kg = app.add_subcommand("keygen", "write a CURVE key pair: NAME.key (secret) and NAME.pub");
  kg->add_option("name", keygenName, "file name stem")->required();
  CLI11_PARSE(app, argc, argv);
  if (*kg)
    return keygen(keygenName);

  auto log = spdlog::stderr_logger_mt("cuvirtd");
  log->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ level=%l %v", spdlog::pattern_time_type::utc);
  log->set_level(spdlog::level::from_str(level));

  if (!parseBytes(quotaText, &config.quota)) {
    std::cerr << "cuvirtd: --quota: not a size: " << quotaText << "\n";
    return 2;
  }
  config.endpoints = listen;
  config.bulk = bulkMode == "plain";
  if (!keyFile.empty()) {
    if (!cuvirt::remote::readKeyFile(keyFile, &config.publicKey, &config.secretKey).ok()) {
      std::cerr << "cuvirtd: " << cuvirt::lastErrorMessage() << "\n";
      return 2;
    }
  }
  auto addKey = [&](const std::string &k) {
    if (k.size() == 40 && k.find('/') == std::string::npos && k.find('.') == std::string::npos) {
      config.allowedKeys.push_back(k);
      return true;
    }
    std::string pub;
    if (!cuvirt::remote::readKeyFile(k, &pub, nullptr).ok())
      return false;
    config.allowedKeys.push_back(pub);
    return true;
  };
  for (const auto &k : allowKeys)
    if (!addKey(k)) {
      std::cerr << "cuvirtd: --allow-key " << k << ": not a key or key file\n";
      return 2;
    }
  if (!allowDir.empty()) {
    std::error_code ec;
    for (const auto &e : std::filesystem::directory_iterator(allowDir, ec))
      if (e.path().extension() == ".pub" && !addKey(e.path().string()))
        log->warn("event=bad_key_file path={}", e.path().string());
    if (ec) {
      std::cerr << "cuvirtd: --allow-keys-dir " << allowDir << ": " << ec.message() << "\n";
      return 2;
    }
  }

  // Copy frames (4 MiB) come and go all the time: keep them in the heap
  // rather than mapping and faulting fresh pages for each.
  mallopt(M_MMAP_THRESHOLD, 64 << 20);
  mallopt(M_TRIM_THRESHOLD, 256 << 20);

  auto all = cuvirt::makeCpuBackend()->devices();
  std::vector<std::unique_ptr<cuvirt::BackendDevice>> devices;
  if (deviceList.empty()) {
    devices = std::move(all);
  } else {
    for (int i : deviceList) {
      if (i < 0 || i >= static_cast<int>(all.size()) || !all[i]) {
        std::cerr << "cuvirtd: --devices: no local device " << i << "\n";
        return 2;
      }
      devices.push_back(std::move(all[i]));
    }
  }

  cuvirt::remote::Server server(config, std::move(devices));
  if (cuvirt::Status s = server.start(); !s.ok()) {
    std::cerr << "cuvirtd: " << cuvirt::lastErrorMessage() << "\n";
    return 1;
  }
  struct sigaction sa{};
  sa.sa_handler = onSignal;
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);
  server.run(g_stop);
  return 0;
}
