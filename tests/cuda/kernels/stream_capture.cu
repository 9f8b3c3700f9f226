// Stream capture across two streams (fork and join through events), replayed
// many times; a graph that allocates its own scratch memory; and the capture
// rules: an unsafe call invalidates a global capture, the legacy stream
// cannot be used while a blocking stream captures, forks must be joined.
#include "check.h"
#include <vector>

__global__ void axpb(int *x, int n, int a, int b) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n)
    x[i] = a * x[i] + b;
}

__global__ void sum2(const int *x, const int *y, int *out, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n)
    out[i] = x[i] + y[i];
}

int main() {
  const int n = 4096, blocks = (n + 127) / 128;
  int *x, *y, *out, *h;
  CHECK(cudaMalloc(&x, n * sizeof(int)));
  CHECK(cudaMalloc(&y, n * sizeof(int)));
  CHECK(cudaMalloc(&out, n * sizeof(int)));
  CHECK(cudaMallocHost(&h, n * sizeof(int)));
  cudaStream_t s1, s2;
  CHECK(cudaStreamCreate(&s1));
  CHECK(cudaStreamCreate(&s2));
  cudaEvent_t fork, join;
  CHECK(cudaEventCreateWithFlags(&fork, cudaEventDisableTiming));
  CHECK(cudaEventCreateWithFlags(&join, cudaEventDisableTiming));

  // Capture: s1 fills x, forks s2 which fills y; both transform; s1 joins and sums.
  CHECK(cudaStreamBeginCapture(s1, cudaStreamCaptureModeGlobal));
  CHECK(cudaMemsetAsync(x, 0, n * sizeof(int), s1));
  CHECK(cudaEventRecord(fork, s1));
  CHECK(cudaStreamWaitEvent(s2, fork, 0));
  CHECK(cudaMemsetAsync(y, 0, n * sizeof(int), s2));
  axpb<<<blocks, 128, 0, s2>>>(y, n, 1, 5); // y = 5
  CHECK(cudaGetLastError());
  axpb<<<blocks, 128, 0, s1>>>(x, n, 1, 2); // x = 2
  CHECK(cudaGetLastError());
  CHECK(cudaEventRecord(join, s2));
  CHECK(cudaStreamWaitEvent(s1, join, 0));
  // Scratch memory allocated and freed inside the graph.
  int *scratch;
  CHECK(cudaMallocAsync(&scratch, n * sizeof(int), s1));
  sum2<<<blocks, 128, 0, s1>>>(x, y, scratch, n); // 7
  CHECK(cudaGetLastError());
  axpb<<<blocks, 128, 0, s1>>>(scratch, n, 3, 0); // 21
  CHECK(cudaMemcpyAsync(out, scratch, n * sizeof(int), cudaMemcpyDeviceToDevice, s1));
  CHECK(cudaFreeAsync(scratch, s1));
  CHECK(cudaMemcpyAsync(h, out, n * sizeof(int), cudaMemcpyDeviceToHost, s1));
  cudaStreamCaptureStatus status;
  CHECK(cudaStreamIsCapturing(s2, &status));
  EXPECT(status == cudaStreamCaptureStatusActive, "forked stream status %d", (int)status);
  cudaGraph_t g;
  CHECK(cudaStreamEndCapture(s1, &g));
  CHECK(cudaStreamIsCapturing(s2, &status));
  EXPECT(status == cudaStreamCaptureStatusNone, "forked stream status after end %d", (int)status);
  size_t count = 0;
  CHECK(cudaGraphGetNodes(g, nullptr, &count));
  EXPECT(count == 10, "captured %zu nodes, want 10", count);

  cudaGraphExec_t e;
  CHECK(cudaGraphInstantiate(&e, g, 0));
  for (int r = 0; r < 20; ++r) {
    for (int i = 0; i < n; ++i)
      h[i] = -1;
    CHECK(cudaGraphLaunch(e, s1));
    CHECK(cudaStreamSynchronize(s1));
    for (int i = 0; i < n; ++i) {
      EXPECT(h[i] == 21, "replay %d: h[%d] = %d, want 21", r, i, h[i]);
      if (h[i] != 21)
        break;
    }
  }

  // An unsafe call (cudaMalloc) during a global capture invalidates it.
  CHECK(cudaStreamBeginCapture(s2, cudaStreamCaptureModeGlobal));
  axpb<<<blocks, 128, 0, s2>>>(x, n, 1, 1);
  int *p = nullptr;
  EXPECT_ERR(cudaMalloc(&p, 16), cudaErrorStreamCaptureUnsupported);
  CHECK(cudaStreamIsCapturing(s2, &status));
  EXPECT(status == cudaStreamCaptureStatusInvalidated, "status after cudaMalloc %d", (int)status);
  cudaGraph_t bad = nullptr;
  EXPECT_ERR(cudaStreamEndCapture(s2, &bad), cudaErrorStreamCaptureInvalidated);
  EXPECT(bad == nullptr, "an invalidated capture returned a graph");
  cudaGetLastError();

  // The legacy stream while a blocking stream captures.
  CHECK(cudaStreamBeginCapture(s2, cudaStreamCaptureModeRelaxed));
  EXPECT_ERR(cudaMemsetAsync(x, 0, 16, 0), cudaErrorStreamCaptureImplicit);
  EXPECT_ERR(cudaStreamEndCapture(s2, &bad), cudaErrorStreamCaptureInvalidated);
  cudaGetLastError();

  // A fork that is not joined back.
  CHECK(cudaStreamBeginCapture(s1, cudaStreamCaptureModeGlobal));
  CHECK(cudaEventRecord(fork, s1));
  CHECK(cudaStreamWaitEvent(s2, fork, 0));
  axpb<<<blocks, 128, 0, s2>>>(x, n, 1, 1);
  EXPECT_ERR(cudaStreamEndCapture(s1, &bad), cudaErrorStreamCaptureUnjoined);
  cudaGetLastError();

  // Everything still works afterwards, on every stream.
  CHECK(cudaMemset(x, 0, n * sizeof(int)));
  axpb<<<blocks, 128>>>(x, n, 1, 4);
  CHECK(cudaMemcpy(h, x, n * sizeof(int), cudaMemcpyDeviceToHost));
  EXPECT(h[0] == 4 && h[n - 1] == 4, "after the errors: %d %d, want 4", h[0], h[n - 1]);

  CHECK(cudaGraphExecDestroy(e));
  CHECK(cudaGraphDestroy(g));
  CHECK(cudaEventDestroy(fork));
  CHECK(cudaEventDestroy(join));
  CHECK(cudaStreamDestroy(s1));
  CHECK(cudaStreamDestroy(s2));
  CHECK(cudaFreeHost(h));
  CHECK(cudaFree(out));
  CHECK(cudaFree(y));
  CHECK(cudaFree(x));
  PASSED("stream_capture");
  return 0;
}
