// cuvirt-run: runs a program with cuvirt's libcuda.so.1 as its CUDA driver.
#include "tools/common/driver_path.h"
#include "tools/common/launch.h"
#include <CLI/CLI.hpp>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

namespace {

std::string jsonString(const std::string &s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\')
      out += '\\';
    if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
      continue;
    }
    out += c;
  }
  return out + "\"";
}

/// The folder of cuvirt's sitecustomize.py: Python start-up defaults that
/// hide cuda-python's nvJitLink (its output is machine code only), so
/// cuda.core and numba-cuda link PTX through the driver. "" if not found.
std::string pythonSiteDir() {
  char self[4096];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0)
    return "";
  self[n] = '\0';
  std::string dir(self);
  dir = dir.substr(0, dir.rfind('/'));
  // build/tools/run/python; prefix/bin -> prefix/share/cuvirt/python
  for (const std::string &candidate : {dir + "/run/python", dir + "/../share/cuvirt/python"})
    if (access((candidate + "/sitecustomize.py").c_str(), R_OK) == 0)
      return candidate;
  return "";
}

/// cuvirt's cuBLAS interposer next to the driver (shims/cublas/ in the build
/// tree, lib/cuvirt/ installed): cuBLAS GEMM/GEMV on the CPU device. "" if absent.
std::string cublasShim(const std::string &driver) {
  const std::string dir = driver.substr(0, driver.rfind('/'));
  for (const std::string &candidate : {dir + "/cublas/libcuvirt_cublas.so", dir + "/libcuvirt_cublas.so"})
    if (access(candidate.c_str(), R_OK) == 0)
      return candidate;
  return "";
}

/// A Jupyter kernelspec whose environment sends the kernel's CUDA calls to
/// cuvirt (and, with --remote, to the servers' pool).
int installJupyterKernel(const std::string &name, const std::string &dir, const std::string &python,
                         const std::string &driver, const std::string &backend, const std::string &remote) {
  std::string root = dir;
  if (root.empty()) {
    if (const char *d = std::getenv("JUPYTER_DATA_DIR"); d != nullptr && *d != '\0')
      root = d;
    else if (const char *h = std::getenv("HOME"))
      root = std::string(h) + "/.local/share/jupyter";
  }
  const std::string kdir = root + "/kernels/" + name;
  std::error_code ec;
  std::filesystem::create_directories(kdir, ec);
  if (ec) {
    std::fprintf(stderr, "cuvirt-run: cannot create %s: %s\n", kdir.c_str(), ec.message().c_str());
    return 1;
  }
  const std::string libdir = driver.substr(0, driver.rfind('/'));
  std::vector<std::pair<std::string, std::string>> env = {
      {"LD_LIBRARY_PATH", libdir},
      {"LD_PRELOAD", driver + (cublasShim(driver).empty() ? "" : " " + cublasShim(driver))},
      {"CUVIRT_BACKEND", backend}};
  if (!remote.empty())
    env.emplace_back("CUVIRT_REMOTE", remote);
  env.emplace_back("CUPY_COMPILE_WITH_PTX", "1");
  if (std::string site = pythonSiteDir(); !site.empty())
    env.emplace_back("PYTHONPATH", site);
  for (const char *k : {"CUVIRT_REMOTE_KEY", "CUVIRT_REMOTE_SERVER_KEY", "CUVIRT_LOG"})
    if (const char *v = std::getenv(k); v != nullptr && *v != '\0')
      env.emplace_back(k, v);
  std::ofstream out(kdir + "/kernel.json");
  out << "{\n  \"argv\": [" << jsonString(python)
      << ", \"-m\", \"ipykernel_launcher\", \"-f\", \"{connection_file}\"],\n"
      << "  \"display_name\": " << jsonString("Python (cuvirt: " + (remote.empty() ? backend : remote) + ")")
      << ",\n  \"language\": \"python\",\n  \"env\": {";
  for (std::size_t i = 0; i < env.size(); ++i)
    out << (i ? ",\n" : "\n") << "    " << jsonString(env[i].first) << ": " << jsonString(env[i].second);
  out << "\n  }\n}\n";
  if (!out) {
    std::fprintf(stderr, "cuvirt-run: cannot write %s/kernel.json\n", kdir.c_str());
    return 1;
  }
  std::printf("installed Jupyter kernel '%s' in %s\n", name.c_str(), kdir.c_str());
  return 0;
}

} // namespace

int main(int argc, char **argv) {
  CLI::App app{"Runs an unmodified CUDA program on cuvirt's devices.\n"
               "Example: cuvirt-run -- ./vectorAdd\n"
               "         cuvirt-run --log debug -- python3 train.py"};
  app.set_version_flag("--version", "cuvirt-run 0.1.0");
  std::string backend = "cpu", log, driver;
  bool noPreload = false;
  std::vector<std::string> command;
  std::string remote, jupyterName, jupyterDir, python = "python3";
  auto *backendOpt = app.add_option("--backend", backend,
                                    "Device backends in device order: cpu (default), remote, "
                                    "remote,cpu, cpu,remote")
                         ->check(CLI::IsMember({"cpu", "remote", "remote,cpu", "cpu,remote"}));
  app.add_option("--remote", remote,
                 "cuvirtd servers, comma-separated (tcp://HOST:PORT or ipc://PATH); sets CUVIRT_REMOTE and, "
                 "unless --backend says otherwise, uses only their devices");
  app.add_option(
      "--install-jupyter-kernel", jupyterName,
      "Write a Jupyter kernelspec NAME whose kernel runs on cuvirt (with --remote: on those servers)");
  app.add_option("--jupyter-dir", jupyterDir,
                 "Jupyter data directory (default: $JUPYTER_DATA_DIR or "
                 "~/.local/share/jupyter)");
  app.add_option("--python", python, "The kernel's Python interpreter (default: python3)");
  app.add_option("--log", log, "Log level: trace, debug, info, warn, error, off (sets CUVIRT_LOG)");
  app.add_option("--driver", driver, "Path of cuvirt's libcuda.so.1 (default: found next to this tool)");
  app.add_flag("--no-preload", noPreload,
               "Only put the driver on LD_LIBRARY_PATH (programs that dlopen NVIDIA's driver by absolute "
               "path then miss it)");
  // Options end at the program: `cuvirt-run python3 -m pytest` passes -m to python.
  app.prefix_command();
  app.footer("Command line: cuvirt-run [OPTIONS] [--] PROGRAM [ARGS...]");
  CLI11_PARSE(app, argc, argv);
  command = app.remaining();
  if (!command.empty() && command.front() == "--")
    command.erase(command.begin());
  else if (!command.empty() && command.front().starts_with("-")) {
    std::fprintf(stderr, "cuvirt-run: unknown option %s (see --help)\n", command.front().c_str());
    return 2;
  }
  if (!remote.empty() && backendOpt->count() == 0)
    backend = "remote";
  if (command.empty() && jupyterName.empty()) {
    std::fprintf(stderr, "cuvirt-run: no command given (see --help)\n");
    return 2;
  }

  if (driver.empty())
    driver = cuvirt::tools::findDriver(argv[0]);
  if (driver.empty() || access(driver.c_str(), R_OK) != 0) {
    std::fprintf(stderr, "cuvirt-run: cannot find cuvirt's libcuda.so.1 (looked for %s); use --driver\n",
                 driver.empty() ? "it next to this tool" : driver.c_str());
    return 127;
  }
  if (driver[0] != '/') {
    char real[4096];
    if (realpath(driver.c_str(), real) != nullptr)
      driver = real;
  }
  if (!jupyterName.empty())
    return installJupyterKernel(jupyterName, jupyterDir, python, driver, backend, remote);
  setenv("CUVIRT_BACKEND", backend.c_str(), 1);
  if (!remote.empty())
    setenv("CUVIRT_REMOTE", remote.c_str(), 1);
  if (!log.empty())
    setenv("CUVIRT_LOG", log.c_str(), 1);
  // Python CUDA clients: the CPU device runs PTX (a variable already set wins).
  setenv("CUPY_COMPILE_WITH_PTX", "1", 0);
  if (std::string site = pythonSiteDir(); !site.empty()) {
    const char *old = std::getenv("PYTHONPATH");
    setenv("PYTHONPATH", (site + (old != nullptr && *old != '\0' ? ":" + std::string(old) : "")).c_str(), 1);
  }
  // The cuBLAS interposer goes in LD_PRELOAD after the driver (runWithDriver
  // puts that first). It has no dependencies and stays in children's
  // LD_PRELOAD: harmless where cuBLAS is absent, needed where it is used.
  if (std::string shim = cublasShim(driver); !shim.empty()) {
    const char *old = std::getenv("LD_PRELOAD");
    setenv("LD_PRELOAD", (shim + (old != nullptr && *old != '\0' ? " " + std::string(old) : "")).c_str(), 1);
  }
  return cuvirt::tools::runWithDriver(driver, !noPreload, command);
}
