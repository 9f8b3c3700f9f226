// Running a program with cuvirt's driver in its environment.
#pragma once
#include <string>
#include <vector>

namespace cuvirt::tools {

/// Puts `driver` (cuvirt's libcuda.so.1) on LD_LIBRARY_PATH and, unless
/// `preload` is false, in LD_PRELOAD; runs `command` and returns its exit
/// status (a child killed by a signal makes this process die of the same
/// signal). 127 if the program cannot be started.
int runWithDriver(const std::string &driver, bool preload, const std::vector<std::string> &command);

} // namespace cuvirt::tools
