// Legacy CUDA IPC (cuIpcGetMemHandle and friends) and context-wide event
// waits. IPC memory handles need the allocation to live in memory another
// process can map; cuMemAlloc memory here is private anonymous memory in the
// device window, so these calls validate their input and then answer
// CUDA_ERROR_NOT_SUPPORTED. Sharing works through virtual memory management
// instead (cuMemCreate with CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR, vmm.cpp).
#include "cuvirt_api.h"
#include "runtime/api_support.h"
#include "runtime/capture.h"
#include "runtime/runtime.h"

namespace cuvirt {
namespace {

Expected<Event *> liveEvent(CUevent handle) {
  auto rt = runtime();
  if (!rt)
    return rt.status();
  Event *e = (*rt)->events.find(handle);
  if (e == nullptr)
    return error(CUDA_ERROR_INVALID_HANDLE, "invalid event handle {}", static_cast<const void *>(handle));
  return e;
}

} // namespace

namespace api {

CUresult cuIpcGetMemHandle(CUipcMemHandle *pHandle, CUdeviceptr dptr) {
  auto rt = runtime();
  if (!rt)
    return rt.status();
  if (pHandle == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  auto a = findAllocation(dptr);
  if (!a || a->kind != MemKind::Device || a->vmm)
    return error(CUDA_ERROR_INVALID_VALUE, "cuIpcGetMemHandle: 0x{:x} is not a cuMemAlloc allocation", dptr);
  return error(
      CUDA_ERROR_NOT_SUPPORTED,
      "cuIpcGetMemHandle: device memory is process-private here; share cuMemCreate memory as a POSIX "
      "descriptor (cuMemExportToShareableHandle) instead");
}

CUresult cuIpcOpenMemHandle_v2(CUdeviceptr *pdptr, CUipcMemHandle, unsigned int Flags) {
  auto rt = runtime();
  if (!rt)
    return rt.status();
  if (pdptr == nullptr || (Flags & ~CU_IPC_MEM_LAZY_ENABLE_PEER_ACCESS) != 0)
    return CUDA_ERROR_INVALID_VALUE;
  if (auto c = requireContext(); !c)
    return c.status();
  return error(CUDA_ERROR_NOT_SUPPORTED, "cuIpcOpenMemHandle: legacy IPC memory handles are not supported");
}

CUresult cuIpcOpenMemHandle(CUdeviceptr *pdptr, CUipcMemHandle handle, unsigned int Flags) {
  return api::cuIpcOpenMemHandle_v2(pdptr, handle, Flags);
}

CUresult cuIpcCloseMemHandle(CUdeviceptr dptr) {
  auto rt = runtime();
  if (!rt)
    return rt.status();
  // Nothing can have been opened.
  return error(CUDA_ERROR_INVALID_VALUE, "cuIpcCloseMemHandle: 0x{:x} was not opened by cuIpcOpenMemHandle",
               dptr);
}

CUresult cuIpcGetEventHandle(CUipcEventHandle *pHandle, CUevent event) {
  if (pHandle == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  auto e = liveEvent(event);
  if (!e)
    return e.status();
  const unsigned need = CU_EVENT_INTERPROCESS | CU_EVENT_DISABLE_TIMING;
  if (((*e)->flags & need) != need)
    return error(CUDA_ERROR_INVALID_VALUE,
                 "cuIpcGetEventHandle: the event needs CU_EVENT_INTERPROCESS | CU_EVENT_DISABLE_TIMING");
  return error(CUDA_ERROR_NOT_SUPPORTED, "cuIpcGetEventHandle: interprocess events are not supported");
}

CUresult cuIpcOpenEventHandle(CUevent *phEvent, CUipcEventHandle) {
  auto rt = runtime();
  if (!rt)
    return rt.status();
  if (phEvent == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  return error(CUDA_ERROR_NOT_SUPPORTED, "cuIpcOpenEventHandle: interprocess events are not supported");
}

// Every stream of the context waits for the event. Streams created later
// start with nothing queued and do not wait: a documented approximation.
CUresult cuCtxWaitEvent(CUcontext hCtx, CUevent hEvent) {
  auto c = checkContext(hCtx);
  if (!c)
    return c.status();
  auto e = liveEvent(hEvent);
  if (!e)
    return e.status();
  // The legacy stream must exist so later work on it waits too.
  Context *previous = currentContext();
  setCurrentContext(*c);
  auto legacy = resolveStream(CU_STREAM_LEGACY);
  setCurrentContext(previous);
  if (!legacy)
    return legacy.status();
  std::vector<std::shared_ptr<Stream>> streams;
  {
    std::lock_guard lock((*c)->mutex);
    for (auto &[s, owner] : (*c)->streams)
      streams.push_back(owner);
  }
  for (auto &s : streams)
    if (capturing(s.get()))
      return error(CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED,
                   "cuCtxWaitEvent: a stream of the context is capturing");
  for (auto &s : streams)
    if (CUresult r = api::cuStreamWaitEvent(reinterpret_cast<CUstream>(s.get()), hEvent, 0);
        r != CUDA_SUCCESS)
      return r;
  return CUDA_SUCCESS;
}

} // namespace api
} // namespace cuvirt
