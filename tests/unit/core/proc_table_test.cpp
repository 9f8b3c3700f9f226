// The cuGetProcAddress table: version-keyed, per-thread-stream aware.
#include "intercept/dispatch.h"
#include "intercept/proc_table.h"
#include <doctest.h>
#include <fstream>
#include <sstream>
#include <string>

using namespace cuvirt;

namespace {
std::string resolve(const char *name, int version, bool perThread = false) {
  ProcResult r = lookupProc(name, version, perThread);
  if (r.status == ProcLookup::NotFound)
    return "<not found>";
  if (r.status == ProcLookup::VersionTooLow)
    return "<version too low>";
  return kApiNames[static_cast<unsigned>(r.id)];
}
} // namespace

TEST_CASE("lookups pick the ABI of the requested version") {
  CHECK(resolve("cuMemAlloc", 2000) == "cuMemAlloc");
  CHECK(resolve("cuMemAlloc", 3020) == "cuMemAlloc_v2");
  CHECK(resolve("cuMemAlloc", 13000) == "cuMemAlloc_v2");
  CHECK(resolve("cuCtxGetDevice", 2000) == "cuCtxGetDevice");
  CHECK(resolve("cuCtxGetDevice", 13000) == "cuCtxGetDevice_v2");
  CHECK(resolve("cuCtxSynchronize", 13000) == "cuCtxSynchronize_v2");
  CHECK(resolve("cuGraphInstantiate", 12000) == "cuGraphInstantiate_v2");
  CHECK(resolve("cuGraphInstantiateWithFlags", 11040) == "cuGraphInstantiateWithFlags");
  CHECK(resolve("cuGetProcAddress", 11030) == "cuGetProcAddress");
  CHECK(resolve("cuGetProcAddress", 12000) == "cuGetProcAddress_v2");
  CHECK(resolve("cuStreamGetCaptureInfo", 12030) == "cuStreamGetCaptureInfo_v3");
}

TEST_CASE("the per-thread flag selects _ptds/_ptsz variants where they exist") {
  CHECK(resolve("cuMemcpyHtoD", 7000, true) == "cuMemcpyHtoD_v2_ptds");
  CHECK(resolve("cuMemcpyHtoD", 7000, false) == "cuMemcpyHtoD_v2");
  CHECK(resolve("cuLaunchKernel", 7000, true) == "cuLaunchKernel_ptsz");
  CHECK(resolve("cuMemAllocAsync", 11020, true) == "cuMemAllocAsync_ptsz");
  // No per-thread variant: the ordinary one.
  CHECK(resolve("cuMemAlloc", 3020, true) == "cuMemAlloc_v2");
}

TEST_CASE("unknown names and too-old versions are told apart") {
  CHECK(resolve("cuNoSuchFunction", 13000) == "<not found>");
  CHECK(resolve("", 0) == "<not found>");
  CHECK(resolve("cuMemAllocAsync", 11000) == "<version too low>");
}

namespace {
/// Graphics interop (cudaGL.h, cudaEGL.h, cudaVDPAU.h) is not in cuda.h nor
/// in NVIDIA's stub library: cudart accepts NOT_FOUND for it.
bool graphicsInterop(const std::string &name) {
  for (const char *p : {"cuGL", "cuGraphicsGL", "cuGraphicsEGL", "cuEGL",
                        "cuGraphicsResourceGetMappedEglFrame", "cuVDPAU", "cuGraphicsVDPAU"})
    if (name.rfind(p, 0) == 0)
      return true;
  return false;
}
} // namespace

TEST_CASE("every lookup cudart 13 makes resolves, graphics interop aside") {
  std::ifstream in(CUVIRT_TEST_DATA "/cudart13-proc-requests.txt");
  REQUIRE(in.good());
  std::string line;
  int lookups = 0, found = 0;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string name;
    int version = 0, flags = 0;
    fields >> name >> version >> flags;
    if (name == "\"\"")
      continue;
    if (graphicsInterop(name))
      continue;
    ++lookups;
    ProcResult r = lookupProc(name, version, (flags & 2) != 0);
    if (r.status == ProcLookup::Found)
      ++found;
    else
      MESSAGE("unresolved: " << line);
  }
  CHECK(lookups == 410);
  CHECK(found == lookups);
}

TEST_CASE("the table is sorted, so binary search is sound") {
  for (std::size_t i = 1; i < kProcTableSize; ++i) {
    const ProcEntry &a = kProcTable[i - 1], &b = kProcTable[i];
    const bool ordered =
        std::string_view(a.name) < b.name ||
        (std::string_view(a.name) == b.name &&
         (a.perThread < b.perThread || (a.perThread == b.perThread && a.version <= b.version)));
    CHECK_MESSAGE(ordered, a.name << "@" << a.version << " before " << b.name << "@" << b.version);
  }
}
