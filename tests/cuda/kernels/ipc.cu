// Legacy CUDA IPC between two processes, the way PyTorch multiprocessing and
// MPI codes use it. The parent fills device memory with a kernel, exports it
// (cudaIpcGetMemHandle) with an interprocess event, and starts itself again
// (posix_spawn: no CUDA in a forked child) with the handles in hex. The
// child opens them, checks the data with a kernel and cudaMemcpy, rewrites
// it and records the event; the parent waits on that event and checks. Then
// the parent frees a second exported buffer while the child still maps it:
// the child keeps reading and writing it safely, and the parent's next
// allocation in that range is not touched. Error cases: forged handles,
// closing twice, a non-interprocess event. `--time` measures instead.
#include "check.h"
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <spawn.h>
#include <string>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

extern char **environ;

constexpr int kN = (1 << 16) + 77; // not a whole number of pages
constexpr int kM = 1000;

__global__ void fill(int *a, int n, int mul) {
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x)
    a[i] = i * mul;
}

// Counts elements that are not i * mul, then rewrites them as 2 * a + 1.
__global__ void checkAndRewrite(int *a, int n, int mul, unsigned *bad) {
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) {
    if (a[i] != i * mul)
      atomicAdd(bad, 1u);
    a[i] = 2 * a[i] + 1;
  }
}

template <class T> std::string toHex(const T &v) {
  std::string s;
  const auto *p = reinterpret_cast<const unsigned char *>(&v);
  char b[3];
  for (size_t i = 0; i < sizeof v; ++i) {
    snprintf(b, sizeof b, "%02x", p[i]);
    s += b;
  }
  return s;
}

template <class T> T fromHex(const char *s) {
  T v{};
  if (strlen(s) != 2 * sizeof v)
    FAIL("bad handle text %s", s);
  auto *p = reinterpret_cast<unsigned char *>(&v);
  for (size_t i = 0; i < sizeof v; ++i)
    p[i] = static_cast<unsigned char>(std::stoi(std::string(s + 2 * i, 2), nullptr, 16));
  return v;
}

static void signal(int fd, char c) {
  if (write(fd, &c, 1) != 1)
    FAIL("pipe write");
}

static char awaitSignal(int fd) {
  char c = 0;
  if (read(fd, &c, 1) != 1)
    FAIL("pipe read: the other process ended early");
  return c;
}

static int child(char **argv) {
  const auto ha = fromHex<cudaIpcMemHandle_t>(argv[2]);
  const auto hb = fromHex<cudaIpcMemHandle_t>(argv[3]);
  const auto he = fromHex<cudaIpcEventHandle_t>(argv[4]);
  const int toParent = atoi(argv[5]), fromParent = atoi(argv[6]);

  int *a = nullptr, *again = nullptr, *b = nullptr;
  CHECK(cudaIpcOpenMemHandle(reinterpret_cast<void **>(&a), ha, cudaIpcMemLazyEnablePeerAccess));
  // Opened twice in one context: the same pointer, counted.
  CHECK(cudaIpcOpenMemHandle(reinterpret_cast<void **>(&again), ha, cudaIpcMemLazyEnablePeerAccess));
  EXPECT(again == a, "second open gave %p, first %p", again, a);
  CHECK(cudaIpcOpenMemHandle(reinterpret_cast<void **>(&b), hb, cudaIpcMemLazyEnablePeerAccess));
  cudaEvent_t ev;
  CHECK(cudaIpcOpenEventHandle(&ev, he));

  cudaPointerAttributes attr{};
  CHECK(cudaPointerGetAttributes(&attr, a + 5));
  EXPECT(attr.type == cudaMemoryTypeDevice, "opened memory is of type %d", attr.type);

  // A forged handle: one byte of the token changed.
  cudaIpcMemHandle_t forged = ha;
  forged.reserved[20] ^= 0x40;
  void *bogus = nullptr;
  (void)EXPECT_ANY_ERR(cudaIpcOpenMemHandle(&bogus, forged, cudaIpcMemLazyEnablePeerAccess));
  cudaIpcEventHandle_t forgedEvent = he;
  forgedEvent.reserved[12] ^= 0x10;
  cudaEvent_t bogusEvent;
  (void)EXPECT_ANY_ERR(cudaIpcOpenEventHandle(&bogusEvent, forgedEvent));
  (void)cudaGetLastError(); // the expected errors are not a launch's

  // Read with cudaMemcpy and a kernel, then rewrite on a stream and record.
  std::vector<int> host(kN);
  CHECK(cudaMemcpy(host.data(), a, kN * sizeof(int), cudaMemcpyDeviceToHost));
  int wrong = 0;
  for (int i = 0; i < kN; ++i)
    wrong += host[i] != i * 3;
  EXPECT(wrong == 0, "%d elements differ from the parent's", wrong);
  unsigned *bad = nullptr;
  CHECK(cudaMalloc(&bad, sizeof(unsigned)));
  CHECK(cudaMemset(bad, 0, sizeof(unsigned)));
  cudaStream_t s;
  CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  checkAndRewrite<<<64, 256, 0, s>>>(a, kN, 3, bad);
  CHECK(cudaGetLastError());
  CHECK(cudaEventRecord(ev, s));
  signal(toParent, 'R'); // the parent waits on the event, not on this
  unsigned badHost = 1;
  CHECK(cudaMemcpy(&badHost, bad, sizeof badHost, cudaMemcpyDeviceToHost));
  EXPECT(badHost == 0, "the child's kernel saw %u wrong elements", badHost);

  // The parent frees b while this process still maps it.
  if (awaitSignal(fromParent) != 'F')
    FAIL("unexpected signal");
  std::vector<int> hb2(kM);
  CHECK(cudaMemcpy(hb2.data(), b, kM * sizeof(int), cudaMemcpyDeviceToHost));
  EXPECT(hb2[0] == 0 && hb2[kM - 1] == 7 * (kM - 1), "freed memory read %d %d", hb2[0], hb2[kM - 1]);
  fill<<<4, 256>>>(b, kM, 11);
  CHECK_LAUNCH();

  CHECK(cudaStreamSynchronize(s));
  CHECK(cudaIpcCloseMemHandle(a));
  CHECK(cudaIpcCloseMemHandle(a)); // the second open's reference
  EXPECT_ERR(cudaIpcCloseMemHandle(a), cudaErrorInvalidValue);
  CHECK(cudaIpcCloseMemHandle(b));
  EXPECT_ERR(cudaIpcCloseMemHandle(b), cudaErrorInvalidValue);
  CHECK(cudaEventDestroy(ev));
  CHECK(cudaFree(bad));
  CHECK(cudaStreamDestroy(s));
  PASSED("ipc (child)");
  return 0;
}

static double msSince(const timespec &t0) {
  timespec t1;
  clock_gettime(CLOCK_MONOTONIC, &t1);
  return (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
}

static timespec now() {
  timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t;
}

// --time: what exporting, opening, reading and closing 256 MiB cost.
static int timeChild(char **argv) {
  const auto h = fromHex<cudaIpcMemHandle_t>(argv[2]);
  const size_t bytes = strtoull(argv[3], nullptr, 10);
  CHECK(cudaFree(nullptr));
  void *p = nullptr;
  timespec t = now();
  CHECK(cudaIpcOpenMemHandle(&p, h, cudaIpcMemLazyEnablePeerAccess));
  printf("child: cudaIpcOpenMemHandle %.3f ms\n", msSince(t));
  std::vector<char> host(bytes);
  for (int pass = 0; pass < 2; ++pass) {
    t = now();
    CHECK(cudaMemcpy(host.data(), p, bytes, cudaMemcpyDeviceToHost));
    printf("child: cudaMemcpy DtoH of the opened memory (%s) %.1f ms\n", pass ? "again" : "first touch",
           msSince(t));
  }
  t = now();
  CHECK(cudaIpcCloseMemHandle(p));
  printf("child: cudaIpcCloseMemHandle %.3f ms\n", msSince(t));
  return 0;
}

static int timeParent(char **argv) {
  const size_t bytes = size_t(256) << 20;
  char *d = nullptr;
  CHECK(cudaMalloc(&d, bytes));
  CHECK(cudaMemset(d, 1, bytes));
  CHECK(cudaDeviceSynchronize());
  std::vector<char> host(bytes);
  timespec t = now();
  CHECK(cudaMemcpy(host.data(), d, bytes, cudaMemcpyDeviceToHost));
  printf("parent: cudaMemcpy DtoH of private memory %.1f ms\n", msSince(t));
  cudaIpcMemHandle_t h;
  t = now();
  CHECK(cudaIpcGetMemHandle(&h, d));
  printf("parent: cudaIpcGetMemHandle of 256 MiB (written) %.1f ms\n", msSince(t));
  t = now();
  CHECK(cudaIpcGetMemHandle(&h, d));
  printf("parent: cudaIpcGetMemHandle again %.3f ms\n", msSince(t));
  fflush(stdout);
  const std::string sh = toHex(h), sb = std::to_string(bytes);
  char *args[] = {argv[0], const_cast<char *>("--time-child"), const_cast<char *>(sh.c_str()),
                  const_cast<char *>(sb.c_str()), nullptr};
  pid_t pid = 0;
  if (posix_spawn(&pid, "/proc/self/exe", nullptr, nullptr, args, environ) != 0)
    FAIL("posix_spawn");
  int status = 0;
  if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
    FAIL("the timing child failed");
  t = now();
  CHECK(cudaFree(d));
  printf("parent: cudaFree of the exported 256 MiB %.1f ms\n", msSince(t));
  char *fresh = nullptr;
  CHECK(cudaMalloc(&fresh, bytes));
  t = now();
  CHECK(cudaIpcGetMemHandle(&h, fresh));
  printf("parent: cudaIpcGetMemHandle of 256 MiB never written %.1f ms\n", msSince(t));
  CHECK(cudaFree(fresh));
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 7 && strcmp(argv[1], "--child") == 0)
    return child(argv);
  if (argc == 4 && strcmp(argv[1], "--time-child") == 0)
    return timeChild(argv);
  if (argc == 2 && strcmp(argv[1], "--time") == 0)
    return timeParent(argv);

  int supported = 0;
  CHECK(cudaDeviceGetAttribute(&supported, cudaDevAttrIpcEventSupport, 0));
  EXPECT(supported == 1, "cudaDevAttrIpcEventSupport is %d", supported);

  // A small allocation first, so the exported one shares its first page.
  int *small = nullptr, *a = nullptr, *b = nullptr;
  CHECK(cudaMalloc(&small, 100));
  CHECK(cudaMalloc(&a, kN * sizeof(int)));
  CHECK(cudaMalloc(&b, kM * sizeof(int)));
  fill<<<64, 256>>>(a, kN, 3);
  fill<<<4, 256>>>(b, kM, 7);
  fill<<<1, 25>>>(small, 25, 5);
  CHECK_LAUNCH();

  cudaIpcMemHandle_t ha, hb;
  CHECK(cudaIpcGetMemHandle(&ha, a));
  CHECK(cudaIpcGetMemHandle(&hb, b));
  cudaEvent_t plain, ev;
  CHECK(cudaEventCreateWithFlags(&plain, cudaEventDisableTiming));
  cudaIpcEventHandle_t he;
  EXPECT_ERR(cudaIpcGetEventHandle(&he, plain), cudaErrorInvalidValue);
  (void)cudaGetLastError();
  CHECK(cudaEventCreateWithFlags(&ev, cudaEventInterprocess | cudaEventDisableTiming));
  CHECK(cudaIpcGetEventHandle(&he, ev));

  int toParent[2], fromParent[2];
  if (pipe(toParent) != 0 || pipe(fromParent) != 0)
    FAIL("pipe");
  const std::string sa = toHex(ha), sb = toHex(hb), se = toHex(he);
  const std::string w = std::to_string(toParent[1]), r = std::to_string(fromParent[0]);
  char *args[] = {argv[0],
                  const_cast<char *>("--child"),
                  const_cast<char *>(sa.c_str()),
                  const_cast<char *>(sb.c_str()),
                  const_cast<char *>(se.c_str()),
                  const_cast<char *>(w.c_str()),
                  const_cast<char *>(r.c_str()),
                  nullptr};
  pid_t pid = 0;
  if (posix_spawn(&pid, "/proc/self/exe", nullptr, nullptr, args, environ) != 0)
    FAIL("posix_spawn");
  close(toParent[1]);
  close(fromParent[0]);

  // Wait for the child's record, then for its work through the event.
  if (awaitSignal(toParent[0]) != 'R')
    FAIL("unexpected signal");
  cudaStream_t s;
  CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  CHECK(cudaStreamWaitEvent(s, ev, 0));
  std::vector<int> host(kN);
  CHECK(cudaMemcpyAsync(host.data(), a, kN * sizeof(int), cudaMemcpyDeviceToHost, s));
  CHECK(cudaStreamSynchronize(s));
  CHECK(cudaEventSynchronize(ev));
  EXPECT(cudaEventQuery(ev) == cudaSuccess, "the event is not complete after synchronising");
  int wrong = 0;
  for (int i = 0; i < kN; ++i)
    wrong += host[i] != 2 * (i * 3) + 1;
  EXPECT(wrong == 0, "%d elements do not show the child's writes", wrong);
  std::vector<int> hs(25);
  CHECK(cudaMemcpy(hs.data(), small, 25 * sizeof(int), cudaMemcpyDeviceToHost));
  EXPECT(hs[24] == 120, "the neighbour allocation changed: %d", hs[24]);

  // Free b while the child maps it; the range's next owner stays private.
  CHECK(cudaFree(b));
  int *c = nullptr;
  CHECK(cudaMalloc(&c, kM * sizeof(int)));
  fill<<<4, 256>>>(c, kM, 13);
  CHECK_LAUNCH();
  signal(fromParent[1], 'F');
  int status = 0;
  if (waitpid(pid, &status, 0) != pid)
    FAIL("waitpid");
  EXPECT(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the child failed (status 0x%x)", status);
  std::vector<int> hc(kM);
  CHECK(cudaMemcpy(hc.data(), c, kM * sizeof(int), cudaMemcpyDeviceToHost));
  EXPECT(hc[kM - 1] == 13 * (kM - 1), "the child's writes reached a new allocation: %d", hc[kM - 1]);

  CHECK(cudaFree(a));
  CHECK(cudaFree(c));
  CHECK(cudaFree(small));
  CHECK(cudaEventDestroy(ev));
  CHECK(cudaEventDestroy(plain));
  CHECK(cudaStreamDestroy(s));
  PASSED("ipc");
  return 0;
}
