#include "tools/common/launch.h"
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sys/wait.h>
#include <unistd.h>

namespace cuvirt::tools {
namespace {
void prependEnv(const char *name, const std::string &value, const char *separator) {
  const char *old = std::getenv(name);
  std::string v = value;
  if (old != nullptr && *old != '\0')
    v += separator + std::string(old);
  setenv(name, v.c_str(), 1);
}
} // namespace

int runWithDriver(const std::string &driver, bool preload, const std::vector<std::string> &command) {
  prependEnv("LD_LIBRARY_PATH", driver.substr(0, driver.rfind('/')), ":");
  if (preload)
    prependEnv("LD_PRELOAD", driver, " ");
  std::vector<char *> args;
  args.reserve(command.size() + 1);
  for (const auto &a : command)
    args.push_back(const_cast<char *>(a.c_str()));
  args.push_back(nullptr);
  pid_t child = fork();
  if (child < 0) {
    std::perror("fork");
    return 127;
  }
  if (child == 0) {
    execvp(args[0], args.data());
    std::fprintf(stderr, "cannot run %s: %s\n", args[0], std::strerror(errno));
    _exit(127);
  }
  // Terminal signals are the child's to handle; we report how it ended.
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
    raise(sig);
    return 128 + sig;
  }
  return 1;
}

} // namespace cuvirt::tools
