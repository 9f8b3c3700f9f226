// Spin-wait loops in kernels (a grid-wide sync polling its barrier, a flag
// set by another block) get a pause in every iteration, so that on a CPU
// with fewer cores than spinning blocks the waiters hand their core to the
// blocks they wait for instead of burning their time slices.
#pragma once
#include <atomic>
#include <cstdint>

namespace llvm {
class Function;
} // namespace llvm

namespace cuvirt::cpu::jit {

/// Adds a call to cuvirt_cpu_jit_spin_wait() (and cuvirt_cpu_jit_spin_begin()
/// on the way in) to each loop of `f` that can
/// only end through memory another thread writes: no values carried between
/// iterations (no header phis), no stores, atomic read-modify-writes or
/// calls, and an atomic or volatile load. Returns how many loops it marked.
unsigned markSpinLoops(llvm::Function &f);

/// How long this thread's waits pause before they sleep (default 10 us; 0
/// when the threads that could end the wait outnumber the cores, which also
/// makes the first sleep 80 us).
void setSpinBudget(std::int64_t ns);

/// What a thread's spin-waits report to a watcher (a cooperative grid's
/// deadlock check, cpu_executor.cpp): when the current wait began and when it
/// last polled (CLOCK_MONOTONIC ns). `stop`, once true, makes the next poll
/// call `onStop` (which must not return: it unwinds the block).
struct SpinWatch {
  std::atomic<std::int64_t> since{0}, beat{0};
  const std::atomic<bool> *stop = nullptr;
  void (*onStop)() = nullptr;
};

/// This thread's watch (null: none).
void setSpinWatch(SpinWatch *watch);

} // namespace cuvirt::cpu::jit

extern "C" {
/// A pause in a spin-wait loop, backing off as the wait grows: the CPU's
/// pause hint for 10 us, then sleeps from 10 us doubling to 160 us.
void cuvirt_cpu_jit_spin_wait();
/// Called on entering a marked loop: the next wait starts afresh.
void cuvirt_cpu_jit_spin_begin();
}
