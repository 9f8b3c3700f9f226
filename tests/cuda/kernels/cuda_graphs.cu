// The explicit graph API from the runtime: memset -> kernel -> kernel ->
// memcpy -> host node, launched many times; kernel parameters changed on
// the executable graph and by cudaGraphExecUpdate; results checked on the host.
#include "check.h"
#include <vector>

__global__ void scaleAdd(float *x, int n, float scale, float add) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n)
    x[i] = x[i] * scale + add;
}

struct Tally {
  const float *h;
  int calls;
  float last;
};
static void CUDART_CB record(void *p) {
  Tally *t = static_cast<Tally *>(p);
  t->last = t->h[7];
  ++t->calls;
}

int main() {
  const int n = 1 << 14;
  float *d, *h;
  CHECK(cudaMalloc(&d, n * sizeof(float)));
  CHECK(cudaMallocHost(&h, n * sizeof(float)));
  cudaStream_t s;
  CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));

  cudaGraph_t g;
  CHECK(cudaGraphCreate(&g, 0));
  cudaGraphNode_t set, k1, k2, copy, host;
  cudaMemsetParams mp = {};
  mp.dst = d;
  mp.value = 0; // 0.0f
  mp.elementSize = 4;
  mp.width = n;
  mp.height = 1;
  CHECK(cudaGraphAddMemsetNode(&set, g, nullptr, 0, &mp));

  int nn = n;
  float scale = 1.0f, add = 3.0f;
  void *args1[] = {&d, &nn, &scale, &add};
  cudaKernelNodeParams kp = {};
  kp.func = (void *)scaleAdd;
  kp.gridDim = dim3((n + 255) / 256);
  kp.blockDim = dim3(256);
  kp.kernelParams = args1;
  CHECK(cudaGraphAddKernelNode(&k1, g, &set, 1, &kp)); // x = 3
  float scale2 = 2.0f, add2 = 1.0f;
  void *args2[] = {&d, &nn, &scale2, &add2};
  kp.kernelParams = args2;
  CHECK(cudaGraphAddKernelNode(&k2, g, &k1, 1, &kp)); // x = 7
  CHECK(cudaGraphAddMemcpyNode1D(&copy, g, &k2, 1, h, d, n * sizeof(float), cudaMemcpyDeviceToHost));
  Tally tally = {h, 0, 0};
  cudaHostNodeParams hp = {record, &tally};
  CHECK(cudaGraphAddHostNode(&host, g, &copy, 1, &hp));

  size_t count = 0;
  CHECK(cudaGraphGetNodes(g, nullptr, &count));
  EXPECT(count == 5, "graph has %zu nodes, want 5", count);

  cudaGraphExec_t e;
  CHECK(cudaGraphInstantiate(&e, g, 0));
  const int launches = 50;
  for (int i = 0; i < launches; ++i)
    CHECK(cudaGraphLaunch(e, s));
  CHECK(cudaStreamSynchronize(s));
  EXPECT(tally.calls == launches, "host node ran %d times, want %d", tally.calls, launches);
  EXPECT(tally.last == 7.0f, "host node saw %f, want 7 (it must run after the copy)", tally.last);
  for (int i = 0; i < n; ++i) {
    EXPECT(h[i] == 7.0f, "h[%d] = %f, want 7", i, h[i]);
    if (h[i] != 7.0f)
      break;
  }

  // Change the second kernel's parameters in the executable graph only.
  scale2 = 10.0f;
  add2 = 0.5f;
  CHECK(cudaGraphExecKernelNodeSetParams(e, k2, &kp));
  CHECK(cudaGraphLaunch(e, s));
  CHECK(cudaStreamSynchronize(s));
  for (int i = 0; i < n; ++i) {
    EXPECT(h[i] == 30.5f, "after exec set params h[%d] = %f, want 30.5", i, h[i]);
    if (h[i] != 30.5f)
      break;
  }

  // Update the whole executable graph from an edited graph (same topology).
  add = -1.0f; // x = -1, then -1 * 10 + 0.5
  kp.kernelParams = args1;
  CHECK(cudaGraphKernelNodeSetParams(k1, &kp));
  kp.kernelParams = args2;
  CHECK(cudaGraphKernelNodeSetParams(k2, &kp));
  cudaGraphExecUpdateResultInfo info;
  CHECK(cudaGraphExecUpdate(e, g, &info));
  EXPECT(info.result == cudaGraphExecUpdateSuccess, "update result %d", (int)info.result);
  for (int i = 0; i < 5; ++i)
    CHECK(cudaGraphLaunch(e, s));
  CHECK(cudaStreamSynchronize(s));
  for (int i = 0; i < n; ++i) {
    EXPECT(h[i] == -9.5f, "after exec update h[%d] = %f, want -9.5", i, h[i]);
    if (h[i] != -9.5f)
      break;
  }
  EXPECT(tally.calls == launches + 6, "host node ran %d times, want %d", tally.calls, launches + 6);

  // A different topology is refused.
  cudaGraph_t other;
  CHECK(cudaGraphCreate(&other, 0));
  cudaGraphNode_t empty;
  CHECK(cudaGraphAddEmptyNode(&empty, other, nullptr, 0));
  EXPECT_ERR(cudaGraphExecUpdate(e, other, &info), cudaErrorGraphExecUpdateFailure);
  EXPECT(info.result == cudaGraphExecUpdateErrorTopologyChanged, "update result %d", (int)info.result);

  CHECK(cudaGraphExecDestroy(e));
  CHECK(cudaGraphDestroy(other));
  CHECK(cudaGraphDestroy(g));
  CHECK(cudaStreamDestroy(s));
  CHECK(cudaFreeHost(h));
  CHECK(cudaFree(d));
  PASSED("cuda_graphs");
  return 0;
}
