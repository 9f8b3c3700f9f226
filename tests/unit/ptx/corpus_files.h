#pragma once
#include <string>
#include <vector>
/// PTX files given on the command line (nvcc output of tests/unit/ptx/corpus).
std::vector<std::string> &corpusFiles();
