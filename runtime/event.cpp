// Events: record, query, synchronise, time, and cross-stream waits.
#include "cuvirt_api.h"
#include "runtime/api_support.h"
#include "runtime/capture.h"
#include "runtime/runtime.h"

namespace cuvirt {
namespace {

Expected<Event *> checkEvent(CUevent handle) {
  auto rt = runtime();
  if (!rt)
    return rt.status();
  Event *e = (*rt)->events.find(handle);
  if (e == nullptr)
    return error(CUDA_ERROR_INVALID_HANDLE, "invalid event handle {}", static_cast<const void *>(handle));
  return e;
}

MarkerPtr markerOf(Event *e) {
  std::lock_guard lock(e->mutex);
  return e->marker;
}

} // namespace

namespace api {

CUresult cuEventCreate(CUevent *phEvent, unsigned int flags) {
  if (phEvent == nullptr ||
      (flags & ~(CU_EVENT_BLOCKING_SYNC | CU_EVENT_DISABLE_TIMING | CU_EVENT_INTERPROCESS)) != 0)
    return CUDA_ERROR_INVALID_VALUE;
  // Interprocess events must disable timing, as in CUDA.
  if ((flags & CU_EVENT_INTERPROCESS) != 0 && (flags & CU_EVENT_DISABLE_TIMING) == 0)
    return CUDA_ERROR_INVALID_VALUE;
  auto c = requireContext();
  if (!c)
    return c.status();
  auto *e = new Event;
  e->context = *c;
  e->flags = flags;
  {
    std::lock_guard lock((*c)->mutex);
    (*c)->events.insert(e);
  }
  (*runtime())->events.add(e);
  *phEvent = reinterpret_cast<CUevent>(e);
  return CUDA_SUCCESS;
}

CUresult cuEventDestroy_v2(CUevent hEvent) {
  auto e = checkEvent(hEvent);
  if (!e)
    return e.status();
  (*runtime())->events.remove(*e);
  {
    std::lock_guard lock((*e)->context->mutex);
    (*e)->context->events.erase(*e);
  }
  delete *e; // a pending record holds its own reference to the marker
  return CUDA_SUCCESS;
}

CUresult cuEventDestroy(CUevent hEvent) { return api::cuEventDestroy_v2(hEvent); }

CUresult cuEventRecordWithFlags(CUevent hEvent, CUstream hStream, unsigned int flags) {
  if ((flags & ~CU_EVENT_RECORD_EXTERNAL) != 0)
    return CUDA_ERROR_INVALID_VALUE;
  auto e = checkEvent(hEvent);
  if (!e)
    return e.status();
  auto s = resolveStream(hStream);
  if (!s)
    return s.status();
  if ((*s)->context != (*e)->context)
    return error(CUDA_ERROR_INVALID_HANDLE, "cuEventRecord: event and stream belong to different contexts");
  if (auto captured = captureEventRecord(*s, *e, flags))
    return *captured;
  if (((*e)->flags & CU_EVENT_INTERPROCESS) != 0)
    return ipcEventRecord(*e, *s); // other processes see it (ipc.cpp)
  auto m = std::make_shared<Marker>();
  {
    std::lock_guard lock((*e)->mutex);
    (*e)->marker = m;
  }
  return submit(*s, [&](Queue &q) { q.record(m); });
}

CUresult cuEventRecord(CUevent hEvent, CUstream hStream) {
  return api::cuEventRecordWithFlags(hEvent, hStream, 0);
}

CUresult cuEventQuery(CUevent hEvent) {
  auto e = checkEvent(hEvent);
  if (!e)
    return e.status();
  if (Status c = captureCheckEvent(*e); !c.ok())
    return c;
  if (((*e)->flags & CU_EVENT_INTERPROCESS) != 0)
    return ipcEventQuery(*e);
  MarkerPtr m = markerOf(*e);
  return (!m || m->done()) ? CUDA_SUCCESS : CUDA_ERROR_NOT_READY;
}

CUresult cuEventSynchronize(CUevent hEvent) {
  auto e = checkEvent(hEvent);
  if (!e)
    return e.status();
  if (Status c = captureCheckEvent(*e); !c.ok())
    return c;
  if (((*e)->flags & CU_EVENT_INTERPROCESS) != 0)
    CUVIRT_TRY(ipcEventSynchronize(*e));
  else if (MarkerPtr m = markerOf(*e))
    m->wait();
  return (*e)->context->stickyStatus();
}

CUresult cuEventElapsedTime_v2(float *pMilliseconds, CUevent hStart, CUevent hEnd) {
  if (pMilliseconds == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  auto start = checkEvent(hStart);
  if (!start)
    return start.status();
  auto end = checkEvent(hEnd);
  if (!end)
    return end.status();
  if (((*start)->flags | (*end)->flags) & CU_EVENT_DISABLE_TIMING)
    return error(CUDA_ERROR_INVALID_HANDLE, "cuEventElapsedTime: an event was created with timing disabled");
  MarkerPtr a = markerOf(*start), b = markerOf(*end);
  if (!a || !b)
    return error(CUDA_ERROR_INVALID_HANDLE, "cuEventElapsedTime: an event was never recorded");
  if (!a->done() || !b->done())
    return CUDA_ERROR_NOT_READY;
  *pMilliseconds = std::chrono::duration<float, std::milli>(b->time() - a->time()).count();
  return CUDA_SUCCESS;
}

CUresult cuEventElapsedTime(float *pMilliseconds, CUevent hStart, CUevent hEnd) {
  return api::cuEventElapsedTime_v2(pMilliseconds, hStart, hEnd);
}

CUresult cuStreamWaitEvent(CUstream hStream, CUevent hEvent, unsigned int flags) {
  if ((flags & ~CU_EVENT_WAIT_EXTERNAL) != 0)
    return CUDA_ERROR_INVALID_VALUE;
  auto s = resolveStream(hStream);
  if (!s)
    return s.status();
  auto e = checkEvent(hEvent);
  if (!e)
    return e.status();
  if (auto captured = captureEventWait(*s, *e, flags))
    return *captured;
  if (((*e)->flags & CU_EVENT_INTERPROCESS) != 0)
    return ipcEventWait(*s, *e);
  MarkerPtr m = markerOf(*e);
  if (!m)
    return CUDA_SUCCESS; // waiting for a never-recorded event is a no-op
  return submit(*s, [&](Queue &q) { q.wait(m); });
}

} // namespace api
} // namespace cuvirt

namespace cuvirt::api {

// Context-wide event record: all work of every stream of the context so far.
CUresult cuCtxRecordEvent(CUcontext hCtx, CUevent hEvent) {
  auto c = checkContext(hCtx);
  if (!c)
    return c.status();
  // Recording on the legacy default stream captures all prior work of the
  // blocking streams; non-blocking streams are joined explicitly.
  std::vector<std::shared_ptr<Stream>> others;
  {
    std::lock_guard lock((*c)->mutex);
    for (auto &[s, owner] : (*c)->streams)
      if (!s->blocking())
        others.push_back(owner);
  }
  CUevent joins = nullptr;
  for (auto &s : others) {
    if (CUresult r = api::cuEventCreate(&joins, CU_EVENT_DISABLE_TIMING); r != CUDA_SUCCESS)
      return r;
    (void)api::cuEventRecord(joins, reinterpret_cast<CUstream>(s.get()));
    (void)api::cuStreamWaitEvent(CU_STREAM_LEGACY, joins, 0);
    (void)api::cuEventDestroy_v2(joins);
  }
  return api::cuEventRecord(hEvent, CU_STREAM_LEGACY);
}

} // namespace cuvirt::api
