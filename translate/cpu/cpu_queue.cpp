// A stream's queue on the CPU device: one worker thread, in-order tasks.
#include "runtime/log.h"
#include "translate/cpu/cpu_backend.h"
#include <chrono>
#include <cstring>

namespace cuvirt::cpu {

namespace {
/// Waits up to a few microseconds (by the clock: a pause instruction lasts
/// anywhere from 1 to 25 ns between CPUs) for `ready`; on a busy machine the
/// time is better left to the thread we wait for.
template <class F> bool spinUntil(F &&ready, std::chrono::nanoseconds limit = std::chrono::microseconds(4)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  for (int i = 0; !ready(); ++i) {
    __builtin_ia32_pause();
    if ((i & 31) == 31 && std::chrono::steady_clock::now() > deadline)
      return ready();
  }
  return true;
}

/// How long the idle worker leaves fresh work to a synchroniser that is
/// likely on its way (launch, then synchronize): one that runs the work
/// itself saves a thread hand-off each way. Long enough for the API call
/// between the two, short next to a kernel worth launching asynchronously.
constexpr auto kSyncGrace = std::chrono::microseconds(2);

// Big stacks: a block's per-thread values can live on the worker's stack.
constexpr std::size_t kWorkerStack = 64u << 20;
} // namespace

CpuQueue::CpuQueue(CpuDevice &, int, ErrorSink *errors) : errors_(errors) {
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, kWorkerStack);
  if (pthread_create(&thread_, &attr, &CpuQueue::threadMain, this) != 0)
    log().error("cannot start a stream worker thread");
  pthread_attr_destroy(&attr);
}

CpuQueue::~CpuQueue() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  workCv_.notify_all();
  pthread_join(thread_, nullptr);
}

void *CpuQueue::threadMain(void *self) {
  pthread_setname_np(pthread_self(), "cuvirt-stream");
  static_cast<CpuQueue *>(self)->run();
  return nullptr;
}

void CpuQueue::run() {
  std::unique_lock lock(mutex_);
  for (;;) {
    if (tasks_.empty() && !stop_) {
      // Work tends to come in bursts (launch, copy, synchronize): look again
      // for a few microseconds before sleeping, which saves a wake-up.
      lock.unlock();
      const bool fresh = spinUntil([&] { return queued_.load(std::memory_order_acquire) != 0; });
      // Fresh work after an idle spell: give a synchroniser the first claim.
      // If one took it, spin again rather than sleep (the next launch then
      // costs no wake-up).
      const bool taken =
          fresh && spinUntil([&] { return queued_.load(std::memory_order_acquire) == 0; }, kSyncGrace);
      lock.lock();
      if (taken && tasks_.empty() && !stop_)
        continue;
    }
    // A synchronising thread may be running this queue's work (running_).
    workerAsleep_ = true;
    workCv_.wait(lock, [&] { return (stop_ && !running_) || (!tasks_.empty() && !running_); });
    workerAsleep_ = false;
    if (tasks_.empty())
      return; // stopping, and everything ran
    if (tasks_.size() == 1)
      runFront(lock);
    else
      runBatch(lock);
  }
}

// Everything queued, in one turn of the lock: while the worker runs a burst
// of small launches, the thread enqueueing them finds the lock free instead
// of trading it with the worker twice per launch.
void CpuQueue::runBatch(std::unique_lock<std::mutex> &lock) {
  batch_.swap(tasks_);
  const std::size_t count = batch_.size();
  queued_.fetch_sub(count, std::memory_order_relaxed);
  running_ = true;
  lock.unlock();
  for (Task &task : batch_) {
    if (task.fn)
      task.fn();
    if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      std::lock_guard check(mutex_); // a push may have raced the count to zero
      if (pending_.load(std::memory_order_relaxed) == 0)
        idle_.store(true, std::memory_order_release);
    }
    if (task.marker)
      task.marker->complete();
  }
  batch_.clear();
  lock.lock();
  running_ = false;
  idleCv_.notify_all();
  if (!tasks_.empty() || stop_)
    workCv_.notify_one();
}

void CpuQueue::runFront(std::unique_lock<std::mutex> &lock) {
  Task task = std::move(tasks_.front());
  tasks_.pop_front();
  queued_.fetch_sub(1, std::memory_order_relaxed);
  running_ = true;
  lock.unlock();
  if (task.fn)
    task.fn();
  lock.lock();
  running_ = false;
  if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1)
    idle_.store(true, std::memory_order_release);
  if (task.marker)
    task.marker->complete();
  // Whoever waits (the worker for its turn, a synchroniser for the end or
  // for its own turn) looks again.
  idleCv_.notify_all();
  // The worker waits for a task it may start (or to stop); none: no wake-up.
  if (!tasks_.empty() || stop_)
    workCv_.notify_one();
}

void CpuQueue::push(std::function<void()> task, bool hostCode) {
  bool wake;
  {
    std::lock_guard lock(mutex_);
    ++pending_;
    idle_.store(false, std::memory_order_relaxed);
    tasks_.push_back({std::move(task), hostCode, nullptr});
    queued_.fetch_add(1, std::memory_order_release);
    wake = workerAsleep_; // a spinning or busy worker looks again by itself
  }
  if (wake)
    workCv_.notify_one();
}

namespace {
const char *copyKind(const CopyOp &op) {
  return op.srcHost && !op.dstHost   ? "HtoD"
         : !op.srcHost && op.dstHost ? "DtoH"
         : op.srcHost                ? "HtoH"
                                     : "DtoD";
}
} // namespace

/// Runs `work`, telling the listener how long it took if it wants to know.
template <class F> void CpuQueue::timed(const char *kind, const std::string &name, F &&work) {
  if (errors_ == nullptr || !errors_->wantsExecutionSpans()) {
    work();
    return;
  }
  auto start = Marker::Clock::now();
  work();
  errors_->executed(kind, name, start, Marker::Clock::now());
}

void CpuQueue::copy(const CopyOp &op) {
  push([this, op] { timed("memcpy", copyKind(op), [&] { copyNow(op); }); });
}

void CpuQueue::fill(const FillOp &op) {
  push([this, op] { timed("memset", "memset", [&] { fillNow(op); }); });
}

void CpuQueue::launch(LaunchOp op) {
  auto shared = std::make_shared<LaunchOp>(std::move(op));
  push([this, shared] {
    Status s;
    timed("kernel", shared->name, [&] { s = runGrid(*shared); });
    if (!s.ok() && errors_ != nullptr)
      errors_->asyncError(s.code(), lastErrorMessage());
  });
}

void CpuQueue::hostFunc(std::function<void()> fn) { push(std::move(fn), true); }

void CpuQueue::record(MarkerPtr marker) {
  {
    std::lock_guard lock(mutex_);
    if (pending_ != 0) {
      ++pending_;
      tasks_.push_back({{}, false, std::move(marker)});
      queued_.fetch_add(1, std::memory_order_release);
      if (workerAsleep_)
        workCv_.notify_one();
      return;
    }
  }
  marker->complete(); // nothing in flight: the point is reached now
}

void CpuQueue::wait(MarkerPtr marker) {
  if (marker->done())
    return;
  push([marker] { marker->wait(); });
}

bool CpuQueue::idle() {
  std::lock_guard lock(mutex_);
  return pending_ == 0;
}

void CpuQueue::synchronize() {
  if (idle_.load(std::memory_order_acquire))
    return;
  std::unique_lock lock(mutex_);
  bool spun = false;
  while (pending_ != 0) {
    // Work the worker has not started yet runs here, in order: the thread
    // that waits anyway does it, saving two thread hand-offs (a launch +
    // synchronize of a small kernel). Claimed before any waiting: the idle
    // worker leaves fresh work alone for kSyncGrace. Host functions stay on
    // the stream's own thread, where CUDA runs callbacks.
    if (!running_ && !tasks_.empty() && !tasks_.front().hostCode) {
      runFront(lock);
      continue;
    }
    if (!spun) {
      // The worker runs something: short work finishes while we look, so
      // spin a little (until idle, or until the front is ours) before sleeping.
      spun = true;
      lock.unlock();
      spinUntil([&] {
        return idle_.load(std::memory_order_acquire) || queued_.load(std::memory_order_acquire) != 0;
      });
      lock.lock();
      continue;
    }
    idleCv_.wait(lock);
  }
}

void copyNow(const CopyOp &op) {
  auto *dst = reinterpret_cast<std::uint8_t *>(op.dst);
  const auto *src = reinterpret_cast<const std::uint8_t *>(op.src);
  const std::size_t dPitch = op.dstPitch ? op.dstPitch : op.widthBytes;
  const std::size_t sPitch = op.srcPitch ? op.srcPitch : op.widthBytes;
  const std::size_t dSlice = op.dstSliceBytes ? op.dstSliceBytes : dPitch * op.height;
  const std::size_t sSlice = op.srcSliceBytes ? op.srcSliceBytes : sPitch * op.height;
  if (dPitch == op.widthBytes && sPitch == op.widthBytes && dSlice == dPitch * op.height &&
      sSlice == sPitch * op.height) {
    std::memmove(dst, src, op.widthBytes * op.height * op.depth);
    return;
  }
  for (std::size_t z = 0; z < op.depth; ++z)
    for (std::size_t y = 0; y < op.height; ++y)
      std::memmove(dst + z * dSlice + y * dPitch, src + z * sSlice + y * sPitch, op.widthBytes);
}

void fillNow(const FillOp &op) {
  auto *base = reinterpret_cast<std::uint8_t *>(op.dst);
  const std::size_t pitch = op.pitch ? op.pitch : op.width * op.elementSize;
  for (std::size_t y = 0; y < op.height; ++y) {
    std::uint8_t *row = base + y * pitch;
    switch (op.elementSize) {
    case 1:
      std::memset(row, static_cast<int>(op.value & 0xff), op.width);
      break;
    case 2: {
      auto *p = reinterpret_cast<std::uint16_t *>(row);
      for (std::size_t i = 0; i < op.width; ++i)
        p[i] = static_cast<std::uint16_t>(op.value);
      break;
    }
    default: {
      auto *p = reinterpret_cast<std::uint32_t *>(row);
      for (std::size_t i = 0; i < op.width; ++i)
        p[i] = op.value;
      break;
    }
    }
  }
}

} // namespace cuvirt::cpu
