// cuvirt-run: runs a program with cuvirt's libcuda.so.1 as its CUDA driver.
#include "tools/common/driver_path.h"
#include <CLI/CLI.hpp>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <string>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

namespace {

void prependEnv(const char *name, const std::string &value) {
  const char *old = std::getenv(name);
  std::string v = value;
  if (old != nullptr && *old != '\0')
    v += (std::strcmp(name, "LD_PRELOAD") == 0 ? " " : ":") + std::string(old);
  setenv(name, v.c_str(), 1);
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
  app.add_option("--backend", backend, "Device backend: cpu (default)")->check(CLI::IsMember({"cpu"}));
  app.add_option("--log", log, "Log level: trace, debug, info, warn, error, off (sets CUVIRT_LOG)");
  app.add_option("--driver", driver, "Path of cuvirt's libcuda.so.1 (default: found next to this tool)");
  app.add_flag("--no-preload", noPreload,
               "Only put the driver on LD_LIBRARY_PATH (programs that dlopen NVIDIA's driver by absolute "
               "path then miss it)");
  app.add_option("command", command, "The program and its arguments (after --)")->required();
  CLI11_PARSE(app, argc, argv);

  if (driver.empty())
    driver = cuvirt::tools::findDriver(argv[0]);
  if (driver.empty() || access(driver.c_str(), R_OK) != 0) {
    std::fprintf(stderr, "cuvirt-run: cannot find cuvirt's libcuda.so.1 (looked for %s); use --driver\n",
                 driver.empty() ? "it next to this tool" : driver.c_str());
    return 127;
  }
  const std::string dir = driver.substr(0, driver.rfind('/'));
  prependEnv("LD_LIBRARY_PATH", dir);
  if (!noPreload)
    prependEnv("LD_PRELOAD", driver);
  setenv("CUVIRT_BACKEND", backend.c_str(), 1);
  if (!log.empty())
    setenv("CUVIRT_LOG", log.c_str(), 1);

  std::vector<char *> args;
  for (auto &a : command)
    args.push_back(a.data());
  args.push_back(nullptr);
  pid_t child = fork();
  if (child < 0) {
    std::perror("cuvirt-run: fork");
    return 127;
  }
  if (child == 0) {
    execvp(args[0], args.data());
    std::fprintf(stderr, "cuvirt-run: cannot run %s: %s\n", args[0], std::strerror(errno));
    _exit(127);
  }
  // Let the child take terminal signals; report how it ended.
  signal(SIGINT, SIG_IGN);
  signal(SIGQUIT, SIG_IGN);
  int status = 0;
  while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status))
    return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) {
    int sig = WTERMSIG(status);
    signal(sig, SIG_DFL);
    raise(sig); // die the same way, so callers see the signal
    return 128 + sig;
  }
  return 1;
}
