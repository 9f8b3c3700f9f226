// Reference for launch+sync latency on this machine: the round trip of an
// empty task through a worker thread (mutex + condition variables, the same
// hand-off a stream's queue does), without any CUDA. Prints µs per round trip.
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <thread>

int main(int argc, char **argv) {
  const int n = argc > 1 ? std::atoi(argv[1]) : 20000;
  std::mutex m;
  std::condition_variable work, done;
  int posted = 0, finished = 0;
  std::thread worker([&] {
    std::unique_lock l(m);
    for (int i = 0; i < n; ++i) {
      work.wait(l, [&] { return posted > i; });
      ++finished; // the "kernel"
      done.notify_one();
    }
  });
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < n; ++i) {
    std::unique_lock l(m);
    ++posted;
    work.notify_one();
    done.wait(l, [&] { return finished > i; });
  }
  auto t1 = std::chrono::steady_clock::now();
  worker.join();
  std::printf("handoff round trip: %.2f us\n",
              std::chrono::duration<double, std::micro>(t1 - t0).count() / n);
}
