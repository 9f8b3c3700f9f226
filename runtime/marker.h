// A point in a queue that others wait for: events, stream joins, syncs.
#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>

namespace cuvirt {

class Marker {
public:
  using Clock = std::chrono::steady_clock;

  void complete() { complete(Clock::now()); }
  /// Completes with the time the work was observed done elsewhere (a remote
  /// server's queue), so event timings exclude the notice's journey.
  void complete(Clock::time_point at) {
    {
      std::lock_guard lock(mutex_);
      time_ = at;
      done_.store(true, std::memory_order_release);
    }
    cv_.notify_all();
  }
  [[nodiscard]] bool done() const { return done_.load(std::memory_order_acquire); }
  void wait() {
    // A short spin first: most waits are for work that is about to finish.
    for (int i = 0; i < 2000 && !done(); ++i)
      __builtin_ia32_pause();
    if (done())
      return;
    std::unique_lock lock(mutex_);
    cv_.wait(lock, [&] { return done(); });
  }
  /// When the marker completed; only meaningful once done().
  [[nodiscard]] Clock::time_point time() const {
    std::lock_guard lock(mutex_);
    return time_;
  }

private:
  std::atomic<bool> done_{false};
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  Clock::time_point time_{};
};

using MarkerPtr = std::shared_ptr<Marker>;

} // namespace cuvirt
