// cuvirt-trace: the CUDA driver calls of an unmodified program, decoded, on
// any cuvirt backend or passed through to NVIDIA's real driver.
#include "tools/common/driver_path.h"
#include "tools/common/launch.h"
#include <CLI/CLI.hpp>
#include <cstdlib>
#include <sys/stat.h>

int main(int argc, char **argv) {
  CLI::App app{"Traces every CUDA driver call of a program: arguments decoded, results, durations, and a\n"
               "summary at exit. Runs on cuvirt's devices, or on NVIDIA's driver when one is installed.\n"
               "Example: cuvirt-trace -- ./vectorAdd\n"
               "         cuvirt-trace --format chrome -o trace.json --only 'cuMem*,cuLaunch*' -- ./app\n"
               "The same can be switched on without this tool: see docs/TRACE.md (CUVIRT_TRACE=1 ...)."};
  app.set_version_flag("--version", "cuvirt-trace 0.1.0");
  std::string format = "text", output, dumpImages, backend, driver, native;
  std::vector<std::string> only, exclude;
  bool summaryOnly = false, noSummary = false, noPreload = false;
  std::vector<std::string> command;
  app.add_option("--format", format, "Output: text (default), jsonl, chrome (Perfetto / chrome://tracing)")
      ->check(CLI::IsMember({"text", "jsonl", "chrome"}));
  app.add_option("-o,--output", output, "Write the trace to FILE (default: standard error)");
  app.add_option("--only", only, "Trace only API names matching these glob patterns (comma-separated)")
      ->delimiter(',')
      ->expected(1) // one list per use: the program that follows is not a pattern
      ->allow_extra_args(false)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  app.add_option("--exclude", exclude, "Do not trace API names matching these glob patterns")
      ->delimiter(',')
      ->expected(1)
      ->allow_extra_args(false)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  app.add_flag("--summary-only", summaryOnly, "Print only the summary at exit");
  app.add_flag("--no-summary", noSummary, "Do not print the summary");
  app.add_option("--dump-images", dumpImages, "Write every PTX/cubin the program loads into DIR");
  auto *nativeOpt =
      app.add_option("--native", native,
                     "Pass through to NVIDIA's libcuda.so.1 (--native=PATH, or found automatically)")
          ->expected(0, 1);
  app.add_option("--backend", backend, "Trace on cuvirt's own devices instead: cpu")
      ->check(CLI::IsMember({"cpu"}));
  app.add_option("--driver", driver, "Path of cuvirt's libcuda.so.1 (default: found next to this tool)");
  app.add_flag("--no-preload", noPreload, "Only put the driver on LD_LIBRARY_PATH");
  // Options end at the program: `cuvirt-trace python3 -m pytest` passes -m to python.
  app.prefix_command();
  app.footer("Command line: cuvirt-trace [OPTIONS] [--] PROGRAM [ARGS...]");
  CLI11_PARSE(app, argc, argv);
  command = app.remaining();
  // `--native ./app`: the optional PATH swallowed the program; a driver path names libcuda.
  if (!native.empty() && std::string_view(native).substr(native.rfind('/') + 1).find("libcuda") != 0) {
    if (!command.empty() && command.front() == "--")
      command.erase(command.begin());
    command.insert(command.begin(), native);
    native.clear();
  }
  if (!command.empty() && command.front() == "--")
    command.erase(command.begin());
  else if (!command.empty() && command.front().starts_with("-")) {
    std::fprintf(stderr, "cuvirt-trace: unknown option %s (see --help)\n", command.front().c_str());
    return 2;
  }
  if (command.empty()) {
    std::fprintf(stderr, "cuvirt-trace: no command given (see --help)\n");
    return 2;
  }

  if (driver.empty())
    driver = cuvirt::tools::findDriver(argv[0]);
  if (driver.empty()) {
    std::fprintf(stderr, "cuvirt-trace: cannot find cuvirt's libcuda.so.1; use --driver\n");
    return 127;
  }
  auto join = [](const std::vector<std::string> &v) {
    std::string s;
    for (const auto &x : v)
      s += (s.empty() ? "" : ",") + x;
    return s;
  };
  if (!dumpImages.empty() && mkdir(dumpImages.c_str(), 0755) != 0 && errno != EEXIST) {
    std::fprintf(stderr, "cuvirt-trace: cannot create %s\n", dumpImages.c_str());
    return 2;
  }
  setenv("CUVIRT_TRACE", "1", 1);
  setenv("CUVIRT_TRACE_FORMAT", format.c_str(), 1);
  if (!output.empty())
    setenv("CUVIRT_TRACE_OUTPUT", output.c_str(), 1);
  if (!only.empty())
    setenv("CUVIRT_TRACE_ONLY", join(only).c_str(), 1);
  if (!exclude.empty())
    setenv("CUVIRT_TRACE_EXCLUDE", join(exclude).c_str(), 1);
  if (summaryOnly || noSummary)
    setenv("CUVIRT_TRACE_SUMMARY", summaryOnly ? "only" : "off", 1);
  if (!dumpImages.empty())
    setenv("CUVIRT_TRACE_DUMP_IMAGES", dumpImages.c_str(), 1);
  // With a real NVIDIA driver on the machine the trace goes through it,
  // unless a cuvirt backend is asked for.
  if (nativeOpt->count() > 0 && !native.empty()) {
    struct stat a{}, b{};
    if (stat(native.c_str(), &a) != 0) {
      std::fprintf(stderr, "cuvirt-trace: no driver at %s\n", native.c_str());
      return 2;
    }
    if (stat(driver.c_str(), &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino) {
      std::fprintf(stderr, "cuvirt-trace: %s is cuvirt's own libcuda.so.1, not NVIDIA's driver\n",
                   native.c_str());
      return 2;
    }
  }
  if (nativeOpt->count() > 0)
    setenv("CUVIRT_TRACE_NATIVE", native.empty() ? "auto" : native.c_str(), 1);
  else if (backend.empty() && std::getenv("CUVIRT_BACKEND") == nullptr)
    setenv("CUVIRT_TRACE_NATIVE", "prefer", 1);
  if (!backend.empty())
    setenv("CUVIRT_BACKEND", backend.c_str(), 1);
  return cuvirt::tools::runWithDriver(driver, !noPreload, command);
}
