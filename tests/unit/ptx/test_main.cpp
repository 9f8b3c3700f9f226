// doctest main. Arguments that are not options are PTX files for the corpus
// tests; --nvcc-missing makes the corpus run report SKIP (exit 77) loudly.
#define DOCTEST_CONFIG_IMPLEMENT
#include "tests/unit/ptx/corpus_files.h"
#include <cstdio>
#include <cstring>
#include <doctest.h>

std::vector<std::string> &corpusFiles() {
  static std::vector<std::string> files;
  return files;
}

int main(int argc, char **argv) {
  std::vector<char *> args;
  for (int i = 0; i < argc; ++i) {
    if (i > 0 && std::strcmp(argv[i], "--nvcc-missing") == 0) {
      std::fprintf(stderr,
                   "\n*** SKIPPED: nvcc not found at configure time: the nvcc-built PTX corpus was NOT "
                   "tested. Install the CUDA Toolkit and reconfigure. ***\n\n");
      return 77;
    }
    if (i > 0 && std::strcmp(argv[i], "--llvm-missing") == 0) {
      std::fprintf(stderr,
                   "\n*** SKIPPED: built without LLVM (-Dllvm=disabled): lower() and the PTX corpus were NOT "
                   "tested. ***\n\n");
      return 77;
    }
    if (i > 0 && argv[i][0] != '-')
      corpusFiles().emplace_back(argv[i]);
    else
      args.push_back(argv[i]);
  }
  doctest::Context ctx(int(args.size()), args.data());
  return ctx.run();
}
