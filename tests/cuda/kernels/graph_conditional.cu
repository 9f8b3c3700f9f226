// Conditional graph nodes (IF, IF/ELSE, WHILE, SWITCH): conditions set by
// kernels with cudaGraphSetConditional or by a handle's default at each
// launch, bodies built with node calls and with cudaStreamBeginCaptureToGraph,
// a conditional nested in a WHILE body, a conditional added to a graph under
// stream capture, work after a node waiting for its body; invalid handles,
// flags and body counts refused.
#include "check.h"

__device__ int runs[8]; // how often each body kernel ran

__global__ void setCondition(const int *value, cudaGraphConditionalHandle h) {
  cudaGraphSetConditional(h, static_cast<unsigned>(*value));
}
__global__ void count(int slot) { atomicAdd(&runs[slot], 1); }
// WHILE body: counts down *left, ends the loop when it reaches 0.
__global__ void countDown(int *left, cudaGraphConditionalHandle h) {
  atomicAdd(&runs[1], 1);
  if (--*left == 0)
    cudaGraphSetConditional(h, 0);
}
// Sets an inner IF's condition from the loop counter: odd iterations only.
__global__ void setOdd(const int *left, cudaGraphConditionalHandle h) {
  cudaGraphSetConditional(h, *left & 1);
}
__global__ void copyOut(const int *from, int *to) { *to = *from; }

static void resetRuns() {
  int zero[8] = {};
  CHECK(cudaMemcpyToSymbol(runs, zero, sizeof zero));
}
static void readRuns(int out[8]) { CHECK(cudaMemcpyFromSymbol(out, runs, 8 * sizeof(int))); }

static cudaGraphNodeParams kernelParams(void *func, void **args) {
  cudaGraphNodeParams p = {};
  p.type = cudaGraphNodeTypeKernel;
  p.kernel.func = func;
  p.kernel.gridDim = dim3(1);
  p.kernel.blockDim = dim3(1);
  p.kernel.kernelParams = args;
  return p;
}
static cudaGraphNodeParams conditionalParams(cudaGraphConditionalHandle h, cudaGraphConditionalNodeType type,
                                             unsigned size) {
  cudaGraphNodeParams p = {};
  p.type = cudaGraphNodeTypeConditional;
  p.conditional.handle = h;
  p.conditional.type = type;
  p.conditional.size = size;
  return p;
}
static void addCount(cudaGraph_t g, int *slot) {
  void *args[] = {slot};
  cudaGraphNodeParams p = kernelParams((void *)count, args);
  cudaGraphNode_t n;
  CHECK(cudaGraphAddNode(&n, g, nullptr, nullptr, 0, &p));
}

// value kernel -> IF [count 0] (| count 1 with an else body); then SWITCH on the same value.
static void ifAndSwitch(int *dValue, cudaStream_t stream) {
  static int slots[5] = {0, 1, 2, 3, 4};
  for (unsigned size : {1u, 2u}) {
    cudaGraph_t g;
    CHECK(cudaGraphCreate(&g, 0));
    cudaGraphConditionalHandle h;
    CHECK(cudaGraphConditionalHandleCreate(&h, g));
    void *args[] = {&dValue, &h};
    cudaGraphNodeParams kp = kernelParams((void *)setCondition, args);
    cudaGraphNode_t set, cond;
    CHECK(cudaGraphAddNode(&set, g, nullptr, nullptr, 0, &kp));
    cudaGraphNodeParams cp = conditionalParams(h, cudaGraphCondTypeIf, size);
    CHECK(cudaGraphAddNode(&cond, g, &set, nullptr, 1, &cp));
    addCount(cp.conditional.phGraph_out[0], &slots[0]);
    if (size == 2)
      addCount(cp.conditional.phGraph_out[1], &slots[1]);
    cudaGraphExec_t e;
    CHECK(cudaGraphInstantiate(&e, g, nullptr, nullptr, 0));
    for (int v : {0, 5, 0, 0}) {
      resetRuns();
      CHECK(cudaMemcpy(dValue, &v, sizeof v, cudaMemcpyHostToDevice));
      CHECK(cudaGraphLaunch(e, stream));
      CHECK(cudaStreamSynchronize(stream));
      int r[8];
      readRuns(r);
      EXPECT(r[0] == (v != 0) && r[1] == (size == 2 && v == 0), "IF size %u value %d: then %d else %d", size,
             v, r[0], r[1]);
    }
    CHECK(cudaGraphExecDestroy(e));
    CHECK(cudaGraphDestroy(g));
  }

  cudaGraph_t g;
  CHECK(cudaGraphCreate(&g, 0));
  cudaGraphConditionalHandle h;
  CHECK(cudaGraphConditionalHandleCreate(&h, g));
  void *args[] = {&dValue, &h};
  cudaGraphNodeParams kp = kernelParams((void *)setCondition, args);
  cudaGraphNode_t set, cond;
  CHECK(cudaGraphAddNode(&set, g, nullptr, nullptr, 0, &kp));
  cudaGraphNodeParams cp = conditionalParams(h, cudaGraphCondTypeSwitch, 3);
  CHECK(cudaGraphAddNode(&cond, g, &set, nullptr, 1, &cp));
  for (int i = 0; i < 3; ++i)
    addCount(cp.conditional.phGraph_out[i], &slots[i]);
  cudaGraphExec_t e;
  CHECK(cudaGraphInstantiate(&e, g, nullptr, nullptr, 0));
  for (int v = 0; v < 5; ++v) {
    resetRuns();
    CHECK(cudaMemcpy(dValue, &v, sizeof v, cudaMemcpyHostToDevice));
    CHECK(cudaGraphLaunch(e, stream));
    CHECK(cudaStreamSynchronize(stream));
    int r[8];
    readRuns(r);
    for (int i = 0; i < 3; ++i)
      EXPECT(r[i] == (i == v), "SWITCH value %d: body %d ran %d times", v, i, r[i]);
  }
  CHECK(cudaGraphExecDestroy(e));
  CHECK(cudaGraphDestroy(g));
}

// WHILE (default 1, re-applied at each launch) [countDown -> IF odd [count 2]]
// -> copyOut: the copy must see the loop's final counter.
static void whileLoop(int *dLeft, int *dOut, cudaStream_t stream) {
  static int slot2 = 2;
  cudaGraph_t g;
  CHECK(cudaGraphCreate(&g, 0));
  cudaGraphConditionalHandle loop;
  CHECK(cudaGraphConditionalHandleCreate(&loop, g, 1, cudaGraphCondAssignDefault));
  cudaGraphNodeParams cp = conditionalParams(loop, cudaGraphCondTypeWhile, 1);
  cudaGraphNode_t cond, after;
  CHECK(cudaGraphAddNode(&cond, g, nullptr, nullptr, 0, &cp));
  cudaGraph_t body = cp.conditional.phGraph_out[0];

  cudaGraphConditionalHandle odd;
  CHECK(cudaGraphConditionalHandleCreate(&odd, body));
  void *downArgs[] = {&dLeft, &loop};
  void *oddArgs[] = {&dLeft, &odd};
  cudaGraphNodeParams p = kernelParams((void *)countDown, downArgs);
  cudaGraphNode_t down, setOddNode, inner;
  CHECK(cudaGraphAddNode(&down, body, nullptr, nullptr, 0, &p));
  p = kernelParams((void *)setOdd, oddArgs);
  CHECK(cudaGraphAddNode(&setOddNode, body, &down, nullptr, 1, &p));
  cudaGraphNodeParams ip = conditionalParams(odd, cudaGraphCondTypeIf, 1);
  CHECK(cudaGraphAddNode(&inner, body, &setOddNode, nullptr, 1, &ip));
  addCount(ip.conditional.phGraph_out[0], &slot2);

  void *copyArgs[] = {&dLeft, &dOut};
  p = kernelParams((void *)copyOut, copyArgs);
  CHECK(cudaGraphAddNode(&after, g, &cond, nullptr, 1, &p));
  cudaGraphExec_t e;
  CHECK(cudaGraphInstantiate(&e, g, nullptr, nullptr, 0));
  for (int n : {7, 1, 4}) {
    resetRuns();
    int minusOne = -1;
    CHECK(cudaMemcpy(dLeft, &n, sizeof n, cudaMemcpyHostToDevice));
    CHECK(cudaMemcpy(dOut, &minusOne, sizeof minusOne, cudaMemcpyHostToDevice));
    CHECK(cudaGraphLaunch(e, stream));
    CHECK(cudaStreamSynchronize(stream));
    int r[8], out = 0;
    readRuns(r);
    CHECK(cudaMemcpy(&out, dOut, sizeof out, cudaMemcpyDeviceToHost));
    EXPECT(r[1] == n, "WHILE from %d: %d iterations", n, r[1]);
    EXPECT(r[2] == n / 2, "WHILE from %d: inner IF ran %d times, expected %d", n, r[2], n / 2);
    EXPECT(out == 0, "WHILE from %d: the node after the loop saw %d", n, out);
  }
  CHECK(cudaGraphExecDestroy(e));
  CHECK(cudaGraphDestroy(g));
}

// Under stream capture: a handle for the capture graph, a WHILE node added by
// hand after the captured kernel, its body captured with BeginCaptureToGraph
// and ended without asking for the graph.
static void captured(int *dValue) {
  static int slot3 = 3;
  cudaStream_t s;
  CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  CHECK(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal));
  cudaStreamCaptureStatus status;
  cudaGraph_t g;
  const cudaGraphNode_t *deps = nullptr;
  size_t ndeps = 0;
  CHECK(cudaStreamGetCaptureInfo(s, &status, nullptr, &g, &deps, nullptr, &ndeps));
  cudaGraphConditionalHandle h;
  CHECK(cudaGraphConditionalHandleCreate(&h, g));
  setCondition<<<1, 1, 0, s>>>(dValue, h);
  CHECK(cudaStreamGetCaptureInfo(s, &status, nullptr, &g, &deps, nullptr, &ndeps));
  cudaGraphNodeParams cp = conditionalParams(h, cudaGraphCondTypeIf, 1);
  cudaGraphNode_t cond;
  CHECK(cudaGraphAddNode(&cond, g, deps, nullptr, ndeps, &cp));
  CHECK(cudaStreamUpdateCaptureDependencies(s, &cond, nullptr, 1, cudaStreamSetCaptureDependencies));
  cudaGraph_t captured;
  CHECK(cudaStreamEndCapture(s, &captured));
  EXPECT(captured == g, "the capture graph changed");

  cudaStream_t bs;
  CHECK(cudaStreamCreateWithFlags(&bs, cudaStreamNonBlocking));
  CHECK(cudaStreamBeginCaptureToGraph(bs, cp.conditional.phGraph_out[0], nullptr, nullptr, 0,
                                      cudaStreamCaptureModeGlobal));
  count<<<1, 1, 0, bs>>>(slot3);
  count<<<1, 1, 0, bs>>>(slot3);
  CHECK(cudaStreamEndCapture(bs, nullptr));

  cudaGraphExec_t e;
  CHECK(cudaGraphInstantiate(&e, captured, nullptr, nullptr, 0));
  for (int v : {1, 0}) {
    resetRuns();
    CHECK(cudaMemcpy(dValue, &v, sizeof v, cudaMemcpyHostToDevice));
    CHECK(cudaGraphLaunch(e, s));
    CHECK(cudaStreamSynchronize(s));
    int r[8];
    readRuns(r);
    EXPECT(r[3] == 2 * v, "captured IF value %d: body kernels ran %d times", v, r[3]);
  }
  CHECK(cudaGraphExecDestroy(e));
  CHECK(cudaGraphDestroy(captured));
  CHECK(cudaStreamDestroy(bs));
  CHECK(cudaStreamDestroy(s));
}

static void errors() {
  cudaGraph_t g;
  CHECK(cudaGraphCreate(&g, 0));
  cudaGraphConditionalHandle h;
  EXPECT_ERR(cudaGraphConditionalHandleCreate(&h, g, 0, 2), cudaErrorInvalidValue);
  CHECK(cudaGraphConditionalHandleCreate(&h, g));
  cudaGraphNode_t n;
  cudaGraphNodeParams p = conditionalParams(h + 4, cudaGraphCondTypeIf, 1);
  EXPECT_ERR(cudaGraphAddNode(&n, g, nullptr, nullptr, 0, &p), cudaErrorInvalidValue);
  p = conditionalParams(h, cudaGraphCondTypeWhile, 2);
  EXPECT_ERR(cudaGraphAddNode(&n, g, nullptr, nullptr, 0, &p), cudaErrorInvalidValue);
  p = conditionalParams(h, cudaGraphCondTypeIf, 3);
  EXPECT_ERR(cudaGraphAddNode(&n, g, nullptr, nullptr, 0, &p), cudaErrorInvalidValue);
  p = conditionalParams(h, cudaGraphCondTypeSwitch, 0);
  EXPECT_ERR(cudaGraphAddNode(&n, g, nullptr, nullptr, 0, &p), cudaErrorInvalidValue);
  p = conditionalParams(h, cudaGraphCondTypeSwitch, 4);
  CHECK(cudaGraphAddNode(&n, g, nullptr, nullptr, 0, &p));
  cudaGraphNodeType type;
  CHECK(cudaGraphNodeGetType(n, &type));
  EXPECT(type == cudaGraphNodeTypeConditional, "node type %d", (int)type);
  size_t count = 0;
  CHECK(cudaGraphGetNodes(p.conditional.phGraph_out[3], nullptr, &count));
  EXPECT(count == 0, "a new body graph has %zu nodes", count);
  CHECK(cudaGraphDestroy(g));
}

int main() {
  int *dValue, *dLeft, *dOut;
  CHECK(cudaMalloc(&dValue, sizeof(int)));
  CHECK(cudaMalloc(&dLeft, sizeof(int)));
  CHECK(cudaMalloc(&dOut, sizeof(int)));
  cudaStream_t stream;
  CHECK(cudaStreamCreate(&stream));
  ifAndSwitch(dValue, stream);
  ifAndSwitch(dValue, 0); // the legacy default stream
  whileLoop(dLeft, dOut, stream);
  captured(dValue);
  errors();
  CHECK(cudaStreamDestroy(stream));
  PASSED("graph_conditional");
  return 0;
}
