// CUDA graphs and stream capture through the driver API.
#include "conformance.h"
#include <atomic>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>
#include <unistd.h>
#include <vector>

namespace {
// addk(p, n, v): p[i] += v for i < n.
const char *kPtx = R"(
.version 8.0
.target sm_75
.address_size 64

.visible .entry addk(.param .u64 p, .param .u32 n, .param .u32 v)
{
  .reg .pred %p<2>;
  .reg .b32 %r<8>;
  .reg .b64 %rd<5>;
  ld.param.u64 %rd1, [p];
  ld.param.u32 %r1, [n];
  ld.param.u32 %r2, [v];
  mov.u32 %r3, %ctaid.x;
  mov.u32 %r4, %ntid.x;
  mov.u32 %r5, %tid.x;
  mad.lo.s32 %r6, %r3, %r4, %r5;
  setp.ge.u32 %p1, %r6, %r1;
  @%p1 bra DONE;
  cvta.to.global.u64 %rd2, %rd1;
  mul.wide.u32 %rd3, %r6, 4;
  add.s64 %rd4, %rd2, %rd3;
  ld.global.u32 %r7, [%rd4];
  add.s32 %r7, %r7, %r2;
  st.global.u32 [%rd4], %r7;
DONE:
  ret;
}
)";

constexpr unsigned kN = 256;

struct Kernel {
  CUmodule module = nullptr;
  CUfunction fn = nullptr;
  Kernel() {
    REQUIRE(cuModuleLoadData(&module, kPtx) == CUDA_SUCCESS);
    REQUIRE(cuModuleGetFunction(&fn, module, "addk") == CUDA_SUCCESS);
  }
  ~Kernel() { cuModuleUnload(module); }
};

/// Kernel node parameters for addk(p, kN, v); the argument storage lives here.
struct AddArgs {
  CUdeviceptr p;
  unsigned n = kN, v;
  void *args[3] = {&p, &n, &v};
  CUDA_KERNEL_NODE_PARAMS params(CUfunction fn) {
    CUDA_KERNEL_NODE_PARAMS k{};
    k.func = fn;
    k.gridDimX = 2, k.gridDimY = 1, k.gridDimZ = 1;
    k.blockDimX = 128, k.blockDimY = 1, k.blockDimZ = 1;
    k.kernelParams = args;
    return k;
  }
};

CUDA_MEMCPY3D toHost(void *dst, CUdeviceptr src, std::size_t bytes) {
  CUDA_MEMCPY3D c{};
  c.srcMemoryType = CU_MEMORYTYPE_DEVICE;
  c.srcDevice = src;
  c.dstMemoryType = CU_MEMORYTYPE_HOST;
  c.dstHost = dst;
  c.WidthInBytes = bytes;
  c.Height = 1;
  c.Depth = 1;
  return c;
}

CUDA_MEMSET_NODE_PARAMS fill32(CUdeviceptr dst, unsigned value, std::size_t count) {
  CUDA_MEMSET_NODE_PARAMS m{};
  m.dst = dst;
  m.value = value;
  m.elementSize = 4;
  m.width = count;
  m.height = 1;
  return m;
}

std::size_t nodeCount(CUgraph g) {
  std::size_t n = 0;
  REQUIRE(cuGraphGetNodes(g, nullptr, &n) == CUDA_SUCCESS);
  return n;
}

bool allEqual(const unsigned *h, unsigned value) {
  for (unsigned i = 0; i < kN; ++i)
    if (h[i] != value)
      return false;
  return true;
}

void CUDA_CB countCall(void *p) { ++*static_cast<std::atomic<int> *>(p); }
void CUDA_CB destroyed(void *p) { ++*static_cast<std::atomic<int> *>(p); }

struct HostSnapshot {
  const unsigned *h;
  std::atomic<int> calls{0};
  std::atomic<unsigned> seen{0};
};
void CUDA_CB snapshot(void *p) {
  auto *s = static_cast<HostSnapshot *>(p);
  s->seen = s->h[kN - 1];
  ++s->calls;
}
} // namespace

TEST_CASE("graph topology: nodes, edges and queries") {
  ContextFixture f;
  CUgraph g = nullptr, other = nullptr;
  REQUIRE(cuGraphCreate(&g, 0) == CUDA_SUCCESS);
  REQUIRE(cuGraphCreate(&other, 0) == CUDA_SUCCESS);
  CHECK(cuGraphCreate(&g, 1) == CUDA_ERROR_INVALID_VALUE);
  CUgraphNode a, b, c, x;
  REQUIRE(cuGraphAddEmptyNode(&a, g, nullptr, 0) == CUDA_SUCCESS);
  REQUIRE(cuGraphAddEmptyNode(&b, g, &a, 1) == CUDA_SUCCESS);
  REQUIRE(cuGraphAddEmptyNode(&c, g, nullptr, 0) == CUDA_SUCCESS);
  REQUIRE(cuGraphAddEmptyNode(&x, other, nullptr, 0) == CUDA_SUCCESS);
  CUgraphNode ab[2] = {a, b}, cc[2] = {c, c};
  CHECK(cuGraphAddDependencies(g, ab, cc, nullptr, 2) == CUDA_SUCCESS);
  CHECK(cuGraphAddDependencies(g, &a, &c, nullptr, 1) == CUDA_ERROR_INVALID_VALUE); // exists
  CHECK(cuGraphAddDependencies(g, &x, &c, nullptr, 1) == CUDA_ERROR_INVALID_VALUE); // other graph
  CUgraphNode dup[2] = {a, a};
  CUgraphNode y;
  CHECK(cuGraphAddEmptyNode(&y, g, dup, 2) == CUDA_ERROR_INVALID_VALUE);
  CHECK(cuGraphAddEmptyNode(&y, g, &x, 1) == CUDA_ERROR_INVALID_VALUE);

  CHECK(nodeCount(g) == 3);
  std::size_t n = 0;
  CHECK(cuGraphGetRootNodes(g, nullptr, &n) == CUDA_SUCCESS);
  CHECK(n == 1);
  CUgraphNode root = nullptr;
  CHECK(cuGraphGetRootNodes(g, &root, &n) == CUDA_SUCCESS);
  CHECK(root == a);
  CHECK(cuGraphGetEdges(g, nullptr, nullptr, nullptr, &n) == CUDA_SUCCESS);
  CHECK(n == 3);
  CUgraphNode from[4], to[4];
  n = 4;
  CHECK(cuGraphGetEdges(g, from, to, nullptr, &n) == CUDA_SUCCESS);
  CHECK(n == 3);
  CHECK(from[3] == nullptr);
  CHECK(cuGraphNodeGetDependencies(c, nullptr, nullptr, &n) == CUDA_SUCCESS);
  CHECK(n == 2);
  CHECK(cuGraphNodeGetDependentNodes(a, nullptr, nullptr, &n) == CUDA_SUCCESS);
  CHECK(n == 2);
  CUgraphNodeType type;
  CHECK(cuGraphNodeGetType(a, &type) == CUDA_SUCCESS);
  CHECK(type == CU_GRAPH_NODE_TYPE_EMPTY);

  CHECK(cuGraphRemoveDependencies(g, &a, &c, nullptr, 1) == CUDA_SUCCESS);
  CHECK(cuGraphRemoveDependencies(g, &a, &c, nullptr, 1) == CUDA_ERROR_INVALID_VALUE);
  CHECK(cuGraphGetEdges(g, nullptr, nullptr, nullptr, &n) == CUDA_SUCCESS);
  CHECK(n == 2);
  CHECK(cuGraphDestroyNode(b) == CUDA_SUCCESS);
  CHECK(nodeCount(g) == 2);
  CHECK(cuGraphGetEdges(g, nullptr, nullptr, nullptr, &n) == CUDA_SUCCESS);
  CHECK(n == 0);
  CHECK(cuGraphNodeGetType(b, &type) == CUDA_ERROR_INVALID_VALUE);

  // A cycle is refused at instantiation.
  CHECK(cuGraphAddDependencies(g, &a, &c, nullptr, 1) == CUDA_SUCCESS);
  CHECK(cuGraphAddDependencies(g, &c, &a, nullptr, 1) == CUDA_SUCCESS);
  CUgraphExec e = nullptr;
  CUDA_GRAPH_INSTANTIATE_PARAMS ip{};
  CHECK(cuGraphInstantiateWithParams(&e, g, &ip) == CUDA_ERROR_INVALID_VALUE);
  CHECK(ip.result_out == CUDA_GRAPH_INSTANTIATE_INVALID_STRUCTURE);

  CHECK(cuGraphDestroy(g) == CUDA_SUCCESS);
  CHECK(cuGraphDestroy(g) == CUDA_ERROR_INVALID_VALUE);
  CHECK(cuGraphGetNodes(g, nullptr, &n) == CUDA_ERROR_INVALID_VALUE);
  CHECK(cuGraphDestroy(other) == CUDA_SUCCESS);
}

TEST_CASE("explicit graph: memset, kernel, memcpy and host nodes; relaunch; updates") {
  ContextFixture f;
  Kernel k;
  CUdeviceptr d = 0;
  unsigned *h = nullptr;
  REQUIRE(cuMemAlloc(&d, kN * 4) == CUDA_SUCCESS);
  REQUIRE(cuMemAllocHost(reinterpret_cast<void **>(&h), kN * 4) == CUDA_SUCCESS);
  CUstream s;
  REQUIRE(cuStreamCreate(&s, CU_STREAM_NON_BLOCKING) == CUDA_SUCCESS);

  CUgraph g;
  REQUIRE(cuGraphCreate(&g, 0) == CUDA_SUCCESS);
  CUgraphNode set, kern, copy, host;
  CUDA_MEMSET_NODE_PARAMS m = fill32(d, 1, kN);
  REQUIRE(cuGraphAddMemsetNode(&set, g, nullptr, 0, &m, f.ctx) == CUDA_SUCCESS);
  AddArgs args{d, kN, 5};
  CUDA_KERNEL_NODE_PARAMS kp = args.params(k.fn);
  REQUIRE(cuGraphAddKernelNode(&kern, g, &set, 1, &kp) == CUDA_SUCCESS);
  CUDA_MEMCPY3D c = toHost(h, d, kN * 4);
  REQUIRE(cuGraphAddMemcpyNode(&copy, g, &kern, 1, &c, f.ctx) == CUDA_SUCCESS);
  HostSnapshot snap{h};
  CUDA_HOST_NODE_PARAMS hp{snapshot, &snap};
  REQUIRE(cuGraphAddHostNode(&host, g, &copy, 1, &hp) == CUDA_SUCCESS);

  // Bad parameters are refused with CUDA's codes.
  CUgraphNode bad;
  CUDA_MEMSET_NODE_PARAMS badSet = fill32(d, 0, kN);
  badSet.elementSize = 3;
  CHECK(cuGraphAddMemsetNode(&bad, g, nullptr, 0, &badSet, f.ctx) == CUDA_ERROR_INVALID_VALUE);
  CUDA_HOST_NODE_PARAMS noFn{nullptr, nullptr};
  CHECK(cuGraphAddHostNode(&bad, g, nullptr, 0, &noFn) == CUDA_ERROR_INVALID_VALUE);
  CUDA_KERNEL_NODE_PARAMS noArgs = kp;
  noArgs.kernelParams = nullptr;
  CHECK(cuGraphAddKernelNode(&bad, g, nullptr, 0, &noArgs) == CUDA_ERROR_INVALID_VALUE);

  // Parameters read back; kernelParams point at the node's own copies.
  CUDA_KERNEL_NODE_PARAMS got{};
  REQUIRE(cuGraphKernelNodeGetParams(kern, &got) == CUDA_SUCCESS);
  CHECK(got.func == k.fn);
  CHECK(got.gridDimX == 2);
  CHECK(*static_cast<unsigned *>(got.kernelParams[2]) == 5);
  CHECK(*static_cast<CUdeviceptr *>(got.kernelParams[0]) == d);
  CUDA_MEMSET_NODE_PARAMS gotSet{};
  REQUIRE(cuGraphMemsetNodeGetParams(set, &gotSet) == CUDA_SUCCESS);
  CHECK(gotSet.value == 1);
  CHECK(cuGraphMemsetNodeGetParams(kern, &gotSet) == CUDA_ERROR_INVALID_VALUE); // wrong type
  CUkernelNodeAttrValue attr{};
  attr.priority = -1;
  CHECK(cuGraphKernelNodeSetAttribute(kern, CU_LAUNCH_ATTRIBUTE_PRIORITY, &attr) == CUDA_SUCCESS);
  attr.priority = 0;
  CHECK(cuGraphKernelNodeGetAttribute(kern, CU_LAUNCH_ATTRIBUTE_PRIORITY, &attr) == CUDA_SUCCESS);
  CHECK(attr.priority == -1);
  CHECK(cuGraphKernelNodeSetAttribute(set, CU_LAUNCH_ATTRIBUTE_PRIORITY, &attr) == CUDA_ERROR_INVALID_VALUE);

  CUgraphExec e;
  REQUIRE(cuGraphInstantiateWithFlags(&e, g, 0) == CUDA_SUCCESS);
  for (int i = 0; i < 10; ++i)
    REQUIRE(cuGraphLaunch(e, s) == CUDA_SUCCESS);
  REQUIRE(cuStreamSynchronize(s) == CUDA_SUCCESS);
  CHECK(allEqual(h, 6));
  CHECK(snap.calls == 10);
  CHECK(snap.seen == 6); // the host node ran after the copy

  // Changing the graph's node does not change the executable graph.
  args.v = 100;
  kp = args.params(k.fn);
  REQUIRE(cuGraphKernelNodeSetParams(kern, &kp) == CUDA_SUCCESS);
  REQUIRE(cuGraphLaunch(e, s) == CUDA_SUCCESS);
  REQUIRE(cuStreamSynchronize(s) == CUDA_SUCCESS);
  CHECK(allEqual(h, 6));

  // cuGraphExecKernelNodeSetParams does.
  args.v = 7;
  kp = args.params(k.fn);
  REQUIRE(cuGraphExecKernelNodeSetParams(e, kern, &kp) == CUDA_SUCCESS);
  REQUIRE(cuGraphLaunch(e, s) == CUDA_SUCCESS);
  REQUIRE(cuStreamSynchronize(s) == CUDA_SUCCESS);
  CHECK(allEqual(h, 8));
  CUDA_MEMSET_NODE_PARAMS m2 = fill32(d, 2, kN);
  REQUIRE(cuGraphExecMemsetNodeSetParams(e, set, &m2, f.ctx) == CUDA_SUCCESS);
  REQUIRE(cuGraphLaunch(e, s) == CUDA_SUCCESS);
  REQUIRE(cuStreamSynchronize(s) == CUDA_SUCCESS);
  CHECK(allEqual(h, 9));
  CHECK(cuGraphExecMemsetNodeSetParams(e, kern, &m2, f.ctx) == CUDA_ERROR_INVALID_VALUE);

  // Whole-graph update from the modified graph (kernel v = 100, memset 1).
  CUgraphExecUpdateResultInfo info{};
  REQUIRE(cuGraphExecUpdate(e, g, &info) == CUDA_SUCCESS);
  CHECK(info.result == CU_GRAPH_EXEC_UPDATE_SUCCESS);
  REQUIRE(cuGraphLaunch(e, s) == CUDA_SUCCESS);
  REQUIRE(cuStreamSynchronize(s) == CUDA_SUCCESS);
  CHECK(allEqual(h, 101));

  // A changed topology cannot update.
  CUgraph g2;
  REQUIRE(cuGraphClone(&g2, g) == CUDA_SUCCESS);
  CUgraphNode extra;
  REQUIRE(cuGraphAddEmptyNode(&extra, g2, nullptr, 0) == CUDA_SUCCESS);
  CHECK(cuGraphExecUpdate(e, g2, &info) == CUDA_ERROR_GRAPH_EXEC_UPDATE_FAILURE);
  CHECK(info.result == CU_GRAPH_EXEC_UPDATE_ERROR_TOPOLOGY_CHANGED);
  REQUIRE(cuGraphDestroyNode(extra) == CUDA_SUCCESS);
  CUgraphNode kern2;
  REQUIRE(cuGraphNodeFindInClone(&kern2, kern, g2) == CUDA_SUCCESS);
  CHECK(cuGraphNodeFindInClone(&kern2, extra, g2) == CUDA_ERROR_INVALID_VALUE);
  REQUIRE(cuGraphNodeFindInClone(&kern2, kern, g2) == CUDA_SUCCESS);
  CHECK(kern2 != kern);
  CUgraphNodeType t;
  CHECK(cuGraphNodeGetType(kern2, &t) == CUDA_SUCCESS);
  CHECK(t == CU_GRAPH_NODE_TYPE_KERNEL);

  // Disabled nodes are skipped.
  unsigned enabled = 9;
  CHECK(cuGraphNodeGetEnabled(e, kern, &enabled) == CUDA_SUCCESS);
  CHECK(enabled == 1);
  REQUIRE(cuGraphNodeSetEnabled(e, kern, 0) == CUDA_SUCCESS);
  CHECK(cuGraphNodeSetEnabled(e, host, 0) == CUDA_ERROR_INVALID_VALUE); // only kernel, memcpy, memset
  REQUIRE(cuGraphLaunch(e, s) == CUDA_SUCCESS);
  REQUIRE(cuStreamSynchronize(s) == CUDA_SUCCESS);
  CHECK(allEqual(h, 1));

  cuuint64_t flags = 1;
  CHECK(cuGraphExecGetFlags(e, &flags) == CUDA_SUCCESS);
  CHECK(flags == 0);
  CHECK(cuGraphUpload(e, s) == CUDA_SUCCESS);
  CHECK(cuGraphExecDestroy(e) == CUDA_SUCCESS);
  CHECK(cuGraphLaunch(e, s) == CUDA_ERROR_INVALID_VALUE);
  CHECK(cuGraphDestroy(g2) == CUDA_SUCCESS);
  CHECK(cuGraphDestroy(g) == CUDA_SUCCESS);
  cuStreamDestroy(s);
  cuMemFreeHost(h);
  cuMemFree(d);
}

TEST_CASE("child graphs, event nodes, cuGraphAddNode and DOT output") {
  ContextFixture f;
  Kernel k;
  CUdeviceptr d = 0;
  std::vector<unsigned> h(kN);
  REQUIRE(cuMemAlloc(&d, kN * 4) == CUDA_SUCCESS);
  CUgraph child, g;
  REQUIRE(cuGraphCreate(&child, 0) == CUDA_SUCCESS);
  REQUIRE(cuGraphCreate(&g, 0) == CUDA_SUCCESS);
  CUgraphNode set, sub, kern, rec, wait;
  CUDA_MEMSET_NODE_PARAMS m = fill32(d, 40, kN);
  REQUIRE(cuGraphAddMemsetNode(&set, child, nullptr, 0, &m, f.ctx) == CUDA_SUCCESS);
  REQUIRE(cuGraphAddChildGraphNode(&sub, g, nullptr, 0, child) == CUDA_SUCCESS);
  CUgraph embedded = nullptr;
  REQUIRE(cuGraphChildGraphNodeGetGraph(sub, &embedded) == CUDA_SUCCESS);
  CHECK(embedded != child); // a copy
  CHECK(nodeCount(embedded) == 1);
  CHECK(cuGraphDestroy(embedded) == CUDA_ERROR_INVALID_VALUE); // owned by the node

  AddArgs args{d, kN, 2};
  CUgraphNodeParams np{};
  np.type = CU_GRAPH_NODE_TYPE_KERNEL;
  np.kernel.func = k.fn;
  np.kernel.gridDimX = 2, np.kernel.gridDimY = 1, np.kernel.gridDimZ = 1;
  np.kernel.blockDimX = 128, np.kernel.blockDimY = 1, np.kernel.blockDimZ = 1;
  np.kernel.kernelParams = args.args;
  REQUIRE(cuGraphAddNode(&kern, g, &sub, nullptr, 1, &np) == CUDA_SUCCESS);
  CUevent ev;
  REQUIRE(cuEventCreate(&ev, 0) == CUDA_SUCCESS);
  REQUIRE(cuGraphAddEventRecordNode(&rec, g, &kern, 1, ev) == CUDA_SUCCESS);
  REQUIRE(cuGraphAddEventWaitNode(&wait, g, &rec, 1, ev) == CUDA_SUCCESS);
  CUevent got = nullptr;
  CHECK(cuGraphEventRecordNodeGetEvent(rec, &got) == CUDA_SUCCESS);
  CHECK(got == ev);
  CHECK(cuGraphEventWaitNodeGetEvent(rec, &got) == CUDA_ERROR_INVALID_VALUE);
  CHECK(cuGraphAddEventRecordNode(&rec, g, nullptr, 0, reinterpret_cast<CUevent>(0x10)) ==
        CUDA_ERROR_INVALID_VALUE);
  CUgraphNodeParams unsupported{};
  unsupported.type = CU_GRAPH_NODE_TYPE_EXT_SEMAS_SIGNAL;
  CUgraphNode none;
  CHECK(cuGraphAddNode(&none, g, nullptr, nullptr, 0, &unsupported) == CUDA_ERROR_NOT_SUPPORTED);
  CUgraphNodeParams noHandle{};
  noHandle.type = CU_GRAPH_NODE_TYPE_CONDITIONAL; // handle 0 was never created
  CHECK(cuGraphAddNode(&none, g, nullptr, nullptr, 0, &noHandle) == CUDA_ERROR_INVALID_VALUE);

  CUgraphExec e;
  REQUIRE(cuGraphInstantiate(&e, g, 0) == CUDA_SUCCESS);
  REQUIRE(cuGraphLaunch(e, nullptr) == CUDA_SUCCESS); // the legacy stream
  REQUIRE(cuEventSynchronize(ev) == CUDA_SUCCESS);
  REQUIRE(cuMemcpyDtoH(h.data(), d, kN * 4) == CUDA_SUCCESS);
  CHECK(allEqual(h.data(), 42));

  // A new child graph with the same shape updates the executable graph.
  CUgraph child2;
  REQUIRE(cuGraphCreate(&child2, 0) == CUDA_SUCCESS);
  CUgraphNode set2;
  CUDA_MEMSET_NODE_PARAMS m2 = fill32(d, 10, kN);
  REQUIRE(cuGraphAddMemsetNode(&set2, child2, nullptr, 0, &m2, f.ctx) == CUDA_SUCCESS);
  REQUIRE(cuGraphExecChildGraphNodeSetParams(e, sub, child2) == CUDA_SUCCESS);
  REQUIRE(cuGraphLaunch(e, nullptr) == CUDA_SUCCESS);
  REQUIRE(cuCtxSynchronize() == CUDA_SUCCESS);
  REQUIRE(cuMemcpyDtoH(h.data(), d, kN * 4) == CUDA_SUCCESS);
  CHECK(allEqual(h.data(), 12));
  CUgraphNode extra;
  REQUIRE(cuGraphAddEmptyNode(&extra, child2, nullptr, 0) == CUDA_SUCCESS);
  CHECK(cuGraphExecChildGraphNodeSetParams(e, sub, child2) == CUDA_ERROR_INVALID_VALUE);

  char path[] = "/tmp/cuvirt_graph_dotXXXXXX";
  int fd = mkstemp(path);
  REQUIRE(fd >= 0);
  close(fd);
  REQUIRE(cuGraphDebugDotPrint(g, path, CU_GRAPH_DEBUG_DOT_FLAGS_VERBOSE) == CUDA_SUCCESS);
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  unlink(path);
  CHECK(text.str().find("digraph") != std::string::npos);
  CHECK(text.str().find("addk") != std::string::npos);
  CHECK(text.str().find("MEMSET") != std::string::npos);
  CHECK(text.str().find("->") != std::string::npos);
  CHECK(cuGraphDebugDotPrint(g, "/nonexistent/dir/x.dot", 0) == CUDA_ERROR_OPERATING_SYSTEM);

  cuGraphExecDestroy(e);
  cuGraphDestroy(child2);
  cuGraphDestroy(child);
  cuGraphDestroy(g);
  cuEventDestroy(ev);
  cuMemFree(d);
}

TEST_CASE("mem alloc and free nodes follow stream-ordered allocation rules") {
  ContextFixture f;
  CUstream s;
  REQUIRE(cuStreamCreate(&s, CU_STREAM_NON_BLOCKING) == CUDA_SUCCESS);
  CUgraph g;
  REQUIRE(cuGraphCreate(&g, 0) == CUDA_SUCCESS);
  CUDA_MEM_ALLOC_NODE_PARAMS ap{};
  ap.poolProps.allocType = CU_MEM_ALLOCATION_TYPE_PINNED;
  ap.poolProps.location = {CU_MEM_LOCATION_TYPE_DEVICE, 0};
  ap.bytesize = kN * 4;
  CUgraphNode alloc, set, copy;
  REQUIRE(cuGraphAddMemAllocNode(&alloc, g, nullptr, 0, &ap) == CUDA_SUCCESS);
  REQUIRE(ap.dptr != 0);
  CUDA_MEMSET_NODE_PARAMS m = fill32(ap.dptr, 77, kN);
  REQUIRE(cuGraphAddMemsetNode(&set, g, &alloc, 1, &m, f.ctx) == CUDA_SUCCESS);
  std::vector<unsigned> h(kN);
  CUDA_MEMCPY3D c = toHost(h.data(), ap.dptr, kN * 4);
  REQUIRE(cuGraphAddMemcpyNode(&copy, g, &set, 1, &c, f.ctx) == CUDA_SUCCESS);
  CUDA_MEM_ALLOC_NODE_PARAMS back{};
  REQUIRE(cuGraphMemAllocNodeGetParams(alloc, &back) == CUDA_SUCCESS);
  CHECK(back.dptr == ap.dptr);
  CHECK(back.bytesize == kN * 4);
  CUgraphNode bad;
  CHECK(cuGraphAddMemFreeNode(&bad, g, nullptr, 0, 0x1234) == CUDA_ERROR_INVALID_VALUE);

  // Without a free node, a relaunch needs the memory freed first.
  CUgraphExec e;
  REQUIRE(cuGraphInstantiateWithFlags(&e, g, 0) == CUDA_SUCCESS);
  REQUIRE(cuGraphLaunch(e, s) == CUDA_SUCCESS);
  CHECK(cuGraphLaunch(e, s) == CUDA_ERROR_INVALID_VALUE);
  REQUIRE(cuStreamSynchronize(s) == CUDA_SUCCESS);
  CHECK(allEqual(h.data(), 77));
  REQUIRE(cuMemFreeAsync(ap.dptr, s) == CUDA_SUCCESS);
  CHECK(cuGraphLaunch(e, s) == CUDA_SUCCESS);
  REQUIRE(cuMemFreeAsync(ap.dptr, s) == CUDA_SUCCESS);
  cuGraphExecDestroy(e);

  // ... or the auto-free flag.
  REQUIRE(cuGraphInstantiateWithFlags(&e, g, CUDA_GRAPH_INSTANTIATE_FLAG_AUTO_FREE_ON_LAUNCH) ==
          CUDA_SUCCESS);
  cuuint64_t flags = 0;
  CHECK(cuGraphExecGetFlags(e, &flags) == CUDA_SUCCESS);
  CHECK(flags == CUDA_GRAPH_INSTANTIATE_FLAG_AUTO_FREE_ON_LAUNCH);
  CHECK(cuGraphLaunch(e, s) == CUDA_SUCCESS);
  CHECK(cuGraphLaunch(e, s) == CUDA_SUCCESS);
  REQUIRE(cuMemFreeAsync(ap.dptr, s) == CUDA_SUCCESS); // the last launch's allocation
  REQUIRE(cuStreamSynchronize(s) == CUDA_SUCCESS);
  cuGraphExecDestroy(e);

  // ... or a free node in the graph.
  CUgraphNode freeNode;
  REQUIRE(cuGraphAddMemFreeNode(&freeNode, g, &copy, 1, ap.dptr) == CUDA_SUCCESS);
  CUdeviceptr freed = 0;
  CHECK(cuGraphMemFreeNodeGetParams(freeNode, &freed) == CUDA_SUCCESS);
  CHECK(freed == ap.dptr);
  REQUIRE(cuGraphInstantiateWithFlags(&e, g, 0) == CUDA_SUCCESS);
  for (int i = 0; i < 3; ++i)
    CHECK(cuGraphLaunch(e, s) == CUDA_SUCCESS);
  REQUIRE(cuStreamSynchronize(s) == CUDA_SUCCESS);
  cuuint64_t reserved = 0;
  CHECK(cuDeviceGetGraphMemAttribute(0, CU_GRAPH_MEM_ATTR_RESERVED_MEM_CURRENT, &reserved) == CUDA_SUCCESS);
  CHECK(reserved >= kN * 4);
  cuGraphExecDestroy(e);
  cuGraphDestroy(g);
  cuStreamDestroy(s);
}

TEST_CASE("user objects are destroyed when the last reference goes") {
  ContextFixture f;
  std::atomic<int> gone{0};
  CUuserObject o;
  CHECK(cuUserObjectCreate(&o, &gone, destroyed, 1, 0) == CUDA_ERROR_INVALID_VALUE);
  REQUIRE(cuUserObjectCreate(&o, &gone, destroyed, 1, CU_USER_OBJECT_NO_DESTRUCTOR_SYNC) == CUDA_SUCCESS);
  CUgraph g;
  REQUIRE(cuGraphCreate(&g, 0) == CUDA_SUCCESS);
  REQUIRE(cuGraphRetainUserObject(g, o, 2, 0) == CUDA_SUCCESS);
  REQUIRE(cuUserObjectRelease(o, 1) == CUDA_SUCCESS);
  CHECK(gone == 0);
  CHECK(cuGraphReleaseUserObject(g, o, 3) == CUDA_ERROR_INVALID_VALUE);
  REQUIRE(cuGraphReleaseUserObject(g, o, 1) == CUDA_SUCCESS);
  CHECK(gone == 0);
  CUgraphNode n;
  REQUIRE(cuGraphAddEmptyNode(&n, g, nullptr, 0) == CUDA_SUCCESS);
  CUgraphExec e;
  REQUIRE(cuGraphInstantiateWithFlags(&e, g, 0) == CUDA_SUCCESS);
  REQUIRE(cuGraphDestroy(g) == CUDA_SUCCESS);
  CHECK(gone == 0); // the executable graph holds a reference
  REQUIRE(cuGraphExecDestroy(e) == CUDA_SUCCESS);
  CHECK(gone == 1);
  CHECK(cuUserObjectRetain(o, 1) == CUDA_ERROR_INVALID_VALUE); // gone

  // CU_GRAPH_USER_OBJECT_MOVE hands the caller's reference over.
  REQUIRE(cuUserObjectCreate(&o, &gone, destroyed, 1, CU_USER_OBJECT_NO_DESTRUCTOR_SYNC) == CUDA_SUCCESS);
  REQUIRE(cuGraphCreate(&g, 0) == CUDA_SUCCESS);
  REQUIRE(cuGraphRetainUserObject(g, o, 1, CU_GRAPH_USER_OBJECT_MOVE) == CUDA_SUCCESS);
  REQUIRE(cuGraphDestroy(g) == CUDA_SUCCESS);
  CHECK(gone == 2);
}

TEST_CASE("stream capture across two streams, then replay") {
  ContextFixture f;
  Kernel k;
  CUdeviceptr a = 0, b = 0;
  unsigned *h = nullptr;
  REQUIRE(cuMemAlloc(&a, kN * 4) == CUDA_SUCCESS);
  REQUIRE(cuMemAlloc(&b, kN * 4) == CUDA_SUCCESS);
  REQUIRE(cuMemAllocHost(reinterpret_cast<void **>(&h), 2 * kN * 4) == CUDA_SUCCESS);
  CUstream s1, s2;
  REQUIRE(cuStreamCreate(&s1, 0) == CUDA_SUCCESS);
  REQUIRE(cuStreamCreate(&s2, 0) == CUDA_SUCCESS);
  CUevent fork, join;
  REQUIRE(cuEventCreate(&fork, CU_EVENT_DISABLE_TIMING) == CUDA_SUCCESS);
  REQUIRE(cuEventCreate(&join, CU_EVENT_DISABLE_TIMING) == CUDA_SUCCESS);
  std::atomic<int> calls{0};

  REQUIRE(cuStreamBeginCapture(s1, CU_STREAM_CAPTURE_MODE_GLOBAL) == CUDA_SUCCESS);
  CUstreamCaptureStatus st;
  CHECK(cuStreamIsCapturing(s1, &st) == CUDA_SUCCESS);
  CHECK(st == CU_STREAM_CAPTURE_STATUS_ACTIVE);
  CHECK(cuStreamIsCapturing(s2, &st) == CUDA_SUCCESS);
  CHECK(st == CU_STREAM_CAPTURE_STATUS_NONE);
  CHECK(cuStreamIsCapturing(nullptr, &st) == CUDA_ERROR_STREAM_CAPTURE_IMPLICIT);
  REQUIRE(cuMemsetD32Async(a, 1, kN, s1) == CUDA_SUCCESS);
  REQUIRE(cuMemsetD32Async(b, 10, kN, s1) == CUDA_SUCCESS);
  REQUIRE(cuEventRecord(fork, s1) == CUDA_SUCCESS);
  REQUIRE(cuStreamWaitEvent(s2, fork, 0) == CUDA_SUCCESS);
  CHECK(cuStreamIsCapturing(s2, &st) == CUDA_SUCCESS);
  CHECK(st == CU_STREAM_CAPTURE_STATUS_ACTIVE);
  AddArgs addA{a, kN, 3}, addB{b, kN, 20};
  REQUIRE(cuLaunchKernel(k.fn, 2, 1, 1, 128, 1, 1, 0, s1, addA.args, nullptr) == CUDA_SUCCESS);
  REQUIRE(cuLaunchKernel(k.fn, 2, 1, 1, 128, 1, 1, 0, s2, addB.args, nullptr) == CUDA_SUCCESS);
  addB.v = 999; // captured by value at capture time
  REQUIRE(cuEventRecord(join, s2) == CUDA_SUCCESS);
  REQUIRE(cuStreamWaitEvent(s1, join, 0) == CUDA_SUCCESS);
  REQUIRE(cuMemcpyDtoHAsync(h, a, kN * 4, s1) == CUDA_SUCCESS);
  REQUIRE(cuMemcpyDtoHAsync(h + kN, b, kN * 4, s1) == CUDA_SUCCESS);
  REQUIRE(cuLaunchHostFunc(s1, countCall, &calls) == CUDA_SUCCESS);

  cuuint64_t id = 0;
  CUgraph capturing = nullptr;
  const CUgraphNode *deps = nullptr;
  std::size_t ndeps = 0;
  REQUIRE(cuStreamGetCaptureInfo(s1, &st, &id, &capturing, &deps, nullptr, &ndeps) == CUDA_SUCCESS);
  CHECK(st == CU_STREAM_CAPTURE_STATUS_ACTIVE);
  CHECK(id != 0);
  CHECK(capturing != nullptr);
  REQUIRE(ndeps == 1);
  CUgraphNodeType t;
  CHECK(cuGraphNodeGetType(deps[0], &t) == CUDA_SUCCESS);
  CHECK(t == CU_GRAPH_NODE_TYPE_HOST);
  CHECK(calls == 0); // nothing ran

  CUgraph g = nullptr;
  REQUIRE(cuStreamEndCapture(s1, &g) == CUDA_SUCCESS);
  REQUIRE(g == capturing);
  CHECK(cuStreamIsCapturing(s2, &st) == CUDA_SUCCESS);
  CHECK(st == CU_STREAM_CAPTURE_STATUS_NONE);
  CHECK(nodeCount(g) == 7); // 2 memsets, 2 kernels, 2 copies, 1 host node
  std::size_t edges = 0;
  CHECK(cuGraphGetEdges(g, nullptr, nullptr, nullptr, &edges) == CUDA_SUCCESS);
  CHECK(edges == 7); // set->set, set->k1, set->k2, k1->copy, k2->copy, copy->copy, copy->host

  CUgraphExec e;
  REQUIRE(cuGraphInstantiateWithFlags(&e, g, 0) == CUDA_SUCCESS);
  for (int i = 0; i < 3; ++i)
    REQUIRE(cuGraphLaunch(e, s2) == CUDA_SUCCESS);
  REQUIRE(cuStreamSynchronize(s2) == CUDA_SUCCESS);
  CHECK(calls == 3);
  CHECK(allEqual(h, 4));
  CHECK(allEqual(h + kN, 30));

  // A graph launched into a capturing stream becomes a child graph node.
  CUstream s3;
  REQUIRE(cuStreamCreate(&s3, CU_STREAM_NON_BLOCKING) == CUDA_SUCCESS);
  REQUIRE(cuStreamBeginCapture(s3, CU_STREAM_CAPTURE_MODE_THREAD_LOCAL) == CUDA_SUCCESS);
  REQUIRE(cuGraphLaunch(e, s3) == CUDA_SUCCESS);
  CUdeviceptr scratch = 0;
  REQUIRE(cuMemAllocAsync(&scratch, 64, s3) == CUDA_SUCCESS);
  REQUIRE(cuMemsetD8Async(scratch, 0, 64, s3) == CUDA_SUCCESS);
  REQUIRE(cuMemFreeAsync(scratch, s3) == CUDA_SUCCESS);
  CUgraph outer = nullptr;
  REQUIRE(cuStreamEndCapture(s3, &outer) == CUDA_SUCCESS);
  CUgraphNode nodes[4];
  std::size_t count = 4;
  REQUIRE(cuGraphGetNodes(outer, nodes, &count) == CUDA_SUCCESS);
  REQUIRE(count == 4);
  CUgraphNodeType types[4];
  for (int i = 0; i < 4; ++i)
    cuGraphNodeGetType(nodes[i], &types[i]);
  CHECK(types[0] == CU_GRAPH_NODE_TYPE_GRAPH);
  CHECK(types[1] == CU_GRAPH_NODE_TYPE_MEM_ALLOC);
  CHECK(types[2] == CU_GRAPH_NODE_TYPE_MEMSET);
  CHECK(types[3] == CU_GRAPH_NODE_TYPE_MEM_FREE);
  CUgraphExec outerExec;
  REQUIRE(cuGraphInstantiateWithFlags(&outerExec, outer, 0) == CUDA_SUCCESS);
  std::memset(h, 0, 2 * kN * 4);
  REQUIRE(cuGraphLaunch(outerExec, s3) == CUDA_SUCCESS);
  REQUIRE(cuGraphLaunch(outerExec, s3) == CUDA_SUCCESS); // its memory was freed in the graph
  REQUIRE(cuStreamSynchronize(s3) == CUDA_SUCCESS);
  CHECK(calls == 5);
  CHECK(allEqual(h, 4));

  cuGraphExecDestroy(outerExec);
  cuGraphDestroy(outer);
  cuGraphExecDestroy(e);
  cuGraphDestroy(g);
  cuStreamDestroy(s3);
  cuStreamDestroy(s2);
  cuStreamDestroy(s1);
  cuEventDestroy(fork);
  cuEventDestroy(join);
  cuMemFreeHost(h);
  cuMemFree(a);
  cuMemFree(b);
}

TEST_CASE("stream capture rules and their error codes") {
  ContextFixture f;
  CUdeviceptr d = 0;
  REQUIRE(cuMemAlloc(&d, kN * 4) == CUDA_SUCCESS);
  CUstream s, s2, nb;
  REQUIRE(cuStreamCreate(&s, 0) == CUDA_SUCCESS);
  REQUIRE(cuStreamCreate(&s2, 0) == CUDA_SUCCESS);
  REQUIRE(cuStreamCreate(&nb, CU_STREAM_NON_BLOCKING) == CUDA_SUCCESS);
  CUgraph g = reinterpret_cast<CUgraph>(0x1);
  CUstreamCaptureStatus st;

  CHECK(cuStreamEndCapture(s, &g) == CUDA_ERROR_ILLEGAL_STATE);
  CHECK(cuStreamBeginCapture(nullptr, CU_STREAM_CAPTURE_MODE_GLOBAL) ==
        CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED);
  CHECK(cuStreamBeginCapture(s, static_cast<CUstreamCaptureMode>(7)) == CUDA_ERROR_INVALID_VALUE);

  SUBCASE("an unsafe call in global mode invalidates the capture") {
    REQUIRE(cuStreamBeginCapture(s, CU_STREAM_CAPTURE_MODE_GLOBAL) == CUDA_SUCCESS);
    CHECK(cuStreamBeginCapture(s, CU_STREAM_CAPTURE_MODE_GLOBAL) == CUDA_ERROR_ILLEGAL_STATE);
    CUdeviceptr p = 0;
    CHECK(cuMemAlloc(&p, 64) == CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED);
    CHECK(cuStreamIsCapturing(s, &st) == CUDA_SUCCESS);
    CHECK(st == CU_STREAM_CAPTURE_STATUS_INVALIDATED);
    CHECK(cuMemsetD32Async(d, 0, kN, s) == CUDA_ERROR_STREAM_CAPTURE_INVALIDATED);
    CHECK(cuStreamEndCapture(s, &g) == CUDA_ERROR_STREAM_CAPTURE_INVALIDATED);
    CHECK(g == nullptr);
    CHECK(cuStreamIsCapturing(s, &st) == CUDA_SUCCESS);
    CHECK(st == CU_STREAM_CAPTURE_STATUS_NONE);
  }
  SUBCASE("relaxed captures and relaxed threads may make unsafe calls") {
    REQUIRE(cuStreamBeginCapture(s, CU_STREAM_CAPTURE_MODE_RELAXED) == CUDA_SUCCESS);
    CUdeviceptr p = 0;
    CHECK(cuMemAlloc(&p, 64) == CUDA_SUCCESS);
    CHECK(cuMemFree(p) == CUDA_SUCCESS);
    CUevent e;
    REQUIRE(cuEventCreate(&e, 0) == CUDA_SUCCESS);
    CHECK(cuEventQuery(e) == CUDA_SUCCESS);
    cuEventDestroy(e);
    REQUIRE(cuStreamEndCapture(s, &g) == CUDA_SUCCESS);
    CHECK(nodeCount(g) == 0);
    cuGraphDestroy(g);

    REQUIRE(cuStreamBeginCapture(s, CU_STREAM_CAPTURE_MODE_GLOBAL) == CUDA_SUCCESS);
    CUstreamCaptureMode mode = CU_STREAM_CAPTURE_MODE_RELAXED;
    REQUIRE(cuThreadExchangeStreamCaptureMode(&mode) == CUDA_SUCCESS);
    CHECK(mode == CU_STREAM_CAPTURE_MODE_GLOBAL);
    CHECK(cuMemAlloc(&p, 64) == CUDA_SUCCESS);
    CHECK(cuMemFree(p) == CUDA_SUCCESS);
    REQUIRE(cuThreadExchangeStreamCaptureMode(&mode) == CUDA_SUCCESS);
    CHECK(mode == CU_STREAM_CAPTURE_MODE_RELAXED);
    CHECK(cuThreadExchangeStreamCaptureMode(nullptr) == CUDA_ERROR_INVALID_VALUE);
    REQUIRE(cuStreamEndCapture(s, &g) == CUDA_SUCCESS);
    cuGraphDestroy(g);
  }
  SUBCASE("another thread's global capture prohibits unsafe calls; thread-local ones do not") {
    REQUIRE(cuStreamBeginCapture(s, CU_STREAM_CAPTURE_MODE_GLOBAL) == CUDA_SUCCESS);
    CUresult other = CUDA_SUCCESS;
    std::thread([&] {
      cuCtxSetCurrent(f.ctx);
      CUdeviceptr p = 0;
      other = cuMemAlloc(&p, 64);
    }).join();
    CHECK(other == CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED);
    CUevent e;
    REQUIRE(cuEventCreate(&e, 0) == CUDA_SUCCESS);
    std::thread([&] {
      cuCtxSetCurrent(f.ctx);
      other = cuEventQuery(e); // an unsafe call too
    }).join();
    CHECK(other == CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED);
    cuEventDestroy(e);
    REQUIRE(cuStreamEndCapture(s, &g) == CUDA_SUCCESS); // not this thread's call: still valid
    cuGraphDestroy(g);

    REQUIRE(cuStreamBeginCapture(s, CU_STREAM_CAPTURE_MODE_THREAD_LOCAL) == CUDA_SUCCESS);
    std::thread([&] {
      cuCtxSetCurrent(f.ctx);
      CUdeviceptr p = 0;
      other = cuMemAlloc(&p, 64);
      cuMemFree(p);
    }).join();
    CHECK(other == CUDA_SUCCESS);
    // A non-relaxed capture must end on its own thread.
    std::thread([&] { other = cuStreamEndCapture(s, &g); }).join();
    CHECK(other == CUDA_ERROR_STREAM_CAPTURE_WRONG_THREAD);
    REQUIRE(cuStreamEndCapture(s, &g) == CUDA_SUCCESS);
    cuGraphDestroy(g);
  }
  SUBCASE("synchronising a capturing stream is unsupported") {
    REQUIRE(cuStreamBeginCapture(s, CU_STREAM_CAPTURE_MODE_GLOBAL) == CUDA_SUCCESS);
    CHECK(cuStreamSynchronize(s) == CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED);
    CHECK(cuStreamEndCapture(s, &g) == CUDA_ERROR_STREAM_CAPTURE_INVALIDATED);
    REQUIRE(cuStreamBeginCapture(s, CU_STREAM_CAPTURE_MODE_RELAXED) == CUDA_SUCCESS);
    CHECK(cuStreamQuery(s) == CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED);
    CHECK(cuStreamEndCapture(s, &g) == CUDA_ERROR_STREAM_CAPTURE_INVALIDATED);
  }
  SUBCASE("stream callbacks cannot be captured") {
    REQUIRE(cuStreamBeginCapture(s, CU_STREAM_CAPTURE_MODE_GLOBAL) == CUDA_SUCCESS);
    CHECK(cuStreamAddCallback(
              s, [](CUstream, CUresult, void *) {}, nullptr, 0) == CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED);
    CHECK(cuStreamEndCapture(s, &g) == CUDA_ERROR_STREAM_CAPTURE_INVALIDATED);
  }
  SUBCASE("the legacy stream while a blocking stream captures") {
    REQUIRE(cuStreamBeginCapture(nb, CU_STREAM_CAPTURE_MODE_GLOBAL) == CUDA_SUCCESS);
    CHECK(cuMemsetD32Async(d, 0, kN, nullptr) ==
          CUDA_SUCCESS); // a non-blocking stream: no implicit dependency
    REQUIRE(cuCtxSynchronize() == CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED);
    CHECK(cuStreamEndCapture(nb, &g) == CUDA_ERROR_STREAM_CAPTURE_INVALIDATED);

    REQUIRE(cuStreamBeginCapture(s, CU_STREAM_CAPTURE_MODE_RELAXED) == CUDA_SUCCESS);
    CHECK(cuStreamIsCapturing(CU_STREAM_LEGACY, &st) == CUDA_ERROR_STREAM_CAPTURE_IMPLICIT);
    CHECK(cuMemsetD32Async(d, 0, kN, nullptr) == CUDA_ERROR_STREAM_CAPTURE_IMPLICIT);
    CHECK(cuStreamIsCapturing(s, &st) == CUDA_SUCCESS);
    CHECK(st == CU_STREAM_CAPTURE_STATUS_INVALIDATED);
    CHECK(cuStreamEndCapture(s, &g) == CUDA_ERROR_STREAM_CAPTURE_INVALIDATED);
    CHECK(cuMemsetD32Async(d, 0, kN, nullptr) == CUDA_SUCCESS); // usable again
    CHECK(cuCtxSynchronize() == CUDA_SUCCESS);
  }
  SUBCASE("a fork must be joined back before the capture ends") {
    CUevent e;
    REQUIRE(cuEventCreate(&e, 0) == CUDA_SUCCESS);
    REQUIRE(cuStreamBeginCapture(s, CU_STREAM_CAPTURE_MODE_GLOBAL) == CUDA_SUCCESS);
    REQUIRE(cuMemsetD32Async(d, 0, kN, s) == CUDA_SUCCESS);
    REQUIRE(cuEventRecord(e, s) == CUDA_SUCCESS);
    CHECK(cuEventQuery(e) == CUDA_ERROR_CAPTURED_EVENT); // recorded in a capture: nothing to wait for
    CHECK(cuEventSynchronize(e) == CUDA_ERROR_CAPTURED_EVENT);
    REQUIRE(cuStreamWaitEvent(s2, e, 0) == CUDA_SUCCESS);
    REQUIRE(cuMemsetD32Async(d, 1, kN, s2) == CUDA_SUCCESS);
    CHECK(cuStreamEndCapture(s2, &g) == CUDA_ERROR_STREAM_CAPTURE_UNMATCHED);
    CHECK(cuStreamEndCapture(s, &g) == CUDA_ERROR_STREAM_CAPTURE_UNJOINED);
    CHECK(g == nullptr);
    CHECK(cuStreamIsCapturing(s2, &st) == CUDA_SUCCESS);
    CHECK(st == CU_STREAM_CAPTURE_STATUS_NONE);
    cuEventDestroy(e);
  }
  SUBCASE("a capturing stream cannot wait for an event from outside the capture") {
    CUevent e;
    REQUIRE(cuEventCreate(&e, 0) == CUDA_SUCCESS);
    REQUIRE(cuEventRecord(e, s2) == CUDA_SUCCESS);
    REQUIRE(cuStreamBeginCapture(s, CU_STREAM_CAPTURE_MODE_GLOBAL) == CUDA_SUCCESS);
    CHECK(cuStreamWaitEvent(s, e, 0) == CUDA_ERROR_STREAM_CAPTURE_ISOLATION);
    CHECK(cuStreamEndCapture(s, &g) == CUDA_ERROR_STREAM_CAPTURE_INVALIDATED);
    // External waits and records become event nodes.
    REQUIRE(cuStreamBeginCapture(s, CU_STREAM_CAPTURE_MODE_GLOBAL) == CUDA_SUCCESS);
    CHECK(cuStreamWaitEvent(s, e, CU_EVENT_WAIT_EXTERNAL) == CUDA_SUCCESS);
    CHECK(cuEventRecordWithFlags(e, s, CU_EVENT_RECORD_EXTERNAL) == CUDA_SUCCESS);
    REQUIRE(cuStreamEndCapture(s, &g) == CUDA_SUCCESS);
    CUgraphNode nodes[2];
    std::size_t n = 2;
    REQUIRE(cuGraphGetNodes(g, nodes, &n) == CUDA_SUCCESS);
    REQUIRE(n == 2);
    CUgraphNodeType t0, t1;
    cuGraphNodeGetType(nodes[0], &t0);
    cuGraphNodeGetType(nodes[1], &t1);
    CHECK(t0 == CU_GRAPH_NODE_TYPE_WAIT_EVENT);
    CHECK(t1 == CU_GRAPH_NODE_TYPE_EVENT_RECORD);
    cuGraphDestroy(g);
    cuEventDestroy(e);
  }
  SUBCASE("destroying a capturing stream ends its capture") {
    CUstream t;
    REQUIRE(cuStreamCreate(&t, 0) == CUDA_SUCCESS);
    REQUIRE(cuStreamBeginCapture(t, CU_STREAM_CAPTURE_MODE_GLOBAL) == CUDA_SUCCESS);
    REQUIRE(cuMemsetD32Async(d, 0, kN, t) == CUDA_SUCCESS);
    REQUIRE(cuStreamDestroy(t) == CUDA_SUCCESS);
    CUdeviceptr p = 0;
    CHECK(cuMemAlloc(&p, 64) == CUDA_SUCCESS); // no capture left to prohibit it
    CHECK(cuMemFree(p) == CUDA_SUCCESS);
  }
  SUBCASE("capture into an existing graph; updating the dependency set") {
    CUgraph into;
    REQUIRE(cuGraphCreate(&into, 0) == CUDA_SUCCESS);
    CUgraphNode first;
    REQUIRE(cuGraphAddEmptyNode(&first, into, nullptr, 0) == CUDA_SUCCESS);
    REQUIRE(cuStreamBeginCaptureToGraph(s, into, &first, nullptr, 1, CU_STREAM_CAPTURE_MODE_GLOBAL) ==
            CUDA_SUCCESS);
    REQUIRE(cuMemsetD32Async(d, 3, kN, s) == CUDA_SUCCESS); // depends on `first`
    REQUIRE(cuStreamUpdateCaptureDependencies(s, nullptr, nullptr, 0, CU_STREAM_SET_CAPTURE_DEPENDENCIES) ==
            CUDA_SUCCESS);
    REQUIRE(cuMemsetD32Async(d, 4, kN, s) == CUDA_SUCCESS); // a root
    CHECK(cuStreamUpdateCaptureDependencies(s, &first, nullptr, 1, 7) == CUDA_ERROR_INVALID_VALUE);
    REQUIRE(cuStreamUpdateCaptureDependencies(s, &first, nullptr, 1, CU_STREAM_ADD_CAPTURE_DEPENDENCIES) ==
            CUDA_SUCCESS);
    std::size_t ndeps = 0;
    REQUIRE(cuStreamGetCaptureInfo(s, &st, nullptr, nullptr, nullptr, nullptr, &ndeps) == CUDA_SUCCESS);
    CHECK(ndeps == 2);
    REQUIRE(cuStreamEndCapture(s, &g) == CUDA_SUCCESS);
    CHECK(g == into);
    CHECK(nodeCount(into) == 3);
    std::size_t roots = 0;
    CHECK(cuGraphGetRootNodes(into, nullptr, &roots) == CUDA_SUCCESS);
    CHECK(roots == 2);
    CHECK(cuStreamUpdateCaptureDependencies(s, &first, nullptr, 1, 0) == CUDA_ERROR_ILLEGAL_STATE);
    cuGraphDestroy(into);
  }
  cuStreamDestroy(nb);
  cuStreamDestroy(s2);
  cuStreamDestroy(s);
  cuMemFree(d);
}

TEST_CASE("a captured cooperative launch keeps its attribute and replays") {
  ContextFixture f;
  Kernel k;
  CUdeviceptr d = 0;
  std::vector<unsigned> h(kN);
  REQUIRE(cuMemAlloc(&d, kN * 4) == CUDA_SUCCESS);
  REQUIRE(cuMemsetD32(d, 1, kN) == CUDA_SUCCESS);
  CUstream s;
  REQUIRE(cuStreamCreate(&s, CU_STREAM_NON_BLOCKING) == CUDA_SUCCESS);
  AddArgs args{d, kN, 4};
  CUlaunchAttribute attr{};
  attr.id = CU_LAUNCH_ATTRIBUTE_COOPERATIVE;
  attr.value.cooperative = 1;
  CUlaunchConfig config{};
  config.gridDimX = 2, config.gridDimY = 1, config.gridDimZ = 1;
  config.blockDimX = 128, config.blockDimY = 1, config.blockDimZ = 1;
  config.hStream = s;
  config.attrs = &attr;
  config.numAttrs = 1;
  REQUIRE(cuStreamBeginCapture(s, CU_STREAM_CAPTURE_MODE_GLOBAL) == CUDA_SUCCESS);
  REQUIRE(cuLaunchKernelEx(&config, k.fn, args.args, nullptr) == CUDA_SUCCESS);
  CUgraph g;
  REQUIRE(cuStreamEndCapture(s, &g) == CUDA_SUCCESS);
  CUgraphNode node;
  std::size_t n = 1;
  REQUIRE(cuGraphGetNodes(g, &node, &n) == CUDA_SUCCESS);
  CUkernelNodeAttrValue value{};
  CHECK(cuGraphKernelNodeGetAttribute(node, CU_LAUNCH_ATTRIBUTE_COOPERATIVE, &value) == CUDA_SUCCESS);
  CHECK(value.cooperative == 1);
  CUgraphExec e;
  REQUIRE(cuGraphInstantiateWithFlags(&e, g, 0) == CUDA_SUCCESS);
  REQUIRE(cuGraphLaunch(e, s) == CUDA_SUCCESS);
  REQUIRE(cuGraphLaunch(e, s) == CUDA_SUCCESS);
  REQUIRE(cuStreamSynchronize(s) == CUDA_SUCCESS);
  REQUIRE(cuMemcpyDtoH(h.data(), d, kN * 4) == CUDA_SUCCESS);
  CHECK(allEqual(h.data(), 9));
  cuGraphExecDestroy(e);
  cuGraphDestroy(g);
  cuStreamDestroy(s);
  cuMemFree(d);
}

namespace {
// countdown(p, h): p[0] -= 1; p[1] += 1; the condition h becomes p[0]. The
// driver built-in cudaGraphSetConditional is declared, never defined.
const char *kConditionalPtx = R"(
.version 8.0
.target sm_75
.address_size 64

.extern .func cudaGraphSetConditional(.param .b64 h, .param .b32 v);

.visible .entry countdown(.param .u64 p, .param .u64 h)
{
  .reg .b32 %r<4>;
  .reg .b64 %rd<3>;
  ld.param.u64 %rd1, [p];
  ld.param.u64 %rd2, [h];
  ld.global.u32 %r1, [%rd1];
  sub.s32 %r1, %r1, 1;
  st.global.u32 [%rd1], %r1;
  ld.global.u32 %r2, [%rd1+4];
  add.s32 %r2, %r2, 1;
  st.global.u32 [%rd1+4], %r2;
  {
  .param .b64 a0;
  .param .b32 a1;
  st.param.b64 [a0], %rd2;
  st.param.b32 [a1], %r1;
  call.uni cudaGraphSetConditional, (a0, a1);
  }
  ret;
}
)";
} // namespace

TEST_CASE("conditional nodes: handles, WHILE with a default, kernels setting the condition") {
  ContextFixture f;
  CUmodule mod;
  CUfunction fn;
  REQUIRE(cuModuleLoadData(&mod, kConditionalPtx) == CUDA_SUCCESS);
  REQUIRE(cuModuleGetFunction(&fn, mod, "countdown") == CUDA_SUCCESS);
  CUdeviceptr d = 0;
  REQUIRE(cuMemAlloc(&d, 8) == CUDA_SUCCESS);
  CUgraph g;
  REQUIRE(cuGraphCreate(&g, 0) == CUDA_SUCCESS);

  CUgraphConditionalHandle h = 0;
  CHECK(cuGraphConditionalHandleCreate(nullptr, g, f.ctx, 0, 0) == CUDA_ERROR_INVALID_VALUE);
  CHECK(cuGraphConditionalHandleCreate(&h, g, f.ctx, 0, 0x2) == CUDA_ERROR_INVALID_VALUE);
  CHECK(cuGraphConditionalHandleCreate(&h, reinterpret_cast<CUgraph>(0x10), f.ctx, 0, 0) ==
        CUDA_ERROR_INVALID_VALUE);
  REQUIRE(cuGraphConditionalHandleCreate(&h, g, f.ctx, 1, CU_GRAPH_COND_ASSIGN_DEFAULT) == CUDA_SUCCESS);

  CUgraphNodeParams cp{};
  cp.type = CU_GRAPH_NODE_TYPE_CONDITIONAL;
  cp.conditional.handle = h;
  cp.conditional.type = CU_GRAPH_COND_TYPE_WHILE;
  cp.conditional.size = 1;
  cp.conditional.ctx = f.ctx;
  CUgraphNode loop;
  REQUIRE(cuGraphAddNode(&loop, g, nullptr, nullptr, 0, &cp) == CUDA_SUCCESS);
  REQUIRE(cp.conditional.phGraph_out != nullptr);
  CUgraph body = cp.conditional.phGraph_out[0];
  CUgraphNodeType type;
  CHECK(cuGraphNodeGetType(loop, &type) == CUDA_SUCCESS);
  CHECK(type == CU_GRAPH_NODE_TYPE_CONDITIONAL);

  void *args[] = {&d, &h};
  CUDA_KERNEL_NODE_PARAMS kp{};
  kp.func = fn;
  kp.gridDimX = kp.gridDimY = kp.gridDimZ = 1;
  kp.blockDimX = kp.blockDimY = kp.blockDimZ = 1;
  kp.kernelParams = args;
  CUgraphNode step;
  REQUIRE(cuGraphAddKernelNode(&step, body, nullptr, 0, &kp) == CUDA_SUCCESS);

  CUgraphExec e;
  REQUIRE(cuGraphInstantiate(&e, g, 0) == CUDA_SUCCESS);
  for (unsigned start : {5u, 1u, 3u}) {
    unsigned init[2] = {start, 0}, out[2] = {};
    REQUIRE(cuMemcpyHtoD(d, init, sizeof init) == CUDA_SUCCESS);
    REQUIRE(cuGraphLaunch(e, nullptr) == CUDA_SUCCESS);
    REQUIRE(cuCtxSynchronize() == CUDA_SUCCESS);
    REQUIRE(cuMemcpyDtoH(out, d, sizeof out) == CUDA_SUCCESS);
    CHECK(out[0] == 0);
    CHECK(out[1] == start); // the default 1 started each launch's loop
  }
  CHECK(cuGraphExecDestroy(e) == CUDA_SUCCESS);
  CHECK(cuGraphDestroy(g) == CUDA_SUCCESS);
  CHECK(cuMemFree(d) == CUDA_SUCCESS);
  CHECK(cuModuleUnload(mod) == CUDA_SUCCESS);
}
