// Stream capture hooks for the enqueueing entry points: when a stream is
// capturing, work becomes a graph node instead of running (capture.cpp).
#pragma once
#include "runtime/runtime.h"
#include <optional>

namespace cuvirt {

/// True while `stream` takes part in a capture (a cheap atomic load).
inline bool capturing(const Stream *stream) {
  return stream->capture.load(std::memory_order_acquire) != nullptr;
}

// Each appends a node to the stream's capture (call only when capturing()).
Status captureKernel(Stream *stream, Function *function, const LaunchOp &op);
/// `async` false: a synchronous copy, which cannot be captured.
Status captureCopy(Stream *stream, const CopyOp &op, bool async);
Status captureFill(Stream *stream, const FillOp &op);
Status captureHost(Stream *stream, CUhostFn fn, void *userData);
Status captureAlloc(Stream *stream, CUdeviceptr *dptr, std::size_t bytes, MemPool *pool);
Status captureFree(Stream *stream, CUdeviceptr dptr);

/// cuEventRecord/cuStreamWaitEvent: the result when capture is involved (the
/// stream captures, or the event was recorded in a capture); nullopt if not.
std::optional<Status> captureEventRecord(Stream *stream, Event *event, unsigned flags);
std::optional<Status> captureEventWait(Stream *stream, Event *event, unsigned flags);

/// cuEventQuery/cuEventSynchronize: CUDA_ERROR_CAPTURED_EVENT for an event
/// last recorded in a capture, else the unsafe-call rule.
Status captureCheckEvent(Event *event);

/// Before work is queued or waited for on `stream` outside capture: an error
/// (and the capture invalidated) if the stream captures, or if it is the
/// legacy stream and a blocking stream of its context captures.
Status captureCheckSubmit(Stream *stream);
/// A potentially unsafe call (cuMemAlloc, cuCtxSynchronize...): refused
/// under the thread's capture interaction mode (cuThreadExchangeStreamCaptureMode).
Status captureUnsafeCall(const char *what);

/// destroyStream's hook: a destroyed origin stream ends (and drops) its
/// capture; any other stream just leaves it.
void captureStreamDestroyed(Stream *stream);

/// freeDevice's hook: true when `address` is graph memory (a mem alloc node's),
/// which a free only marks as freed; the graph keeps the range.
bool graphMemoryFree(std::uint64_t address);

} // namespace cuvirt
