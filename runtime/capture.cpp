// Stream capture: between cuStreamBeginCapture and cuStreamEndCapture the
// work given to a stream (and to streams that join it through events) is
// added to a graph instead of running.
//
// Each capturing stream keeps its dependency set: the nodes the next
// captured node depends on. A record of an event in a capturing stream
// remembers the set; a wait on that event from another stream joins the
// stream to the capture with that set (a fork), and a wait back in the origin
// stream merges it (a join). At the end, every stream's set must be reachable
// from the origin stream's, else CUDA_ERROR_STREAM_CAPTURE_UNJOINED.
#include "runtime/capture.h"
#include "cuvirt_api.h"
#include "runtime/api_support.h"
#include "runtime/graph.h"
#include <algorithm>
#include <cstring>
#include <thread>
#include <unordered_map>
#include <unordered_set>

namespace cuvirt {

struct CaptureSession {
  std::uint64_t id = 0;
  Graph *graph = nullptr;
  bool ownsGraph = true; ///< false for cuStreamBeginCaptureToGraph
  Stream *origin = nullptr;
  CUstreamCaptureMode mode = CU_STREAM_CAPTURE_MODE_GLOBAL;
  std::thread::id thread;
  bool invalidated = false;
  std::unordered_map<Stream *, std::vector<GraphNode *>> dependencies;
  /// What cuStreamGetCaptureInfo hands out, valid until the stream's next call.
  std::unordered_map<Stream *, std::vector<CUgraphNode>> views;
  std::vector<CUgraphEdgeData> edgeData;
};

Status captureGraph(Stream *stream, const Graph &graph);

namespace {

struct CapturedEvent {
  CaptureSession *session = nullptr;
  std::vector<GraphNode *> nodes;
};

struct CaptureState {
  std::mutex mutex;
  std::unordered_set<CaptureSession *> sessions;
  std::unordered_map<Event *, CapturedEvent> events; ///< events last recorded in a capture
  std::uint64_t nextId = 1;
};

CaptureState &state() {
  static auto &s = *new CaptureState; // never destroyed: cudart tears down from atexit
  return s;
}
std::atomic<int> g_active{0}; ///< live sessions: the fast path when 0
thread_local CUstreamCaptureMode t_mode = CU_STREAM_CAPTURE_MODE_GLOBAL;

const char *modeName(CUstreamCaptureMode m) {
  return m == CU_STREAM_CAPTURE_MODE_GLOBAL         ? "global"
         : m == CU_STREAM_CAPTURE_MODE_THREAD_LOCAL ? "thread-local"
                                                    : "relaxed";
}

/// Appends `node` after the stream's dependency set, which becomes {node}.
/// Called with the state's mutex held.
Status appendLocked(Stream *stream, std::unique_ptr<GraphNode> node, GraphNode **out = nullptr) {
  CaptureSession *s = stream->capture.load();
  if (s == nullptr)
    return error(CUDA_ERROR_ILLEGAL_STATE, "the stream is not capturing");
  if (s->invalidated)
    return error(CUDA_ERROR_STREAM_CAPTURE_INVALIDATED,
                 "the stream's capture was invalidated by an earlier error");
  auto &deps = s->dependencies[stream];
  std::vector<CUgraphNode> handles;
  for (auto *d : deps)
    handles.push_back(reinterpret_cast<CUgraphNode>(d));
  auto n = addGraphNode(s->graph, std::move(node), handles.data(), handles.size());
  if (!n) {
    s->invalidated = true;
    return n.status();
  }
  deps.assign(1, *n);
  if (out != nullptr)
    *out = *n;
  return {};
}

Status append(Stream *stream, std::unique_ptr<GraphNode> node) {
  std::lock_guard lock(state().mutex);
  return appendLocked(stream, std::move(node));
}

/// Invalidates the stream's capture and reports `code`.
template <class... Args>
Status fail(Stream *stream, CUresult code, fmt::format_string<Args...> f, Args &&...args) {
  {
    std::lock_guard lock(state().mutex);
    if (CaptureSession *s = stream->capture.load())
      s->invalidated = true;
  }
  return error(code, f, std::forward<Args>(args)...);
}

/// The capturing blocking streams of the legacy stream's context.
std::vector<CaptureSession *> implicitCaptures(Stream *legacy) {
  std::vector<CaptureSession *> out;
  Context *c = legacy->context;
  std::lock_guard lock(c->mutex);
  for (auto &[s, owner] : c->streams)
    if (s != legacy && s->blocking())
      if (CaptureSession *cs = s->capture.load())
        out.push_back(cs);
  return out;
}

/// Ends a session: its streams stop capturing, its events forget it.
void endLocked(CaptureSession *s) {
  auto *rt = runtimeIfInitialized();
  for (auto &[stream, deps] : s->dependencies)
    if (rt != nullptr && rt->streams.contains(stream) && stream->capture.load() == s)
      stream->capture.store(nullptr);
  if (s->origin->capture.load() == s)
    s->origin->capture.store(nullptr);
  std::erase_if(state().events, [&](const auto &e) { return e.second.session == s; });
  state().sessions.erase(s);
  --g_active;
}

/// All nodes `from` reaches going back along dependencies (itself included).
std::unordered_set<const GraphNode *> ancestors(const std::vector<GraphNode *> &from) {
  std::unordered_set<const GraphNode *> seen(from.begin(), from.end());
  std::vector<const GraphNode *> work(from.begin(), from.end());
  while (!work.empty()) {
    const GraphNode *n = work.back();
    work.pop_back();
    for (auto *d : n->dependencies)
      if (seen.insert(d).second)
        work.push_back(d);
  }
  return seen;
}

Status beginCapture(CUstream hStream, Graph *into, const CUgraphNode *deps, std::size_t count,
                    CUstreamCaptureMode mode) {
  if (mode != CU_STREAM_CAPTURE_MODE_GLOBAL && mode != CU_STREAM_CAPTURE_MODE_THREAD_LOCAL &&
      mode != CU_STREAM_CAPTURE_MODE_RELAXED)
    return error(CUDA_ERROR_INVALID_VALUE, "cuStreamBeginCapture: invalid mode {}", static_cast<int>(mode));
  auto s = resolveStream(hStream);
  if (!s)
    return s.status();
  Stream *stream = *s;
  if (stream->kind == Stream::Kind::Legacy)
    return error(CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED, "the legacy default stream cannot capture");
  if (count != 0 && (deps == nullptr || into == nullptr))
    return CUDA_ERROR_INVALID_VALUE;
  std::vector<GraphNode *> initial;
  for (std::size_t i = 0; i < count; ++i) {
    auto *n = reinterpret_cast<GraphNode *>(deps[i]);
    if (std::none_of(into->nodes.begin(), into->nodes.end(), [&](auto &p) { return p.get() == n; }))
      return error(CUDA_ERROR_INVALID_VALUE, "cuStreamBeginCaptureToGraph: dependency {} is not in the graph",
                   i);
    initial.push_back(n);
  }
  std::lock_guard lock(state().mutex);
  if (stream->capture.load() != nullptr)
    return error(CUDA_ERROR_ILLEGAL_STATE, "the stream is already capturing");
  auto *session = new CaptureSession;
  session->id = state().nextId++;
  session->ownsGraph = into == nullptr;
  if (into == nullptr) {
    into = new Graph;
    registerGraph(into, true);
  }
  session->graph = into;
  session->origin = stream;
  session->mode = mode;
  session->thread = std::this_thread::get_id();
  session->dependencies[stream] = std::move(initial);
  state().sessions.insert(session);
  ++g_active;
  stream->capture.store(session);
  return {};
}

Status captureInfo(CUstream hStream, CUstreamCaptureStatus *status, cuuint64_t *id, CUgraph *graph,
                   const CUgraphNode **deps, const CUgraphEdgeData **edgeData, std::size_t *count) {
  if (status == nullptr || (edgeData != nullptr && deps == nullptr))
    return CUDA_ERROR_INVALID_VALUE;
  auto s = resolveStream(hStream);
  if (!s)
    return s.status();
  Stream *stream = *s;
  if (stream->kind == Stream::Kind::Legacy && g_active.load() != 0 && !implicitCaptures(stream).empty())
    return error(CUDA_ERROR_STREAM_CAPTURE_IMPLICIT, "the legacy stream depends on a capturing stream");
  std::lock_guard lock(state().mutex);
  CaptureSession *session = stream->capture.load();
  *status = session == nullptr     ? CU_STREAM_CAPTURE_STATUS_NONE
            : session->invalidated ? CU_STREAM_CAPTURE_STATUS_INVALIDATED
                                   : CU_STREAM_CAPTURE_STATUS_ACTIVE;
  if (id != nullptr)
    *id = session != nullptr ? session->id : 0;
  if (graph != nullptr)
    *graph = session != nullptr ? reinterpret_cast<CUgraph>(session->graph) : nullptr;
  std::vector<CUgraphNode> *view = nullptr;
  if (session != nullptr) {
    view = &session->views[stream];
    view->clear();
    for (auto *n : session->dependencies[stream])
      view->push_back(reinterpret_cast<CUgraphNode>(n));
    if (session->edgeData.size() < view->size())
      session->edgeData.resize(view->size()); // zero: default edges
  }
  const bool any = view != nullptr && !view->empty();
  if (deps != nullptr)
    *deps = any ? view->data() : nullptr;
  if (edgeData != nullptr)
    *edgeData = any ? session->edgeData.data() : nullptr;
  if (count != nullptr)
    *count = view != nullptr ? view->size() : 0;
  return {};
}

} // namespace

// ---- hooks ---------------------------------------------------------------------------------

Status captureKernel(Stream *stream, Function *function, const LaunchOp &op) {
  auto n = std::make_unique<GraphNode>();
  n->type = CU_GRAPH_NODE_TYPE_KERNEL;
  std::memcpy(n->kernel.grid, op.grid, sizeof op.grid);
  std::memcpy(n->kernel.block, op.block, sizeof op.block);
  n->kernel.sharedBytes = op.dynamicSharedBytes;
  std::size_t size = op.params.size();
  void *extra[] = {CU_LAUNCH_PARAM_BUFFER_POINTER, const_cast<std::uint8_t *>(op.params.data()),
                   CU_LAUNCH_PARAM_BUFFER_SIZE, &size, CU_LAUNCH_PARAM_END};
  if (Status s = packKernelNode(n->kernel, function, nullptr, size != 0 ? extra : nullptr); !s.ok())
    return fail(stream, s.code(), "capture of {}: {}", op.name, lastErrorMessage());
  if (op.cooperative) // a cooperative launch is a kernel node with that attribute, as in CUDA
    n->kernel.attributes[CU_LAUNCH_ATTRIBUTE_COOPERATIVE].cooperative = 1;
  return append(stream, std::move(n));
}

Status captureCopy(Stream *stream, const CopyOp &op, bool async) {
  if (!async)
    return fail(stream, CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED, "a synchronous copy cannot be captured");
  auto n = std::make_unique<GraphNode>();
  n->type = CU_GRAPH_NODE_TYPE_MEMCPY;
  CUDA_MEMCPY3D &p = n->copy;
  p.srcMemoryType = op.srcHost ? CU_MEMORYTYPE_HOST : CU_MEMORYTYPE_DEVICE;
  p.dstMemoryType = op.dstHost ? CU_MEMORYTYPE_HOST : CU_MEMORYTYPE_DEVICE;
  if (op.srcHost)
    p.srcHost = reinterpret_cast<const void *>(op.src);
  else
    p.srcDevice = op.src;
  if (op.dstHost)
    p.dstHost = reinterpret_cast<void *>(op.dst);
  else
    p.dstDevice = op.dst;
  p.WidthInBytes = op.widthBytes;
  p.Height = op.height;
  p.Depth = op.depth;
  p.srcPitch = op.srcPitch != 0 ? op.srcPitch : op.widthBytes;
  p.dstPitch = op.dstPitch != 0 ? op.dstPitch : op.widthBytes;
  p.srcHeight = op.srcSliceBytes != 0 ? op.srcSliceBytes / p.srcPitch : op.height;
  p.dstHeight = op.dstSliceBytes != 0 ? op.dstSliceBytes / p.dstPitch : op.height;
  return append(stream, std::move(n));
}

Status captureFill(Stream *stream, const FillOp &op) {
  auto n = std::make_unique<GraphNode>();
  n->type = CU_GRAPH_NODE_TYPE_MEMSET;
  n->memset = {op.dst, op.pitch, op.value, op.elementSize, op.width, op.height};
  return append(stream, std::move(n));
}

Status captureHost(Stream *stream, CUhostFn fn, void *userData) {
  auto n = std::make_unique<GraphNode>();
  n->type = CU_GRAPH_NODE_TYPE_HOST;
  n->host = {fn, userData};
  return append(stream, std::move(n));
}

Status captureGraph(Stream *stream, const Graph &graph) {
  auto n = std::make_unique<GraphNode>();
  n->type = CU_GRAPH_NODE_TYPE_GRAPH;
  n->child = cloneGraph(graph, false);
  n->child->parent = n.get();
  return append(stream, std::move(n));
}

Status captureAlloc(Stream *stream, CUdeviceptr *dptr, std::size_t bytes, MemPool *pool) {
  Context *c = stream->context;
  auto memory = newGraphMemory(c->device, c, bytes);
  if (!memory)
    return fail(stream, memory.status().code(), "capture of cuMemAllocAsync: {}", lastErrorMessage());
  auto n = std::make_unique<GraphNode>();
  n->type = CU_GRAPH_NODE_TYPE_MEM_ALLOC;
  n->memory = memory.take();
  n->alloc.poolProps.allocType = CU_MEM_ALLOCATION_TYPE_PINNED;
  n->alloc.poolProps.location = {CU_MEM_LOCATION_TYPE_DEVICE, c->device->ordinal};
  n->alloc.bytesize = bytes;
  n->alloc.dptr = n->memory->address;
  (void)pool; // graph memory comes from the device's graph pool, as in CUDA
  const CUdeviceptr address = n->memory->address;
  CUVIRT_TRY(append(stream, std::move(n)));
  *dptr = address;
  return {};
}

Status captureFree(Stream *stream, CUdeviceptr dptr) {
  if (!findGraphMemory(dptr))
    return fail(stream, CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED,
                "capture of cuMemFreeAsync: 0x{:x} was not allocated by a graph or during capture", dptr);
  auto n = std::make_unique<GraphNode>();
  n->type = CU_GRAPH_NODE_TYPE_MEM_FREE;
  n->freePointer = dptr;
  return append(stream, std::move(n));
}

std::optional<Status> captureEventRecord(Stream *stream, Event *event, unsigned flags) {
  if (g_active.load() == 0)
    return std::nullopt;
  std::lock_guard lock(state().mutex);
  CaptureSession *s = stream->capture.load();
  if (s == nullptr) {
    state().events.erase(event); // recorded outside capture again
    return std::nullopt;
  }
  if (s->invalidated)
    return error(CUDA_ERROR_STREAM_CAPTURE_INVALIDATED,
                 "the stream's capture was invalidated by an earlier error");
  if ((flags & CU_EVENT_RECORD_EXTERNAL) != 0) {
    auto n = std::make_unique<GraphNode>();
    n->type = CU_GRAPH_NODE_TYPE_EVENT_RECORD;
    n->event = reinterpret_cast<CUevent>(event);
    return appendLocked(stream, std::move(n));
  }
  state().events[event] = {s, s->dependencies[stream]};
  return Status{};
}

std::optional<Status> captureEventWait(Stream *stream, Event *event, unsigned flags) {
  if (g_active.load() == 0)
    return std::nullopt;
  std::lock_guard lock(state().mutex);
  CaptureSession *mine = stream->capture.load();
  auto it = state().events.find(event);
  if (it == state().events.end()) {
    if (mine == nullptr)
      return std::nullopt;
    if (mine->invalidated)
      return error(CUDA_ERROR_STREAM_CAPTURE_INVALIDATED,
                   "the stream's capture was invalidated by an earlier error");
    if ((flags & CU_EVENT_WAIT_EXTERNAL) != 0) {
      auto n = std::make_unique<GraphNode>();
      n->type = CU_GRAPH_NODE_TYPE_WAIT_EVENT;
      n->event = reinterpret_cast<CUevent>(event);
      return appendLocked(stream, std::move(n));
    }
    mine->invalidated = true;
    return error(
        CUDA_ERROR_STREAM_CAPTURE_ISOLATION,
        "a capturing stream waited for an event recorded outside the capture (use CU_EVENT_WAIT_EXTERNAL)");
  }
  CaptureSession *theirs = it->second.session;
  if (mine != nullptr && mine != theirs) {
    mine->invalidated = true;
    return error(CUDA_ERROR_STREAM_CAPTURE_MERGE, "the wait would merge two capture sequences");
  }
  if (mine == nullptr) {
    if (stream->kind == Stream::Kind::Legacy) {
      theirs->invalidated = true;
      return error(CUDA_ERROR_STREAM_CAPTURE_IMPLICIT, "the legacy stream cannot join a capture");
    }
    // A fork: the stream joins the capture after the event's nodes.
    theirs->dependencies[stream] = it->second.nodes;
    stream->capture.store(theirs);
    return Status{};
  }
  auto &deps = mine->dependencies[stream];
  for (auto *n : it->second.nodes)
    if (std::find(deps.begin(), deps.end(), n) == deps.end())
      deps.push_back(n);
  return Status{};
}

void captureStreamDestroyed(Stream *stream) {
  if (g_active.load() == 0)
    return;
  CaptureSession *session = nullptr;
  {
    std::lock_guard lock(state().mutex);
    session = stream->capture.load();
    if (session == nullptr)
      return;
    if (session->origin != stream) {
      session->dependencies.erase(stream);
      stream->capture.store(nullptr);
      return;
    }
    endLocked(session);
  }
  if (session->ownsGraph) {
    registerGraph(session->graph, false);
    delete session->graph;
  }
  delete session;
}

Status captureCheckEvent(Event *event) {
  if (g_active.load(std::memory_order_relaxed) == 0)
    return {};
  {
    std::lock_guard lock(state().mutex);
    if (state().events.count(event) != 0)
      return error(CUDA_ERROR_CAPTURED_EVENT, "the event was last recorded in a capturing stream");
  }
  // Otherwise a query or wait on the host is an unsafe call, as in CUDA.
  return captureUnsafeCall("cuEventQuery/cuEventSynchronize");
}

Status captureCheckSubmit(Stream *stream) {
  if (g_active.load(std::memory_order_relaxed) == 0)
    return {};
  if (capturing(stream))
    return fail(stream, CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED,
                "the operation is not permitted on a capturing stream (it would run or wait now)");
  if (stream->kind != Stream::Kind::Legacy)
    return {};
  auto captures = implicitCaptures(stream);
  if (captures.empty())
    return {};
  {
    std::lock_guard lock(state().mutex);
    for (auto *s : captures)
      if (state().sessions.count(s) != 0)
        s->invalidated = true;
  }
  return error(CUDA_ERROR_STREAM_CAPTURE_IMPLICIT,
               "the legacy default stream was used while a blocking stream of its context is capturing");
}

Status captureUnsafeCall(const char *what) {
  if (g_active.load(std::memory_order_relaxed) == 0 || t_mode == CU_STREAM_CAPTURE_MODE_RELAXED)
    return {};
  const auto self = std::this_thread::get_id();
  bool prohibited = false;
  std::lock_guard lock(state().mutex);
  for (CaptureSession *s : state().sessions) {
    if (s->thread == self && s->mode != CU_STREAM_CAPTURE_MODE_RELAXED) {
      s->invalidated = true; // this thread's own capture cannot hold the unsafe call
      prohibited = true;
    } else if (t_mode == CU_STREAM_CAPTURE_MODE_GLOBAL && s->thread != self &&
               s->mode == CU_STREAM_CAPTURE_MODE_GLOBAL) {
      prohibited = true;
    }
  }
  if (!prohibited)
    return {};
  return error(CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED, "{} is not permitted during stream capture ({} mode)",
               what, modeName(t_mode));
}

namespace api {

CUresult cuStreamBeginCapture_v2(CUstream hStream, CUstreamCaptureMode mode) {
  return beginCapture(hStream, nullptr, nullptr, 0, mode);
}

CUresult cuStreamBeginCapture(CUstream hStream) {
  return beginCapture(hStream, nullptr, nullptr, 0, CU_STREAM_CAPTURE_MODE_GLOBAL);
}

CUresult cuStreamBeginCaptureToGraph(CUstream hStream, CUgraph hGraph, const CUgraphNode *dependencies,
                                     const CUgraphEdgeData *dependencyData, size_t numDependencies,
                                     CUstreamCaptureMode mode) {
  auto g = checkGraph(hGraph);
  if (!g)
    return g.status();
  for (std::size_t i = 0; dependencyData != nullptr && i < numDependencies; ++i)
    if (dependencyData[i].from_port != 0 || dependencyData[i].to_port != 0 || dependencyData[i].type != 0)
      return error(CUDA_ERROR_NOT_SUPPORTED,
                   "graph edges with ports or programmatic types are not supported");
  return beginCapture(hStream, *g, dependencies, numDependencies, mode);
}

CUresult cuStreamEndCapture(CUstream hStream, CUgraph *phGraph) {
  auto s = resolveStream(hStream);
  if (!s)
    return s.status();
  Stream *stream = *s;
  CaptureSession *session = nullptr;
  {
    std::lock_guard lock(state().mutex);
    session = stream->capture.load();
    if (session == nullptr)
      return error(CUDA_ERROR_ILLEGAL_STATE, "cuStreamEndCapture: the stream is not capturing");
    if (session->origin != stream)
      return error(CUDA_ERROR_STREAM_CAPTURE_UNMATCHED,
                   "cuStreamEndCapture: the capture began on another stream");
    if (session->mode != CU_STREAM_CAPTURE_MODE_RELAXED && session->thread != std::this_thread::get_id())
      return error(CUDA_ERROR_STREAM_CAPTURE_WRONG_THREAD,
                   "cuStreamEndCapture: a {} capture must end on the thread that began it",
                   modeName(session->mode));
    // A capture into the caller's graph (cuStreamBeginCaptureToGraph) may
    // end without asking for it (NVIDIA's graphConditionalNodes sample does).
    if (phGraph == nullptr && session->ownsGraph)
      return CUDA_ERROR_INVALID_VALUE;
    endLocked(session);
  }
  std::unique_ptr<CaptureSession> owned(session);
  CUgraph ignored = nullptr;
  if (phGraph == nullptr)
    phGraph = &ignored;
  *phGraph = nullptr;
  auto dropGraph = [&] {
    if (session->ownsGraph) {
      registerGraph(session->graph, false);
      delete session->graph;
    }
  };
  if (session->invalidated) {
    dropGraph();
    return error(CUDA_ERROR_STREAM_CAPTURE_INVALIDATED, "cuStreamEndCapture: the capture was invalidated");
  }
  const auto joined = ancestors(session->dependencies[stream]);
  for (auto &[other, deps] : session->dependencies)
    for (auto *n : deps)
      if (other != stream && joined.count(n) == 0) {
        dropGraph();
        return error(
            CUDA_ERROR_STREAM_CAPTURE_UNJOINED,
            "cuStreamEndCapture: work forked to another stream was not joined back into the origin stream");
      }
  *phGraph = reinterpret_cast<CUgraph>(session->graph);
  return CUDA_SUCCESS;
}

CUresult cuStreamIsCapturing(CUstream hStream, CUstreamCaptureStatus *captureStatus) {
  if (captureStatus == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  auto s = resolveStream(hStream);
  if (!s)
    return s.status();
  if ((*s)->kind == Stream::Kind::Legacy && g_active.load() != 0 && !implicitCaptures(*s).empty())
    return CUDA_ERROR_STREAM_CAPTURE_IMPLICIT; // the capture itself is not invalidated
  std::lock_guard lock(state().mutex);
  CaptureSession *session = (*s)->capture.load();
  *captureStatus = session == nullptr     ? CU_STREAM_CAPTURE_STATUS_NONE
                   : session->invalidated ? CU_STREAM_CAPTURE_STATUS_INVALIDATED
                                          : CU_STREAM_CAPTURE_STATUS_ACTIVE;
  return CUDA_SUCCESS;
}

CUresult cuStreamGetCaptureInfo_v3(CUstream hStream, CUstreamCaptureStatus *captureStatus_out,
                                   cuuint64_t *id_out, CUgraph *graph_out,
                                   const CUgraphNode **dependencies_out, const CUgraphEdgeData **edgeData_out,
                                   size_t *numDependencies_out) {
  return captureInfo(hStream, captureStatus_out, id_out, graph_out, dependencies_out, edgeData_out,
                     numDependencies_out);
}

CUresult cuStreamGetCaptureInfo_v2(CUstream hStream, CUstreamCaptureStatus *captureStatus_out,
                                   cuuint64_t *id_out, CUgraph *graph_out,
                                   const CUgraphNode **dependencies_out, size_t *numDependencies_out) {
  return captureInfo(hStream, captureStatus_out, id_out, graph_out, dependencies_out, nullptr,
                     numDependencies_out);
}

CUresult cuStreamGetCaptureInfo(CUstream hStream, CUstreamCaptureStatus *captureStatus_out,
                                cuuint64_t *id_out) {
  return captureInfo(hStream, captureStatus_out, id_out, nullptr, nullptr, nullptr, nullptr);
}

CUresult cuStreamUpdateCaptureDependencies_v2(CUstream hStream, CUgraphNode *dependencies,
                                              const CUgraphEdgeData *dependencyData, size_t numDependencies,
                                              unsigned int flags) {
  if ((flags & ~CU_STREAM_SET_CAPTURE_DEPENDENCIES) != 0 || (numDependencies != 0 && dependencies == nullptr))
    return CUDA_ERROR_INVALID_VALUE;
  for (std::size_t i = 0; dependencyData != nullptr && i < numDependencies; ++i)
    if (dependencyData[i].from_port != 0 || dependencyData[i].to_port != 0 || dependencyData[i].type != 0)
      return error(CUDA_ERROR_NOT_SUPPORTED,
                   "graph edges with ports or programmatic types are not supported");
  auto s = resolveStream(hStream);
  if (!s)
    return s.status();
  std::lock_guard lock(state().mutex);
  CaptureSession *session = (*s)->capture.load();
  if (session == nullptr)
    return error(CUDA_ERROR_ILLEGAL_STATE, "cuStreamUpdateCaptureDependencies: the stream is not capturing");
  if (session->invalidated)
    return CUDA_ERROR_STREAM_CAPTURE_INVALIDATED;
  std::vector<GraphNode *> nodes;
  for (std::size_t i = 0; i < numDependencies; ++i) {
    auto *n = reinterpret_cast<GraphNode *>(dependencies[i]);
    auto &all = session->graph->nodes;
    if (std::none_of(all.begin(), all.end(), [&](auto &p) { return p.get() == n; }))
      return error(CUDA_ERROR_INVALID_VALUE,
                   "cuStreamUpdateCaptureDependencies: node {} is not in the capture graph", i);
    nodes.push_back(n);
  }
  auto &deps = session->dependencies[*s];
  if ((flags & CU_STREAM_SET_CAPTURE_DEPENDENCIES) != 0)
    deps.clear();
  for (auto *n : nodes)
    if (std::find(deps.begin(), deps.end(), n) == deps.end())
      deps.push_back(n);
  return CUDA_SUCCESS;
}

CUresult cuStreamUpdateCaptureDependencies(CUstream hStream, CUgraphNode *dependencies,
                                           size_t numDependencies, unsigned int flags) {
  return api::cuStreamUpdateCaptureDependencies_v2(hStream, dependencies, nullptr, numDependencies, flags);
}

CUresult cuThreadExchangeStreamCaptureMode(CUstreamCaptureMode *mode) {
  if (mode == nullptr ||
      (*mode != CU_STREAM_CAPTURE_MODE_GLOBAL && *mode != CU_STREAM_CAPTURE_MODE_THREAD_LOCAL &&
       *mode != CU_STREAM_CAPTURE_MODE_RELAXED))
    return CUDA_ERROR_INVALID_VALUE;
  std::swap(*mode, t_mode);
  return CUDA_SUCCESS;
}

} // namespace api
} // namespace cuvirt
