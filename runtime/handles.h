// Registries of live handles, so a stale or forged CUstream/CUevent/... gets
// CUDA_ERROR_INVALID_HANDLE instead of a dereference.
#pragma once
#include <mutex>
#include <shared_mutex>
#include <unordered_set>
#include <vector>

namespace cuvirt {

template <class T> class HandleSet {
public:
  void add(T *object) {
    std::unique_lock lock(mutex_);
    live_.insert(object);
  }
  void remove(T *object) {
    std::unique_lock lock(mutex_);
    live_.erase(object);
  }
  [[nodiscard]] bool contains(const void *handle) const {
    std::shared_lock lock(mutex_);
    return live_.count(static_cast<T *>(const_cast<void *>(handle))) != 0;
  }
  /// The object behind `handle`, or nullptr if it is not a live one.
  [[nodiscard]] T *find(const void *handle) const {
    return contains(handle) ? static_cast<T *>(const_cast<void *>(handle)) : nullptr;
  }
  /// The live objects now (a copy: callers may block without the lock).
  [[nodiscard]] std::vector<T *> snapshot() const {
    std::shared_lock lock(mutex_);
    return {live_.begin(), live_.end()};
  }

private:
  mutable std::shared_mutex mutex_;
  std::unordered_set<T *> live_;
};

} // namespace cuvirt
