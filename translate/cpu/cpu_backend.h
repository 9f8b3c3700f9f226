// The CPU device: device memory is host memory inside the runtime's address
// window, queues are worker threads, kernels run block by block on all cores.
#pragma once
#include "runtime/backend.h"
#include "translate/cpu/jit.h"
#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <pthread.h>

namespace cuvirt::cpu {

class CpuDevice : public BackendDevice {
public:
  CpuDevice();
  [[nodiscard]] const DeviceProps &props() const override { return props_; }
  Status commit(std::uint64_t address, std::size_t bytes) override;
  void release(std::uint64_t address, std::size_t bytes) override;
  [[nodiscard]] bool hostVisible() const override { return true; }
  std::unique_ptr<Queue> createQueue(int priority, ErrorSink *errors) override;
  Status copyNow(const CopyOp &op) override;
  Status fillNow(const FillOp &op) override;
  // Virtual memory management: physical memory is a memfd, mapped shared.
  [[nodiscard]] bool supportsVmm() const override { return true; }
  Expected<std::shared_ptr<PhysicalMemory>> createPhysical(std::size_t bytes) override;
  Expected<std::shared_ptr<PhysicalMemory>> importPhysical(int fd) override;
  Status mapPhysical(std::uint64_t address, std::size_t bytes, PhysicalMemory &memory,
                     std::size_t offset) override;
  Status unmapPhysical(std::uint64_t address, std::size_t bytes) override;
  Status setAccess(std::uint64_t address, std::size_t bytes, unsigned access) override;
  // Legacy IPC: memory moved into a memfd, mapped shared (runtime/ipc.cpp).
  Expected<int> shareMemory(std::uint64_t address, std::size_t bytes, const char *name) override;
  Status unshareMemory(std::uint64_t address, std::size_t bytes) override;
  Status mapShared(std::uint64_t address, std::size_t bytes, int fd, std::size_t offset) override;
  void unmapShared(std::uint64_t address, std::size_t bytes, bool committed) override;
  Expected<std::unique_ptr<BackendModule>> loadModule(const ModuleSource &source, std::string &log) override;

private:
  DeviceProps props_;
};

class CpuKernel : public BackendKernel {
public:
  CpuKernel(BlockFn fn, std::uint32_t staticShared) : fn(fn), staticSharedBytes(staticShared) {}
  BlockFn fn;
  std::uint32_t staticSharedBytes;
  /// Its module, for the kernels it launches from device code.
  BackendModule *module = nullptr;
  const ModuleInfo *moduleInfo = nullptr;
  const KernelInfo *info = nullptr; ///< its entry in moduleInfo
};

/// Runs a grid on the calling thread and the shared worker pool, then the
/// grids it launched from device code (`depth`: how deep such launches are
/// nested). Returns the launch's error (an illegal address, a trap, a
/// failed assert, a child grid's error).
Status runGrid(const LaunchOp &op, int depth = 0);

/// A stream's queue: one worker thread running its work in order.
class CpuQueue : public Queue {
public:
  CpuQueue(CpuDevice &device, int priority, ErrorSink *errors);
  ~CpuQueue() override;
  void copy(const CopyOp &op) override;
  void fill(const FillOp &op) override;
  void launch(LaunchOp op) override;
  void hostFunc(std::function<void()> fn) override;
  void record(MarkerPtr marker) override;
  void wait(MarkerPtr marker) override;
  [[nodiscard]] bool idle() override;
  void synchronize() override;

private:
  struct Task {
    std::function<void()> fn;
    bool hostCode = false; ///< a host function: runs on the stream's thread only
    /// Reached once everything before it (and fn) is done: completed only
    /// after the task stops counting as pending, so that whoever wakes on it
    /// finds the stream idle if nothing came after.
    MarkerPtr marker;
  };
  void push(std::function<void()> task, bool hostCode = false);
  /// Runs the first task; `lock` is held on entry and on return.
  void runFront(std::unique_lock<std::mutex> &lock);
  /// Runs every queued task (the worker only); `lock` as for runFront.
  void runBatch(std::unique_lock<std::mutex> &lock);
  template <class F> void timed(const char *kind, const std::string &name, F &&work);
  static void *threadMain(void *self);
  void run();

  ErrorSink *errors_;
  std::mutex mutex_;
  std::condition_variable workCv_, idleCv_;
  std::deque<Task> tasks_;
  std::deque<Task> batch_;              ///< what runBatch took (kept for its memory)
  bool running_ = false;                ///< a task is running (on the worker or a synchroniser)
  std::atomic<std::size_t> pending_{0}; ///< enqueued and not finished (changed under the lock, but
                                        ///< runBatch counts finished tasks down without it)
  std::atomic<std::size_t> queued_{0};  ///< tasks waiting to start (read without the lock)
  std::atomic<bool> idle_{true};        ///< pending_ == 0 (read without the lock)
  bool stop_ = false;
  bool workerAsleep_ = false; ///< the worker waits on workCv_ (push wakes it only then)
  pthread_t thread_{};
};

/// Copies and fills as the CPU does them (also used for synchronous paths).
void copyNow(const CopyOp &op);
void fillNow(const FillOp &op);

} // namespace cuvirt::cpu
