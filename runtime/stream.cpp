// Streams: the legacy and per-thread default streams, user streams, and the
// legacy stream's implicit synchronisation with blocking streams.
#include "cuvirt_api.h"
#include "runtime/api_support.h"
#include "runtime/capture.h"
#include "runtime/runtime.h"
#include <unordered_map>

namespace cuvirt {
namespace {

thread_local std::unordered_map<Context *, Stream *> t_perThread;
std::atomic<SpanHook> g_spanHook{nullptr};

Stream *newStream(Context *c, Stream::Kind kind, unsigned flags, int priority) {
  auto *s = new Stream;
  s->context = c;
  s->kind = kind;
  s->flags = flags;
  s->priority = priority;
  s->id = (*runtime())->nextId++;
  s->queue = c->device->backend->createQueue(priority, s);
  {
    std::lock_guard lock(c->mutex);
    c->streams.emplace(s, std::shared_ptr<Stream>(s));
  }
  (*runtime())->streams.add(s);
  return s;
}

Stream *legacyStream(Context *c) {
  std::lock_guard lock(c->mutex);
  if (c->legacy == nullptr) {
    auto *s = new Stream;
    s->context = c;
    s->kind = Stream::Kind::Legacy;
    s->id = (*runtime())->nextId++;
    s->queue = c->device->backend->createQueue(0, s);
    c->streams.emplace(s, std::shared_ptr<Stream>(s));
    (*runtime())->streams.add(s);
    c->legacy = s;
  }
  return c->legacy;
}

Stream *perThreadStream(Context *c) {
  auto it = t_perThread.find(c);
  if (it != t_perThread.end() && (*runtime())->streams.contains(it->second))
    return it->second;
  Stream *s = newStream(c, Stream::Kind::PerThread, 0, 0);
  t_perThread[c] = s;
  return s;
}

/// True when the stream has nothing queued and nothing it must wait for.
bool quiet(Stream *s) {
  if (!s->queue->idle())
    return false;
  Context *c = s->context;
  std::lock_guard lock(c->mutex);
  if (s->kind == Stream::Kind::Legacy) {
    for (auto &[other, owner] : c->streams)
      if (other != s && other->blocking() && !other->queue->idle())
        return false;
    return true;
  }
  return !s->blocking() || c->legacy == nullptr || c->legacy->queue->idle();
}

} // namespace

void setSpanHook(SpanHook hook) { g_spanHook = hook; }
SpanHook spanHook() { return g_spanHook.load(std::memory_order_relaxed); }

void Stream::executed(const char *kind, const std::string &name, Marker::Clock::time_point start,
                      Marker::Clock::time_point end) {
  if (SpanHook hook = spanHook())
    hook(id, kind, name, start, end);
}

Expected<Stream *> resolveStream(CUstream handle) {
  auto rt = runtime();
  if (!rt)
    return rt.status();
  if (handle == CU_STREAM_PER_THREAD || (handle == nullptr && perThreadDefaultStream())) {
    auto c = requireContext();
    if (!c)
      return c.status();
    return perThreadStream(*c);
  }
  if (handle == nullptr || handle == CU_STREAM_LEGACY) {
    auto c = requireContext();
    if (!c)
      return c.status();
    return legacyStream(*c);
  }
  Stream *s = (*rt)->streams.find(handle);
  if (s == nullptr)
    return error(CUDA_ERROR_INVALID_HANDLE, "invalid stream handle {}", static_cast<const void *>(handle));
  if (Status sticky = s->context->stickyStatus(); !sticky.ok())
    return sticky;
  return s;
}

Status submitImpl(Stream *stream, const std::function<void(Queue &)> &enqueue) {
  CUVIRT_TRY(captureCheckSubmit(stream)); // capturing streams take nodes, never work
  Context *c = stream->context;
  std::lock_guard submitLock(stream->submitMutex);
  if (stream->kind == Stream::Kind::Legacy) {
    std::vector<std::shared_ptr<Stream>> others;
    {
      std::lock_guard lock(c->mutex);
      for (auto &[s, owner] : c->streams)
        if (s != stream && s->blocking())
          others.push_back(owner);
    }
    for (auto &s : others)
      if (!s->queue->idle()) {
        auto m = std::make_shared<Marker>();
        s->queue->record(m);
        stream->queue->wait(m);
      }
    enqueue(*stream->queue);
    return {};
  }
  if (stream->blocking()) {
    // Legacy work submitted so far goes first: a marker recorded on the
    // legacy stream now is reached exactly when that work is done. (Made
    // here, on demand, rather than after every legacy submission: a program
    // that only uses the default stream pays nothing per launch.)
    Stream *legacy = nullptr;
    {
      std::lock_guard lock(c->mutex);
      legacy = c->legacy;
    }
    if (legacy != nullptr && legacy != stream && !legacy->queue->idle()) {
      auto m = std::make_shared<Marker>();
      legacy->queue->record(m);
      stream->queue->wait(m);
    }
  }
  enqueue(*stream->queue);
  return {};
}

/// Runs `now` in the caller if nothing is queued ahead on the stream,
/// otherwise queues `queued` and waits for it. For synchronous copies.
Status runSynchronously(Stream *stream, const std::function<Status()> &now,
                        const std::function<void(Queue &)> &queued) {
  CUVIRT_TRY(captureCheckSubmit(stream));
  if (quiet(stream)) {
    CUVIRT_TRY(now());
  } else {
    auto m = std::make_shared<Marker>();
    CUVIRT_TRY(submit(stream, [&](Queue &q) {
      queued(q);
      q.record(m);
    }));
    m->wait();
  }
  return stream->context->stickyStatus();
}

Status synchronizeStream(Stream *stream) {
  CUVIRT_TRY(captureCheckSubmit(stream));
  if (stream->kind == Stream::Kind::Legacy) {
    auto m = std::make_shared<Marker>();
    CUVIRT_TRY(submit(stream, [&](Queue &q) { q.record(m); }));
    m->wait();
  } else {
    stream->queue->synchronize();
  }
  return stream->context->stickyStatus();
}

Status synchronizeContext(Context *context) {
  CUVIRT_TRY(captureUnsafeCall("synchronizing the context"));
  std::vector<std::shared_ptr<Stream>> streams;
  {
    std::lock_guard lock(context->mutex);
    for (auto &[s, owner] : context->streams)
      streams.push_back(owner);
  }
  for (auto &s : streams)
    s->queue->synchronize();
  return context->stickyStatus();
}

void destroyStream(Stream *stream) {
  captureStreamDestroyed(stream);
  Context *c = stream->context;
  (*runtime())->streams.remove(stream);
  std::shared_ptr<Stream> owner;
  {
    std::lock_guard lock(c->mutex);
    auto it = c->streams.find(stream);
    if (it == c->streams.end())
      return;
    owner = std::move(it->second);
    c->streams.erase(it);
    if (c->legacy == stream)
      c->legacy = nullptr;
  }
  owner->queue->synchronize(); // its work completes before it goes, as CUDA's does
}

namespace api {

CUresult cuStreamCreateWithPriority(CUstream *phStream, unsigned int flags, int priority) {
  if (phStream == nullptr || (flags & ~CU_STREAM_NON_BLOCKING) != 0)
    return CUDA_ERROR_INVALID_VALUE;
  auto c = requireContext();
  if (!c)
    return c.status();
  // Out-of-range priorities are clamped, as CUDA does.
  priority = std::clamp(priority, -5, 0);
  *phStream = reinterpret_cast<CUstream>(newStream(*c, Stream::Kind::User, flags, priority));
  return CUDA_SUCCESS;
}

CUresult cuStreamCreate(CUstream *phStream, unsigned int flags) {
  return api::cuStreamCreateWithPriority(phStream, flags, 0);
}

CUresult cuStreamDestroy_v2(CUstream hStream) {
  auto rt = runtime();
  if (!rt)
    return rt.status();
  Stream *s = (*rt)->streams.find(hStream);
  if (s == nullptr || s->kind != Stream::Kind::User)
    return error(CUDA_ERROR_INVALID_HANDLE, "cuStreamDestroy: invalid stream {}",
                 static_cast<const void *>(hStream));
  destroyStream(s);
  return CUDA_SUCCESS;
}

CUresult cuStreamDestroy(CUstream hStream) { return api::cuStreamDestroy_v2(hStream); }

CUresult cuStreamQuery(CUstream hStream) {
  auto s = resolveStream(hStream);
  if (!s)
    return s.status();
  if (Status sticky = (*s)->context->stickyStatus(); !sticky.ok())
    return sticky;
  if (Status c = captureCheckSubmit(*s); !c.ok())
    return c;
  return quiet(*s) ? CUDA_SUCCESS : CUDA_ERROR_NOT_READY;
}

CUresult cuStreamSynchronize(CUstream hStream) {
  auto s = resolveStream(hStream);
  if (!s)
    return s.status();
  return synchronizeStream(*s);
}

CUresult cuStreamAddCallback(CUstream hStream, CUstreamCallback callback, void *userData,
                             unsigned int flags) {
  if (callback == nullptr || flags != 0)
    return CUDA_ERROR_INVALID_VALUE;
  auto s = resolveStream(hStream);
  if (!s)
    return s.status();
  Stream *stream = *s;
  return submit(stream, [=](Queue &q) {
    q.hostFunc([=] { callback(hStream, stream->context->sticky.load(), userData); });
  });
}

CUresult cuLaunchHostFunc(CUstream hStream, CUhostFn fn, void *userData) {
  if (fn == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  auto s = resolveStream(hStream);
  if (!s)
    return s.status();
  if (capturing(*s))
    return captureHost(*s, fn, userData);
  return submit(*s, [=](Queue &q) { q.hostFunc([=] { fn(userData); }); });
}

CUresult cuStreamGetPriority(CUstream hStream, int *priority) {
  if (priority == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  auto s = resolveStream(hStream);
  if (!s)
    return s.status();
  *priority = (*s)->priority;
  return CUDA_SUCCESS;
}

CUresult cuStreamGetFlags(CUstream hStream, unsigned int *flags) {
  if (flags == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  auto s = resolveStream(hStream);
  if (!s)
    return s.status();
  *flags = (*s)->flags;
  return CUDA_SUCCESS;
}

CUresult cuStreamGetId(CUstream hStream, unsigned long long *streamId) {
  if (streamId == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  auto s = resolveStream(hStream);
  if (!s)
    return s.status();
  *streamId = (*s)->id;
  return CUDA_SUCCESS;
}

CUresult cuStreamGetCtx(CUstream hStream, CUcontext *pctx) {
  if (pctx == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  auto s = resolveStream(hStream);
  if (!s)
    return s.status();
  *pctx = reinterpret_cast<CUcontext>((*s)->context);
  return CUDA_SUCCESS;
}

CUresult cuStreamGetCtx_v2(CUstream hStream, CUcontext *pCtx, CUgreenCtx *pGreenCtx) {
  if (pGreenCtx != nullptr)
    *pGreenCtx = nullptr;
  return api::cuStreamGetCtx(hStream, pCtx);
}

CUresult cuStreamGetDevice(CUstream hStream, CUdevice *device) {
  if (device == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  auto s = resolveStream(hStream);
  if (!s)
    return s.status();
  *device = (*s)->context->device->ordinal;
  return CUDA_SUCCESS;
}

CUresult cuStreamGetAttribute(CUstream hStream, CUstreamAttrID attr, CUstreamAttrValue *value_out) {
  if (value_out == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  auto s = resolveStream(hStream);
  if (!s)
    return s.status();
  std::memset(value_out, 0, sizeof *value_out);
  if (attr == CU_LAUNCH_ATTRIBUTE_PRIORITY)
    value_out->priority = (*s)->priority;
  return CUDA_SUCCESS;
}

CUresult cuStreamSetAttribute(CUstream hStream, CUstreamAttrID attr, const CUstreamAttrValue *value) {
  if (value == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  auto s = resolveStream(hStream);
  if (!s)
    return s.status();
  if (attr == CU_LAUNCH_ATTRIBUTE_PRIORITY)
    (*s)->priority = std::clamp(value->priority, -5, 0);
  return CUDA_SUCCESS; // access-policy windows and the like are hints
}

CUresult cuStreamCopyAttributes(CUstream dst, CUstream src) {
  auto d = resolveStream(dst);
  auto s = resolveStream(src);
  if (!d)
    return d.status();
  if (!s)
    return s.status();
  (*d)->priority = (*s)->priority;
  return CUDA_SUCCESS;
}

} // namespace api
} // namespace cuvirt
