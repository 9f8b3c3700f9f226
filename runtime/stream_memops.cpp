// Stream memory operations: cuStreamWaitValue32/64, cuStreamWriteValue32/64
// and cuStreamBatchMemOp. On a device whose memory the host sees, each call
// queues one host function on the stream, so it is ordered after earlier
// work and before later work like any other stream operation; a wait polls
// the word with back-off (it never spins a core for long).
#include "cuvirt_api.h"
#include "runtime/api_support.h"
#include "runtime/log.h"
#include "runtime/runtime.h"
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

namespace cuvirt {
namespace {

struct MemOp {
  unsigned type = 0; ///< a CUstreamBatchMemOpType, read raw: callers may pass anything
  std::uint64_t address = 0, value = 0;
  unsigned flags = 0;
};

template <class T> bool satisfied(T current, T value, unsigned condition) {
  using S = std::make_signed_t<T>;
  switch (condition) {
  case CU_STREAM_WAIT_VALUE_GEQ:
    return static_cast<S>(current - value) >= 0; // cyclic, as CUDA compares
  case CU_STREAM_WAIT_VALUE_EQ:
    return current == value;
  case CU_STREAM_WAIT_VALUE_AND:
    return (current & value) != 0;
  default: // CU_STREAM_WAIT_VALUE_NOR
    return static_cast<T>(~(current | value)) != 0;
  }
}

/// CUVIRT_WAIT_VALUE_TIMEOUT_MS: a wait that long fails the stream's context
/// with CUDA_ERROR_LAUNCH_TIMEOUT (default 0: waits forever, as a GPU does).
std::chrono::milliseconds waitTimeout() {
  static const long ms = [] {
    const char *v = std::getenv("CUVIRT_WAIT_VALUE_TIMEOUT_MS");
    return v != nullptr ? std::strtol(v, nullptr, 10) : 0L;
  }();
  return std::chrono::milliseconds(ms);
}

/// The longest nap between polls of a blocked wait: ~250 us to notice the
/// write, ~4000 wake-ups a second (a few percent of one core) while blocked.
constexpr std::chrono::microseconds kMaxNap(250);

template <class T> void waitFor(Stream *stream, const MemOp &op) {
  std::atomic_ref<T> word(*reinterpret_cast<T *>(op.address));
  const unsigned condition = op.flags & ~CU_STREAM_WAIT_VALUE_FLUSH;
  const T value = static_cast<T>(op.value);
  // Spin briefly (the writer is often about to write), then sleep with
  // doubling intervals up to kMaxNap.
  for (int i = 0; i < 256; ++i) {
    if (satisfied<T>(word.load(std::memory_order_acquire), value, condition))
      return;
    __builtin_ia32_pause();
  }
  const auto start = std::chrono::steady_clock::now();
  const auto timeout = waitTimeout();
  auto nap = std::chrono::microseconds(10);
  bool warned = false;
  while (!satisfied<T>(word.load(std::memory_order_acquire), value, condition)) {
    // A failed context (a faulting kernel) would never write it: give up.
    if (stream->context->sticky.load(std::memory_order_relaxed) != CUDA_SUCCESS)
      return;
    const auto waited = std::chrono::steady_clock::now() - start;
    if (timeout.count() > 0 && waited > timeout) {
      stream->asyncError(CUDA_ERROR_LAUNCH_TIMEOUT,
                         fmt::format("cuStreamWaitValue: 0x{:x} did not satisfy the condition within {} ms",
                                     op.address, timeout.count()));
      return;
    }
    if (!warned && waited > std::chrono::seconds(10)) {
      warned = true;
      log().warn("stream {}: cuStreamWaitValue on 0x{:x} (value 0x{:x}, condition {}) has waited 10 s; "
                 "CUVIRT_WAIT_VALUE_TIMEOUT_MS=N makes such a wait fail",
                 stream->id, op.address, op.value, condition);
    }
    std::this_thread::sleep_for(nap);
    nap = std::min<std::chrono::microseconds>(nap * 2, kMaxNap);
  }
}

template <class T> void write(const MemOp &op) {
  std::atomic_ref<T> word(*reinterpret_cast<T *>(op.address));
  if (op.flags & CU_STREAM_WRITE_VALUE_NO_MEMORY_BARRIER) {
    word.store(static_cast<T>(op.value), std::memory_order_relaxed);
    return;
  }
  // Earlier work's writes are visible before this one.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  word.store(static_cast<T>(op.value), std::memory_order_release);
}

void run(Stream *stream, const std::vector<MemOp> &ops) {
  for (const MemOp &op : ops) {
    switch (op.type) {
    case CU_STREAM_MEM_OP_WAIT_VALUE_32:
      waitFor<std::uint32_t>(stream, op);
      break;
    case CU_STREAM_MEM_OP_WAIT_VALUE_64:
      waitFor<std::uint64_t>(stream, op);
      break;
    case CU_STREAM_MEM_OP_WRITE_VALUE_32:
      write<std::uint32_t>(op);
      break;
    case CU_STREAM_MEM_OP_WRITE_VALUE_64:
      write<std::uint64_t>(op);
      break;
    default: // CU_STREAM_MEM_OP_BARRIER
      std::atomic_thread_fence(std::memory_order_seq_cst);
      break;
    }
  }
}

/// The word must be aligned device memory (or mapped host memory), not
/// managed memory, as CUDA requires.
Status checkWord(std::uint64_t address, unsigned bytes, const char *what) {
  if (address == 0 || address % bytes != 0)
    return error(CUDA_ERROR_INVALID_VALUE, "{}: 0x{:x} is not {}-byte aligned", what, address, bytes);
  auto a = findAllocation(address);
  if (!a || address + bytes > a->base + a->size)
    return error(CUDA_ERROR_INVALID_VALUE, "{}: 0x{:x} is not device memory", what, address);
  if (a->kind == MemKind::Managed)
    return error(CUDA_ERROR_INVALID_VALUE,
                 "{}: 0x{:x} is managed memory, which memory operations do not take", what, address);
  return {};
}

Status checkOp(const MemOp &op, const char *what) {
  switch (op.type) {
  case CU_STREAM_MEM_OP_WAIT_VALUE_32:
  case CU_STREAM_MEM_OP_WAIT_VALUE_64: {
    if (op.flags & CU_STREAM_WAIT_VALUE_FLUSH)
      return error(CUDA_ERROR_NOT_SUPPORTED, "{}: CU_STREAM_WAIT_VALUE_FLUSH needs CAN_FLUSH_REMOTE_WRITES",
                   what);
    if (op.flags > CU_STREAM_WAIT_VALUE_NOR)
      return error(CUDA_ERROR_INVALID_VALUE, "{}: unknown wait flags 0x{:x}", what, op.flags);
    return checkWord(op.address, op.type == CU_STREAM_MEM_OP_WAIT_VALUE_32 ? 4 : 8, what);
  }
  case CU_STREAM_MEM_OP_WRITE_VALUE_32:
  case CU_STREAM_MEM_OP_WRITE_VALUE_64:
    if ((op.flags & ~CU_STREAM_WRITE_VALUE_NO_MEMORY_BARRIER) != 0)
      return error(CUDA_ERROR_INVALID_VALUE, "{}: unknown write flags 0x{:x}", what, op.flags);
    return checkWord(op.address, op.type == CU_STREAM_MEM_OP_WRITE_VALUE_32 ? 4 : 8, what);
  case CU_STREAM_MEM_OP_BARRIER:
    if (op.flags != CU_STREAM_MEMORY_BARRIER_TYPE_SYS && op.flags != CU_STREAM_MEMORY_BARRIER_TYPE_GPU)
      return error(CUDA_ERROR_INVALID_VALUE, "{}: unknown barrier type {}", what, op.flags);
    return {};
  case CU_STREAM_MEM_OP_FLUSH_REMOTE_WRITES:
    return error(CUDA_ERROR_NOT_SUPPORTED, "{}: flushing remote writes needs CAN_FLUSH_REMOTE_WRITES", what);
  default:
    return error(CUDA_ERROR_INVALID_VALUE, "{}: unknown operation {}", what, op.type);
  }
}

Status enqueue(CUstream handle, std::vector<MemOp> ops, const char *what) {
  auto s = resolveStream(handle);
  if (!s)
    return s.status();
  Stream *stream = *s;
  if (!stream->context->device->backend->hostVisible())
    return error(CUDA_ERROR_NOT_SUPPORTED, "{}: device {} does not support stream memory operations", what,
                 stream->context->device->ordinal);
  for (const MemOp &op : ops)
    CUVIRT_TRY(checkOp(op, what));
  // A capturing stream refuses (no batch memop graph nodes yet).
  return submit(
      stream, [stream, ops = std::move(ops)](Queue &q) { q.hostFunc([stream, ops] { run(stream, ops); }); });
}

CUresult one(CUstream stream, unsigned type, CUdeviceptr addr, std::uint64_t value, unsigned flags,
             const char *what) {
  MemOp op;
  op.type = type;
  op.address = addr;
  op.value = value;
  op.flags = flags;
  return enqueue(stream, {op}, what);
}

} // namespace

namespace api {

CUresult cuStreamWaitValue32_v2(CUstream stream, CUdeviceptr addr, cuuint32_t value, unsigned int flags) {
  return one(stream, CU_STREAM_MEM_OP_WAIT_VALUE_32, addr, value, flags, "cuStreamWaitValue32");
}
CUresult cuStreamWaitValue32(CUstream stream, CUdeviceptr addr, cuuint32_t value, unsigned int flags) {
  return api::cuStreamWaitValue32_v2(stream, addr, value, flags);
}
CUresult cuStreamWaitValue64_v2(CUstream stream, CUdeviceptr addr, cuuint64_t value, unsigned int flags) {
  return one(stream, CU_STREAM_MEM_OP_WAIT_VALUE_64, addr, value, flags, "cuStreamWaitValue64");
}
CUresult cuStreamWaitValue64(CUstream stream, CUdeviceptr addr, cuuint64_t value, unsigned int flags) {
  return api::cuStreamWaitValue64_v2(stream, addr, value, flags);
}
CUresult cuStreamWriteValue32_v2(CUstream stream, CUdeviceptr addr, cuuint32_t value, unsigned int flags) {
  return one(stream, CU_STREAM_MEM_OP_WRITE_VALUE_32, addr, value, flags, "cuStreamWriteValue32");
}
CUresult cuStreamWriteValue32(CUstream stream, CUdeviceptr addr, cuuint32_t value, unsigned int flags) {
  return api::cuStreamWriteValue32_v2(stream, addr, value, flags);
}
CUresult cuStreamWriteValue64_v2(CUstream stream, CUdeviceptr addr, cuuint64_t value, unsigned int flags) {
  return one(stream, CU_STREAM_MEM_OP_WRITE_VALUE_64, addr, value, flags, "cuStreamWriteValue64");
}
CUresult cuStreamWriteValue64(CUstream stream, CUdeviceptr addr, cuuint64_t value, unsigned int flags) {
  return api::cuStreamWriteValue64_v2(stream, addr, value, flags);
}

CUresult cuStreamBatchMemOp_v2(CUstream stream, unsigned int count, CUstreamBatchMemOpParams *paramArray,
                               unsigned int flags) {
  // CUDA caps a batch at 256 operations.
  if (paramArray == nullptr || count == 0 || count > 256 || flags != 0)
    return error(CUDA_ERROR_INVALID_VALUE, "cuStreamBatchMemOp: bad count {} or flags 0x{:x}", count, flags);
  std::vector<MemOp> ops(count);
  for (unsigned i = 0; i < count; ++i) {
    const CUstreamBatchMemOpParams &p = paramArray[i];
    MemOp &op = ops[i];
    std::memcpy(&op.type, &p.operation, sizeof op.type);
    switch (op.type) {
    case CU_STREAM_MEM_OP_WAIT_VALUE_32:
    case CU_STREAM_MEM_OP_WAIT_VALUE_64:
      op.address = p.waitValue.address;
      op.value = op.type == CU_STREAM_MEM_OP_WAIT_VALUE_32 ? p.waitValue.value : p.waitValue.value64;
      op.flags = p.waitValue.flags;
      break;
    case CU_STREAM_MEM_OP_WRITE_VALUE_32:
    case CU_STREAM_MEM_OP_WRITE_VALUE_64:
      op.address = p.writeValue.address;
      op.value = op.type == CU_STREAM_MEM_OP_WRITE_VALUE_32 ? p.writeValue.value : p.writeValue.value64;
      op.flags = p.writeValue.flags;
      break;
    case CU_STREAM_MEM_OP_BARRIER:
      op.flags = p.memoryBarrier.flags;
      break;
    default:
      break;
    }
  }
  return enqueue(stream, std::move(ops), "cuStreamBatchMemOp");
}

CUresult cuStreamBatchMemOp(CUstream stream, unsigned int count, CUstreamBatchMemOpParams *paramArray,
                            unsigned int flags) {
  return api::cuStreamBatchMemOp_v2(stream, count, paramArray, flags);
}

} // namespace api
} // namespace cuvirt
