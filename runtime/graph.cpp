// CUDA graphs: nodes and edges, node parameters, executable graphs
// (instantiate, launch, update), graph memory and user objects.
//
// A launch enqueues the nodes on the launch stream one after another in a
// topological order (creation order among ready nodes): independent
// branches run serially, which CUDA allows. Each node goes through the same
// entry point a stream would use (cuLaunchKernel, cuMemcpy3DAsync...), so
// validation and execution are the stream path's.
#include "runtime/graph.h"
#include "cuvirt_api.h"
#include "runtime/api_support.h"
#include "runtime/capture.h"
#include <algorithm>
#include <cstring>
#include <thread>
#include <unordered_map>

namespace cuvirt {

/// An executable graph: a private copy of the graph it was made from.
struct GraphExec {
  std::unique_ptr<Graph> graph;
  /// Its nodes by the handles of the nodes they came from (the source graph's,
  /// and those of graphs later given to cuGraphExecUpdate).
  std::unordered_map<const GraphNode *, GraphNode *> nodes;
  std::uint64_t flags = 0;
  std::mutex mutex;
  MarkerPtr last; ///< completes when the latest launch has finished
  std::vector<std::shared_ptr<GraphMemory>> memory;
};

// Captures a child graph node (capture.cpp).
Status captureGraph(Stream *stream, const Graph &graph);

namespace {

// Never destroyed: cudart tears down from atexit handlers.
HandleSet<Graph> &liveGraphs() {
  static auto &set = *new HandleSet<Graph>;
  return set;
}
HandleSet<GraphNode> &liveNodes() {
  static auto &set = *new HandleSet<GraphNode>;
  return set;
}
HandleSet<GraphExec> &liveExecs() {
  static auto &set = *new HandleSet<GraphExec>;
  return set;
}
HandleSet<UserObject> &liveUserObjects() {
  static auto &set = *new HandleSet<UserObject>;
  return set;
}

struct MemoryRegistry {
  std::mutex mutex;
  std::map<std::uint64_t, std::weak_ptr<GraphMemory>> byAddress;
  std::uint64_t usedHigh = 0;
};
MemoryRegistry &memoryRegistry() {
  static auto &r = *new MemoryRegistry;
  return r;
}

void releaseUserObject(UserObject *o, unsigned count) {
  if (o->refs.fetch_sub(count) - static_cast<long>(count) > 0)
    return;
  liveUserObjects().remove(o);
  if (o->destroy != nullptr)
    o->destroy(o->ptr);
  delete o;
}

Expected<GraphNode *> checkNode(CUgraphNode handle) {
  GraphNode *n = liveNodes().find(handle);
  if (n == nullptr)
    return error(CUDA_ERROR_INVALID_VALUE, "invalid graph node {}", static_cast<const void *>(handle));
  return n;
}

Expected<GraphNode *> checkNode(CUgraphNode handle, CUgraphNodeType type) {
  auto n = checkNode(handle);
  if (n && (*n)->type != type)
    return error(CUDA_ERROR_INVALID_VALUE, "graph node {} is of type {}, not {}",
                 static_cast<const void *>(handle), static_cast<int>((*n)->type), static_cast<int>(type));
  return n;
}

Expected<GraphExec *> checkExec(CUgraphExec handle) {
  GraphExec *e = liveExecs().find(handle);
  if (e == nullptr)
    return error(CUDA_ERROR_INVALID_VALUE, "invalid executable graph {}", static_cast<const void *>(handle));
  return e;
}

/// The executable graph's node made from `handle`.
Expected<GraphNode *> execNode(GraphExec *e, CUgraphNode handle, CUgraphNodeType type) {
  auto it = e->nodes.find(reinterpret_cast<const GraphNode *>(handle));
  if (it == e->nodes.end())
    return error(CUDA_ERROR_INVALID_VALUE, "node {} is not part of the executable graph",
                 static_cast<const void *>(handle));
  if (it->second->type != type)
    return error(CUDA_ERROR_INVALID_VALUE, "node {} is of type {}, not {}", static_cast<const void *>(handle),
                 static_cast<int>(it->second->type), static_cast<int>(type));
  return it->second;
}

bool eventHandle(CUevent e) {
  auto *rt = runtimeIfInitialized();
  return rt != nullptr && rt->events.contains(e);
}

void refreshPointers(KernelNode &k) {
  auto f = checkFunction(k.function);
  k.paramPointers.clear();
  if (!f)
    return;
  for (const ParamInfo &p : (*f)->info->params)
    k.paramPointers.push_back(k.params.data() + p.offset);
}

// ---- node parameters -----------------------------------------------------------

Expected<std::unique_ptr<GraphNode>> kernelNode(const CUDA_KERNEL_NODE_PARAMS *p) {
  if (p == nullptr)
    return error(CUDA_ERROR_INVALID_VALUE, "kernel node: NULL parameters");
  auto n = std::make_unique<GraphNode>();
  n->type = CU_GRAPH_NODE_TYPE_KERNEL;
  auto *fn = reinterpret_cast<Function *>(p->func != nullptr ? static_cast<void *>(p->func) : p->kern);
  KernelNode &k = n->kernel;
  const unsigned grid[3] = {p->gridDimX, p->gridDimY, p->gridDimZ},
                 block[3] = {p->blockDimX, p->blockDimY, p->blockDimZ};
  for (int i = 0; i < 3; ++i)
    if (grid[i] == 0 || block[i] == 0)
      return error(CUDA_ERROR_INVALID_VALUE, "kernel node: a grid or block dimension is 0");
  std::memcpy(k.grid, grid, sizeof grid);
  std::memcpy(k.block, block, sizeof block);
  k.sharedBytes = p->sharedMemBytes;
  CUVIRT_TRY(packKernelNode(k, fn, p->kernelParams, p->extra));
  return n;
}

CUDA_KERNEL_NODE_PARAMS fromV1(const CUDA_KERNEL_NODE_PARAMS_v1 &p) {
  CUDA_KERNEL_NODE_PARAMS q{};
  q.func = p.func;
  q.gridDimX = p.gridDimX, q.gridDimY = p.gridDimY, q.gridDimZ = p.gridDimZ;
  q.blockDimX = p.blockDimX, q.blockDimY = p.blockDimY, q.blockDimZ = p.blockDimZ;
  q.sharedMemBytes = p.sharedMemBytes;
  q.kernelParams = p.kernelParams;
  q.extra = p.extra;
  return q;
}

bool validMemoryType(CUmemorytype t) {
  return t == CU_MEMORYTYPE_HOST || t == CU_MEMORYTYPE_DEVICE || t == CU_MEMORYTYPE_ARRAY ||
         t == CU_MEMORYTYPE_UNIFIED;
}

Expected<Context *> optionalContext(CUcontext ctx) {
  if (ctx == nullptr)
    return static_cast<Context *>(nullptr);
  return checkContext(ctx);
}

Expected<std::unique_ptr<GraphNode>> memcpyNode(const CUDA_MEMCPY3D *p, CUcontext ctx) {
  if (p == nullptr || !validMemoryType(p->srcMemoryType) || !validMemoryType(p->dstMemoryType))
    return error(CUDA_ERROR_INVALID_VALUE, "memcpy node: invalid parameters");
  auto c = optionalContext(ctx);
  if (!c)
    return c.status();
  auto n = std::make_unique<GraphNode>();
  n->type = CU_GRAPH_NODE_TYPE_MEMCPY;
  n->copy = *p;
  n->context = *c;
  return n;
}

Expected<std::unique_ptr<GraphNode>> memsetNode(const CUDA_MEMSET_NODE_PARAMS *p, CUcontext ctx) {
  if (p == nullptr)
    return error(CUDA_ERROR_INVALID_VALUE, "memset node: NULL parameters");
  CUVIRT_TRY(checkFillParams(*p));
  auto c = optionalContext(ctx);
  if (!c)
    return c.status();
  auto n = std::make_unique<GraphNode>();
  n->type = CU_GRAPH_NODE_TYPE_MEMSET;
  n->memset = *p;
  n->context = *c;
  return n;
}

Expected<std::unique_ptr<GraphNode>> hostNode(const CUDA_HOST_NODE_PARAMS *p) {
  if (p == nullptr || p->fn == nullptr)
    return error(CUDA_ERROR_INVALID_VALUE, "host node: no function");
  auto n = std::make_unique<GraphNode>();
  n->type = CU_GRAPH_NODE_TYPE_HOST;
  n->host = *p;
  return n;
}

Expected<std::unique_ptr<GraphNode>> childNode(CUgraph child, CUgraphChildGraphNodeOwnership ownership) {
  auto g = checkGraph(child);
  if (!g)
    return g.status();
  if ((*g)->parent != nullptr)
    return error(CUDA_ERROR_INVALID_VALUE, "child graph node: the graph is already another node's child");
  auto n = std::make_unique<GraphNode>();
  n->type = CU_GRAPH_NODE_TYPE_GRAPH;
  if (ownership == CU_GRAPH_CHILD_GRAPH_OWNERSHIP_MOVE) {
    n->child.reset(*g); // the handle stays valid, now naming the node's graph
  } else if (ownership == CU_GRAPH_CHILD_GRAPH_OWNERSHIP_CLONE) {
    for (auto &m : (*g)->nodes)
      if (m->type == CU_GRAPH_NODE_TYPE_MEM_ALLOC || m->type == CU_GRAPH_NODE_TYPE_MEM_FREE)
        return error(CUDA_ERROR_NOT_SUPPORTED,
                     "child graph node: a graph with memory nodes must be moved, not cloned");
    n->child = cloneGraph(**g, false);
  } else {
    return error(CUDA_ERROR_INVALID_VALUE, "child graph node: invalid ownership {}",
                 static_cast<int>(ownership));
  }
  n->child->parent = n.get();
  return n;
}

Expected<std::unique_ptr<GraphNode>> eventNode(CUgraphNodeType type, CUevent event) {
  if (!eventHandle(event))
    return error(CUDA_ERROR_INVALID_VALUE, "event node: invalid event {}", static_cast<const void *>(event));
  auto n = std::make_unique<GraphNode>();
  n->type = type;
  n->event = event;
  return n;
}

Expected<std::unique_ptr<GraphNode>> allocNode(CUDA_MEM_ALLOC_NODE_PARAMS *p) {
  if (p == nullptr || p->bytesize == 0 || p->poolProps.allocType != CU_MEM_ALLOCATION_TYPE_PINNED ||
      p->poolProps.location.type != CU_MEM_LOCATION_TYPE_DEVICE ||
      p->poolProps.handleTypes != CU_MEM_HANDLE_TYPE_NONE)
    return error(CUDA_ERROR_INVALID_VALUE, "mem alloc node: invalid parameters");
  auto d = deviceByOrdinal(p->poolProps.location.id);
  if (!d)
    return error(CUDA_ERROR_INVALID_VALUE, "mem alloc node: invalid device {}", p->poolProps.location.id);
  auto c = requireContext();
  if (!c)
    return c.status();
  auto memory = newGraphMemory(*d, *c, p->bytesize);
  if (!memory)
    return memory.status();
  auto n = std::make_unique<GraphNode>();
  n->type = CU_GRAPH_NODE_TYPE_MEM_ALLOC;
  n->memory = memory.take();
  p->dptr = n->memory->address;
  n->alloc = *p;
  n->alloc.accessDescs = nullptr; // not kept: the caller's array
  n->alloc.accessDescCount = 0;
  return n;
}

Expected<std::unique_ptr<GraphNode>> freeNode(CUdeviceptr dptr) {
  if (!findGraphMemory(dptr))
    return error(CUDA_ERROR_INVALID_VALUE, "mem free node: 0x{:x} is not graph memory", dptr);
  auto n = std::make_unique<GraphNode>();
  n->type = CU_GRAPH_NODE_TYPE_MEM_FREE;
  n->freePointer = dptr;
  return n;
}

/// Conditional handles by value (the slot's address), for checking the ones given.
struct ConditionRegistry {
  std::mutex mutex;
  std::unordered_map<std::uint64_t, std::weak_ptr<ConditionalSlot>> byHandle;
};
ConditionRegistry &conditionRegistry() {
  static auto *r = new ConditionRegistry; // outlives static destructors
  return *r;
}

std::shared_ptr<ConditionalSlot> findCondition(CUgraphConditionalHandle handle) {
  auto &r = conditionRegistry();
  std::lock_guard lock(r.mutex);
  auto it = r.byHandle.find(handle);
  return it == r.byHandle.end() ? nullptr : it->second.lock();
}

/// A conditional node with `p.size` empty body graphs, given out in
/// p.phGraph_out (valid while the node lives).
Expected<std::unique_ptr<GraphNode>> conditionalNode(CUDA_CONDITIONAL_NODE_PARAMS &p) {
  auto slot = findCondition(p.handle);
  if (!slot)
    return error(CUDA_ERROR_INVALID_VALUE, "conditional node: 0x{:x} is not a conditional handle", p.handle);
  if (p.ctx != nullptr && reinterpret_cast<Context *>(p.ctx) != slot->context)
    return error(CUDA_ERROR_INVALID_VALUE, "conditional node: the context is not the handle's");
  const bool sizeOk = (p.type == CU_GRAPH_COND_TYPE_IF && (p.size == 1 || p.size == 2)) ||
                      (p.type == CU_GRAPH_COND_TYPE_WHILE && p.size == 1) ||
                      (p.type == CU_GRAPH_COND_TYPE_SWITCH && p.size >= 1);
  if (!sizeOk)
    return error(CUDA_ERROR_INVALID_VALUE, "conditional node: type {} with {} bodies",
                 static_cast<int>(p.type), p.size);
  auto n = std::make_unique<GraphNode>();
  n->type = CU_GRAPH_NODE_TYPE_CONDITIONAL;
  n->condition = std::move(slot);
  n->conditionType = p.type;
  for (unsigned i = 0; i < p.size; ++i) {
    n->bodies.push_back(std::make_unique<Graph>());
    n->bodies.back()->parent = n.get();
    n->bodyHandles.push_back(reinterpret_cast<CUgraph>(n->bodies.back().get()));
  }
  p.phGraph_out = n->bodyHandles.data();
  return n;
}

Expected<std::unique_ptr<GraphNode>> nodeFromParams(CUgraphNodeParams *p) {
  if (p == nullptr)
    return error(CUDA_ERROR_INVALID_VALUE, "NULL node parameters");
  switch (p->type) {
  case CU_GRAPH_NODE_TYPE_KERNEL: {
    CUDA_KERNEL_NODE_PARAMS k{};
    std::memcpy(&k, &p->kernel, sizeof k);
    return kernelNode(&k);
  }
  case CU_GRAPH_NODE_TYPE_MEMCPY:
    if (p->memcpy.flags != 0 || p->memcpy.reserved != 0)
      return error(CUDA_ERROR_INVALID_VALUE, "memcpy node: flags must be 0");
    return memcpyNode(&p->memcpy.copyParams, p->memcpy.copyCtx);
  case CU_GRAPH_NODE_TYPE_MEMSET: {
    CUDA_MEMSET_NODE_PARAMS m{p->memset.dst,         p->memset.pitch, p->memset.value,
                              p->memset.elementSize, p->memset.width, p->memset.height};
    return memsetNode(&m, p->memset.ctx);
  }
  case CU_GRAPH_NODE_TYPE_HOST: {
    CUDA_HOST_NODE_PARAMS h{p->host.fn, p->host.userData};
    return hostNode(&h);
  }
  case CU_GRAPH_NODE_TYPE_GRAPH:
    return childNode(p->graph.graph, p->graph.ownership);
  case CU_GRAPH_NODE_TYPE_EMPTY: {
    auto n = std::make_unique<GraphNode>();
    n->type = CU_GRAPH_NODE_TYPE_EMPTY;
    return n;
  }
  case CU_GRAPH_NODE_TYPE_WAIT_EVENT:
    return eventNode(CU_GRAPH_NODE_TYPE_WAIT_EVENT, p->eventWait.event);
  case CU_GRAPH_NODE_TYPE_EVENT_RECORD:
    return eventNode(CU_GRAPH_NODE_TYPE_EVENT_RECORD, p->eventRecord.event);
  case CU_GRAPH_NODE_TYPE_MEM_ALLOC: {
    CUDA_MEM_ALLOC_NODE_PARAMS a{};
    std::memcpy(&a, &p->alloc, sizeof a);
    auto n = allocNode(&a);
    if (n)
      p->alloc.dptr = a.dptr;
    return n;
  }
  case CU_GRAPH_NODE_TYPE_MEM_FREE:
    return freeNode(p->free.dptr);
  case CU_GRAPH_NODE_TYPE_CONDITIONAL:
    return conditionalNode(p->conditional);
  default:
    return error(CUDA_ERROR_NOT_SUPPORTED, "graph nodes of type {} are not supported",
                 static_cast<int>(p->type));
  }
}

/// Gives `dst` the parameters of `src` (same type).
void assignParams(GraphNode &dst, GraphNode &src) {
  switch (dst.type) {
  case CU_GRAPH_NODE_TYPE_KERNEL: {
    auto attributes = std::move(dst.kernel.attributes); // not part of the parameters
    dst.kernel = std::move(src.kernel);
    dst.kernel.attributes = std::move(attributes);
    refreshPointers(dst.kernel);
    break;
  }
  case CU_GRAPH_NODE_TYPE_MEMCPY:
    dst.copy = src.copy;
    dst.context = src.context;
    break;
  case CU_GRAPH_NODE_TYPE_MEMSET:
    dst.memset = src.memset;
    dst.context = src.context;
    break;
  case CU_GRAPH_NODE_TYPE_HOST:
    dst.host = src.host;
    break;
  case CU_GRAPH_NODE_TYPE_WAIT_EVENT:
  case CU_GRAPH_NODE_TYPE_EVENT_RECORD:
    dst.event = src.event;
    break;
  default:
    break;
  }
}

// ---- topology --------------------------------------------------------------------

/// A topological order, or the first node on a cycle.
bool topologicalOrder(const Graph &g, std::vector<GraphNode *> &order, GraphNode **cycle) {
  std::unordered_map<const GraphNode *, std::size_t> pending;
  order.clear();
  for (auto &n : g.nodes) {
    pending[n.get()] = n->dependencies.size();
    if (n->dependencies.empty())
      order.push_back(n.get());
  }
  for (std::size_t i = 0; i < order.size(); ++i)
    for (GraphNode *d : order[i]->dependents)
      if (--pending[d] == 0)
        order.push_back(d);
  if (order.size() == g.nodes.size())
    return true;
  for (auto &n : g.nodes)
    if (pending[n.get()] != 0) {
      *cycle = n.get();
      break;
    }
  return false;
}

/// Orders every level of an executable graph; false (and the node) on a cycle.
bool orderAll(Graph &g, GraphNode **cycle) {
  if (!topologicalOrder(g, g.order, cycle))
    return false;
  for (auto &n : g.nodes) {
    if (n->child && !orderAll(*n->child, cycle))
      return false;
    for (auto &b : n->bodies)
      if (!orderAll(*b, cycle))
        return false;
  }
  return true;
}

void mapNodes(GraphExec &e, Graph &g) {
  for (auto &n : g.nodes) {
    if (n->original != nullptr)
      e.nodes[n->original] = n.get();
    if (n->memory)
      e.memory.push_back(n->memory);
    if (n->child)
      mapNodes(e, *n->child);
    for (auto &b : n->bodies)
      mapNodes(e, *b);
  }
}

std::size_t indexIn(const Graph &g, const GraphNode *n) {
  for (std::size_t i = 0; i < g.nodes.size(); ++i)
    if (g.nodes[i].get() == n)
      return i;
  return g.nodes.size();
}

/// Whether `to` can take `from`'s parameters in place (cuGraphExecUpdate).
bool sameTopology(const Graph &to, const Graph &from, CUgraphExecUpdateResult *why, const GraphNode **at,
                  const GraphNode **edgeFrom) {
  if (to.nodes.size() != from.nodes.size()) {
    *why = CU_GRAPH_EXEC_UPDATE_ERROR_TOPOLOGY_CHANGED;
    return false;
  }
  for (std::size_t i = 0; i < from.nodes.size(); ++i) {
    const GraphNode &a = *to.nodes[i], &b = *from.nodes[i];
    *at = &b;
    if (a.type != b.type) {
      *why = CU_GRAPH_EXEC_UPDATE_ERROR_NODE_TYPE_CHANGED;
      return false;
    }
    std::vector<std::size_t> da, db;
    for (auto *d : a.dependencies)
      da.push_back(indexIn(to, d));
    for (auto *d : b.dependencies)
      db.push_back(indexIn(from, d));
    std::sort(da.begin(), da.end());
    std::sort(db.begin(), db.end());
    if (da != db) {
      *why = CU_GRAPH_EXEC_UPDATE_ERROR_TOPOLOGY_CHANGED;
      for (auto *d : b.dependencies)
        if (!std::binary_search(da.begin(), da.end(), indexIn(from, d)))
          *edgeFrom = d;
      return false;
    }
    if ((a.type == CU_GRAPH_NODE_TYPE_MEM_ALLOC && a.alloc.bytesize != b.alloc.bytesize) ||
        (a.type == CU_GRAPH_NODE_TYPE_MEM_FREE && a.freePointer != b.freePointer)) {
      *why = CU_GRAPH_EXEC_UPDATE_ERROR_PARAMETERS_CHANGED;
      return false;
    }
    if (a.type == CU_GRAPH_NODE_TYPE_KERNEL) {
      auto fa = checkFunction(a.kernel.function), fb = checkFunction(b.kernel.function);
      if (!fa || !fb || (*fa)->module->context != (*fb)->module->context) {
        *why = CU_GRAPH_EXEC_UPDATE_ERROR_UNSUPPORTED_FUNCTION_CHANGE;
        return false;
      }
    }
    if (a.type == CU_GRAPH_NODE_TYPE_GRAPH && !sameTopology(*a.child, *b.child, why, at, edgeFrom))
      return false;
    if (a.type == CU_GRAPH_NODE_TYPE_CONDITIONAL) {
      if (a.condition != b.condition || a.conditionType != b.conditionType ||
          a.bodies.size() != b.bodies.size()) {
        *why = CU_GRAPH_EXEC_UPDATE_ERROR_PARAMETERS_CHANGED;
        return false;
      }
      for (std::size_t k = 0; k < a.bodies.size(); ++k)
        if (!sameTopology(*a.bodies[k], *b.bodies[k], why, at, edgeFrom))
          return false;
    }
  }
  return true;
}

/// Copies parameters from `from` into `to` (same topology), remembering the
/// new source nodes as names for the executable graph's.
void updateFrom(GraphExec &e, Graph &to, const Graph &from) {
  for (std::size_t i = 0; i < from.nodes.size(); ++i) {
    GraphNode &a = *to.nodes[i];
    const GraphNode &b = *from.nodes[i];
    e.nodes[&b] = &a;
    if (a.type == CU_GRAPH_NODE_TYPE_GRAPH) {
      updateFrom(e, *a.child, *b.child);
      continue;
    }
    if (a.type == CU_GRAPH_NODE_TYPE_CONDITIONAL) {
      for (std::size_t k = 0; k < a.bodies.size(); ++k)
        updateFrom(e, *a.bodies[k], *b.bodies[k]);
      continue;
    }
    GraphNode copy;
    copy.type = b.type;
    copy.kernel = b.kernel;
    copy.copy = b.copy;
    copy.memset = b.memset;
    copy.host = b.host;
    copy.context = b.context;
    copy.event = b.event;
    assignParams(a, copy);
  }
}

void destroyExec(GraphExec *e) {
  MarkerPtr last;
  {
    std::lock_guard lock(e->mutex);
    last = e->last;
  }
  if (!last || last->done()) {
    delete e;
    return;
  }
  // Its work is still queued: resources (graph memory, user objects) go when it finishes.
  std::thread([e, last] {
    last->wait();
    delete e;
  }).detach();
}

// ---- launch ----------------------------------------------------------------------

Status enqueueGraph(const Graph &g, CUstream stream);

/// Runs conditional node `n` once its stream reaches it (a host step of that
/// stream): reads the condition and runs the chosen body to completion on a
/// private stream, again while a WHILE condition stays non-zero. Work after
/// the node waits for the step. A failing body leaves its error on the
/// context (sticky, as on a GPU) and ends the node.
void runConditional(const GraphNode &n) {
  Context *ctx = n.condition->context;
  if (api::cuCtxSetCurrent(reinterpret_cast<CUcontext>(ctx)) != CUDA_SUCCESS)
    return;
  CUstream body = nullptr;
  if (api::cuStreamCreate(&body, CU_STREAM_NON_BLOCKING) != CUDA_SUCCESS)
    return;
  for (;;) {
    unsigned value = 0;
    if (api::cuMemcpyDtoHAsync_v2(&value, n.condition->address, sizeof value, body) != CUDA_SUCCESS ||
        api::cuStreamSynchronize(body) != CUDA_SUCCESS)
      break;
    const Graph *g = nullptr;
    if (n.conditionType == CU_GRAPH_COND_TYPE_SWITCH)
      g = value < n.bodies.size() ? n.bodies[value].get() : nullptr;
    else if (value != 0)
      g = n.bodies[0].get();
    else if (n.bodies.size() == 2) // IF's else body
      g = n.bodies[1].get();
    if (g == nullptr || !enqueueGraph(*g, body).ok() || api::cuStreamSynchronize(body) != CUDA_SUCCESS)
      break;
    if (n.conditionType != CU_GRAPH_COND_TYPE_WHILE)
      break;
  }
  (void)api::cuStreamDestroy_v2(body);
}

Status enqueueConditional(const GraphNode &n, CUstream stream) {
  auto s = resolveStream(stream);
  if (!s)
    return s.status();
  const GraphNode *node = &n; // the executable graph outlives its queued launches
  return submit(*s, [&](Queue &q) { q.hostFunc([node] { runConditional(*node); }); });
}

/// The CU_GRAPH_COND_ASSIGN_DEFAULT conditions of `g` and the graphs inside it.
void defaultConditions(const Graph &g, std::vector<const ConditionalSlot *> &out) {
  for (auto &c : g.conditions)
    if (c->assignDefault && std::find(out.begin(), out.end(), c.get()) == out.end())
      out.push_back(c.get());
  for (auto &n : g.nodes) {
    if (n->child)
      defaultConditions(*n->child, out);
    for (auto &b : n->bodies)
      defaultConditions(*b, out);
  }
}

Status enqueueGraph(const Graph &g, CUstream stream) {
  for (GraphNode *n : g.order) {
    if (!n->enabled)
      continue;
    CUresult r = CUDA_SUCCESS;
    switch (n->type) {
    case CU_GRAPH_NODE_TYPE_KERNEL: {
      const KernelNode &k = n->kernel;
      std::size_t size = k.params.size();
      void *extra[] = {CU_LAUNCH_PARAM_BUFFER_POINTER, const_cast<std::uint8_t *>(k.params.data()),
                       CU_LAUNCH_PARAM_BUFFER_SIZE, &size, CU_LAUNCH_PARAM_END};
      auto cooperative = k.attributes.find(CU_LAUNCH_ATTRIBUTE_COOPERATIVE);
      if (cooperative != k.attributes.end() && cooperative->second.cooperative != 0) {
        CUlaunchAttribute attr{};
        attr.id = CU_LAUNCH_ATTRIBUTE_COOPERATIVE;
        attr.value.cooperative = 1;
        CUlaunchConfig config{};
        config.gridDimX = k.grid[0], config.gridDimY = k.grid[1], config.gridDimZ = k.grid[2];
        config.blockDimX = k.block[0], config.blockDimY = k.block[1], config.blockDimZ = k.block[2];
        config.sharedMemBytes = k.sharedBytes;
        config.hStream = stream;
        config.attrs = &attr;
        config.numAttrs = 1;
        r = api::cuLaunchKernelEx(&config, reinterpret_cast<CUfunction>(k.function), nullptr,
                                  size != 0 ? extra : nullptr);
        break;
      }
      r = api::cuLaunchKernel(reinterpret_cast<CUfunction>(k.function), k.grid[0], k.grid[1], k.grid[2],
                              k.block[0], k.block[1], k.block[2], k.sharedBytes, stream, nullptr,
                              size != 0 ? extra : nullptr);
      break;
    }
    case CU_GRAPH_NODE_TYPE_MEMCPY:
      r = api::cuMemcpy3DAsync_v2(&n->copy, stream);
      break;
    case CU_GRAPH_NODE_TYPE_MEMSET: {
      const CUDA_MEMSET_NODE_PARAMS &m = n->memset;
      if (m.elementSize == 1)
        r = api::cuMemsetD2D8Async(m.dst, m.pitch, static_cast<unsigned char>(m.value), m.width, m.height,
                                   stream);
      else if (m.elementSize == 2)
        r = api::cuMemsetD2D16Async(m.dst, m.pitch, static_cast<unsigned short>(m.value), m.width, m.height,
                                    stream);
      else
        r = api::cuMemsetD2D32Async(m.dst, m.pitch, m.value, m.width, m.height, stream);
      break;
    }
    case CU_GRAPH_NODE_TYPE_HOST:
      r = api::cuLaunchHostFunc(stream, n->host.fn, n->host.userData);
      break;
    case CU_GRAPH_NODE_TYPE_GRAPH:
      r = enqueueGraph(*n->child, stream);
      break;
    case CU_GRAPH_NODE_TYPE_CONDITIONAL:
      r = enqueueConditional(*n, stream);
      break;
    case CU_GRAPH_NODE_TYPE_WAIT_EVENT:
      r = api::cuStreamWaitEvent(stream, n->event, 0);
      break;
    case CU_GRAPH_NODE_TYPE_EVENT_RECORD:
      r = api::cuEventRecord(n->event, stream);
      break;
    case CU_GRAPH_NODE_TYPE_MEM_ALLOC:
      n->memory->live = true;
      break;
    case CU_GRAPH_NODE_TYPE_MEM_FREE:
      (void)graphMemoryFree(n->freePointer);
      break;
    default:
      break;
    }
    if (r != CUDA_SUCCESS)
      return r;
  }
  return {};
}

Status instantiate(GraphExec **out, Graph *g, std::uint64_t flags, GraphNode **errorNode,
                   CUgraphInstantiateResult *result) {
  *result = CUDA_GRAPH_INSTANTIATE_ERROR;
  constexpr std::uint64_t known =
      CUDA_GRAPH_INSTANTIATE_FLAG_AUTO_FREE_ON_LAUNCH | CUDA_GRAPH_INSTANTIATE_FLAG_UPLOAD |
      CUDA_GRAPH_INSTANTIATE_FLAG_DEVICE_LAUNCH | CUDA_GRAPH_INSTANTIATE_FLAG_USE_NODE_PRIORITY;
  if ((flags & ~known) != 0)
    return error(CUDA_ERROR_INVALID_VALUE, "cuGraphInstantiate: unknown flags 0x{:x}", flags);
  if ((flags & CUDA_GRAPH_INSTANTIATE_FLAG_DEVICE_LAUNCH) != 0) {
    *result = CUDA_GRAPH_INSTANTIATE_NODE_OPERATION_NOT_SUPPORTED;
    return error(CUDA_ERROR_NOT_SUPPORTED, "graphs launched from the device are not supported");
  }
  auto e = std::make_unique<GraphExec>();
  e->graph = cloneGraph(*g, false);
  e->flags = flags;
  GraphNode *cycle = nullptr;
  if (!orderAll(*e->graph, &cycle)) {
    *result = CUDA_GRAPH_INSTANTIATE_INVALID_STRUCTURE;
    *errorNode = const_cast<GraphNode *>(cycle->original);
    return error(CUDA_ERROR_INVALID_VALUE, "cuGraphInstantiate: the graph has a cycle");
  }
  mapNodes(*e, *e->graph);
  *result = CUDA_GRAPH_INSTANTIATE_SUCCESS;
  *out = e.release();
  liveExecs().add(*out);
  return {};
}

template <class T> CUresult listOut(const std::vector<T> &items, T *out, std::size_t *count) {
  if (count == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  if (out == nullptr) {
    *count = items.size();
    return CUDA_SUCCESS;
  }
  const std::size_t n = std::min(*count, items.size());
  std::copy_n(items.begin(), n, out);
  std::fill(out + n, out + *count, T{});
  *count = n;
  return CUDA_SUCCESS;
}

std::vector<CUgraphNode> handles(const std::vector<GraphNode *> &nodes) {
  std::vector<CUgraphNode> out;
  for (auto *n : nodes)
    out.push_back(reinterpret_cast<CUgraphNode>(n));
  return out;
}

CUresult edgeDataOut(CUgraphEdgeData *edgeData, std::size_t count) {
  if (edgeData != nullptr)
    std::memset(edgeData, 0, count * sizeof *edgeData); // only default edges exist
  return CUDA_SUCCESS;
}

Status checkEdgeData(const CUgraphEdgeData *edgeData, std::size_t count) {
  for (std::size_t i = 0; edgeData != nullptr && i < count; ++i)
    if (edgeData[i].from_port != 0 || edgeData[i].to_port != 0 ||
        edgeData[i].type != CU_GRAPH_DEPENDENCY_TYPE_DEFAULT)
      return error(CUDA_ERROR_NOT_SUPPORTED,
                   "graph edges with ports or programmatic types are not supported");
  return {};
}

CUresult addNode(CUgraphNode *out, CUgraph hGraph, const CUgraphNode *deps, std::size_t count,
                 Expected<std::unique_ptr<GraphNode>> node) {
  if (out == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  auto g = checkGraph(hGraph);
  if (!g)
    return g.status();
  if (!node)
    return node.status();
  auto n = addGraphNode(*g, node.take(), deps, count);
  if (!n)
    return n.status();
  *out = reinterpret_cast<CUgraphNode>(*n);
  return CUDA_SUCCESS;
}

void dotGraph(std::FILE *f, const Graph &g, const std::string &prefix) {
  static const char *names[] = {
      "KERNEL",       "MEMCPY",       "MEMSET",           "HOST",           "GRAPH",     "EMPTY",
      "WAIT_EVENT",   "EVENT_RECORD", "EXT_SEMAS_SIGNAL", "EXT_SEMAS_WAIT", "MEM_ALLOC", "MEM_FREE",
      "BATCH_MEM_OP", "CONDITIONAL"};
  for (std::size_t i = 0; i < g.nodes.size(); ++i) {
    const GraphNode &n = *g.nodes[i];
    std::string id = prefix + std::to_string(i);
    const char *type = static_cast<unsigned>(n.type) < std::size(names) ? names[n.type] : "?";
    std::string detail;
    if (n.type == CU_GRAPH_NODE_TYPE_KERNEL) {
      auto f = checkFunction(n.kernel.function);
      detail = fmt::format("\\n{}\\n<<<({},{},{}), ({},{},{}), {}>>>", f ? (*f)->info->name : "?",
                           n.kernel.grid[0], n.kernel.grid[1], n.kernel.grid[2], n.kernel.block[0],
                           n.kernel.block[1], n.kernel.block[2], n.kernel.sharedBytes);
    } else if (n.type == CU_GRAPH_NODE_TYPE_MEMSET) {
      detail = fmt::format("\\ndst 0x{:x} value {} x{} ({}x{})", n.memset.dst, n.memset.value,
                           n.memset.elementSize, n.memset.width, n.memset.height);
    } else if (n.type == CU_GRAPH_NODE_TYPE_MEMCPY) {
      detail = fmt::format("\\n{} x {} x {} bytes", n.copy.WidthInBytes, n.copy.Height, n.copy.Depth);
    } else if (n.type == CU_GRAPH_NODE_TYPE_MEM_ALLOC) {
      detail = fmt::format("\\n0x{:x} ({} bytes)", n.memory->address, n.memory->bytes);
    } else if (n.type == CU_GRAPH_NODE_TYPE_MEM_FREE) {
      detail = fmt::format("\\n0x{:x}", n.freePointer);
    }
    std::fprintf(f, "  %s [shape=box label=\"%s %s%s\"];\n", id.c_str(), id.c_str(), type, detail.c_str());
    if (n.child) {
      std::fprintf(f, "  subgraph cluster_%s {\n  label=\"child of %s\";\n", id.c_str(), id.c_str());
      dotGraph(f, *n.child, id + "_");
      std::fprintf(f, "  }\n");
    }
  }
  for (std::size_t i = 0; i < g.nodes.size(); ++i)
    for (const GraphNode *d : g.nodes[i]->dependencies)
      std::fprintf(f, "  %s%zu -> %s%zu;\n", prefix.c_str(), indexIn(g, d), prefix.c_str(), i);
}

} // namespace

// ---- shared with capture.cpp -----------------------------------------------------

ConditionalSlot::~ConditionalSlot() {
  {
    auto &r = conditionRegistry();
    std::lock_guard lock(r.mutex);
    r.byHandle.erase(address);
  }
  // Not if its context went first (the range may belong to someone else now).
  if (runtimeIfInitialized() == nullptr)
    return;
  if (auto a = findAllocation(address); a && a->base == address && a->context == context)
    (void)freeDevice(address);
}

GraphMemory::~GraphMemory() {
  {
    auto &r = memoryRegistry();
    std::lock_guard lock(r.mutex);
    r.byAddress.erase(address);
  }
  if (runtimeIfInitialized() != nullptr && findAllocation(address))
    (void)freeDevice(address);
}

Graph::~Graph() {
  for (auto [object, count] : userObjects)
    releaseUserObject(object, count);
}

std::shared_ptr<GraphMemory> findGraphMemory(std::uint64_t address) {
  auto &r = memoryRegistry();
  std::lock_guard lock(r.mutex);
  auto it = r.byAddress.find(address);
  return it == r.byAddress.end() ? nullptr : it->second.lock();
}

Expected<std::shared_ptr<GraphMemory>> newGraphMemory(Device *device, Context *owner, std::size_t bytes) {
  auto p = allocateDevice(device, owner, bytes, MemKind::Device);
  if (!p)
    return p.status();
  auto m = std::make_shared<GraphMemory>();
  m->address = *p;
  m->bytes = bytes;
  m->device = device;
  auto &r = memoryRegistry();
  std::lock_guard lock(r.mutex);
  r.byAddress[*p] = m;
  return m;
}

bool graphMemoryFree(std::uint64_t address) {
  auto m = findGraphMemory(address);
  if (!m)
    return false;
  m->live = false;
  return true;
}

Expected<Graph *> checkGraph(CUgraph handle) {
  Graph *g = liveGraphs().find(handle);
  if (g == nullptr)
    return error(CUDA_ERROR_INVALID_VALUE, "invalid graph {}", static_cast<const void *>(handle));
  return g;
}

void registerGraph(Graph *graph, bool add) {
  add ? liveGraphs().add(graph) : liveGraphs().remove(graph);
  for (auto &n : graph->nodes) {
    add ? liveNodes().add(n.get()) : liveNodes().remove(n.get());
    if (n->child)
      registerGraph(n->child.get(), add);
    for (auto &b : n->bodies)
      registerGraph(b.get(), add);
  }
}

Expected<GraphNode *> addGraphNode(Graph *graph, std::unique_ptr<GraphNode> node,
                                   const CUgraphNode *dependencies, std::size_t count) {
  if (count != 0 && dependencies == nullptr)
    return error(CUDA_ERROR_INVALID_VALUE, "graph node: NULL dependency list");
  std::vector<GraphNode *> deps;
  for (std::size_t i = 0; i < count; ++i) {
    auto *d = reinterpret_cast<GraphNode *>(dependencies[i]);
    if (!liveNodes().contains(d) || d->graph != graph)
      return error(CUDA_ERROR_INVALID_VALUE, "graph node: dependency {} is not a node of this graph",
                   static_cast<const void *>(d));
    if (std::find(deps.begin(), deps.end(), d) != deps.end())
      return error(CUDA_ERROR_INVALID_VALUE, "graph node: dependency {} is listed twice",
                   static_cast<const void *>(d));
    deps.push_back(d);
  }
  GraphNode *n = node.get();
  n->graph = graph;
  n->dependencies = deps;
  for (auto *d : deps)
    d->dependents.push_back(n);
  graph->nodes.push_back(std::move(node));
  if (liveGraphs().contains(graph)) {
    liveNodes().add(n);
    if (n->child)
      registerGraph(n->child.get(), true);
    for (auto &b : n->bodies)
      registerGraph(b.get(), true);
  }
  return n;
}

std::unique_ptr<Graph> cloneGraph(const Graph &graph, bool visible) {
  auto g = std::make_unique<Graph>();
  std::unordered_map<const GraphNode *, GraphNode *> map;
  for (auto &n : graph.nodes) {
    auto c = std::make_unique<GraphNode>();
    c->graph = g.get();
    c->type = n->type;
    c->original = n.get();
    c->enabled = n->enabled;
    c->kernel = n->kernel;
    refreshPointers(c->kernel);
    c->copy = n->copy;
    c->memset = n->memset;
    c->host = n->host;
    c->context = n->context;
    c->event = n->event;
    c->memory = n->memory;
    c->alloc = n->alloc;
    c->freePointer = n->freePointer;
    if (n->child) {
      c->child = cloneGraph(*n->child, false);
      c->child->parent = c.get();
    }
    c->condition = n->condition;
    c->conditionType = n->conditionType;
    for (auto &b : n->bodies) {
      c->bodies.push_back(cloneGraph(*b, false));
      c->bodies.back()->parent = c.get();
      c->bodyHandles.push_back(reinterpret_cast<CUgraph>(c->bodies.back().get()));
    }
    map[n.get()] = c.get();
    g->nodes.push_back(std::move(c));
  }
  for (auto &n : graph.nodes) {
    GraphNode *c = map[n.get()];
    for (auto *d : n->dependencies)
      c->dependencies.push_back(map[d]);
    for (auto *d : n->dependents)
      c->dependents.push_back(map[d]);
  }
  for (auto [object, count] : graph.userObjects) {
    object->refs += count;
    g->userObjects[object] = count;
  }
  g->conditions = graph.conditions;
  if (visible)
    registerGraph(g.get(), true);
  return g;
}

Status packKernelNode(KernelNode &node, Function *function, void **kernelParams, void **extra) {
  auto f = checkFunction(function);
  if (!f)
    return f.status();
  const KernelInfo &k = *(*f)->info;
  std::vector<std::uint8_t> out(k.paramBytes(), 0);
  if (kernelParams != nullptr) {
    for (std::size_t i = 0; i < k.params.size(); ++i) {
      if (kernelParams[i] == nullptr)
        return error(CUDA_ERROR_INVALID_VALUE, "kernel node {}: argument {} is NULL", k.name, i);
      std::memcpy(out.data() + k.params[i].offset, kernelParams[i], k.params[i].size);
    }
  } else if (extra != nullptr) {
    const void *buffer = nullptr;
    std::size_t size = 0;
    for (int i = 0; extra[i] != CU_LAUNCH_PARAM_END; i += 2) {
      if (i > 64)
        return error(CUDA_ERROR_INVALID_VALUE, "kernel node {}: 'extra' is not terminated", k.name);
      if (extra[i] == CU_LAUNCH_PARAM_BUFFER_POINTER)
        buffer = extra[i + 1];
      else if (extra[i] == CU_LAUNCH_PARAM_BUFFER_SIZE)
        size = *static_cast<std::size_t *>(extra[i + 1]);
      else
        return error(CUDA_ERROR_INVALID_VALUE, "kernel node {}: unknown 'extra' option {}", k.name, extra[i]);
    }
    if (buffer == nullptr || size < out.size())
      return error(CUDA_ERROR_INVALID_VALUE,
                   "kernel node {}: the 'extra' buffer holds {} of {} parameter bytes", k.name, size,
                   out.size());
    std::memcpy(out.data(), buffer, out.size());
  } else if (!k.params.empty()) {
    return error(CUDA_ERROR_INVALID_VALUE, "kernel node {}: no arguments for {} parameters", k.name,
                 k.params.size());
  }
  node.function = function;
  node.params = std::move(out);
  refreshPointers(node);
  return {};
}

Status checkFillParams(const CUDA_MEMSET_NODE_PARAMS &p) {
  if (p.elementSize != 1 && p.elementSize != 2 && p.elementSize != 4)
    return error(CUDA_ERROR_INVALID_VALUE, "memset node: element size {} is not 1, 2 or 4", p.elementSize);
  if (p.width == 0 || p.height == 0)
    return error(CUDA_ERROR_INVALID_VALUE, "memset node: empty region");
  if (p.height > 1 && p.pitch < p.width * p.elementSize)
    return error(CUDA_ERROR_INVALID_VALUE, "memset node: pitch smaller than the row width");
  auto a = findAllocation(p.dst);
  if (!a || (a->kind != MemKind::Device && a->kind != MemKind::Managed))
    return error(CUDA_ERROR_INVALID_VALUE, "memset node: 0x{:x} is not device memory", p.dst);
  return {};
}

namespace api {

// ---- graphs ------------------------------------------------------------------------

CUresult cuGraphCreate(CUgraph *phGraph, unsigned int flags) {
  if (phGraph == nullptr || flags != 0)
    return CUDA_ERROR_INVALID_VALUE;
  auto rt = runtime();
  if (!rt)
    return rt.status();
  auto *g = new Graph;
  registerGraph(g, true);
  *phGraph = reinterpret_cast<CUgraph>(g);
  return CUDA_SUCCESS;
}

CUresult cuGraphDestroy(CUgraph hGraph) {
  auto g = checkGraph(hGraph);
  if (!g)
    return g.status();
  if ((*g)->parent != nullptr)
    return error(CUDA_ERROR_INVALID_VALUE, "cuGraphDestroy: the graph belongs to a child graph node");
  registerGraph(*g, false);
  delete *g;
  return CUDA_SUCCESS;
}

CUresult cuGraphClone(CUgraph *phGraphClone, CUgraph originalGraph) {
  if (phGraphClone == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  auto g = checkGraph(originalGraph);
  if (!g)
    return g.status();
  *phGraphClone = reinterpret_cast<CUgraph>(cloneGraph(**g, true).release());
  return CUDA_SUCCESS;
}

CUresult cuGraphNodeFindInClone(CUgraphNode *phNode, CUgraphNode hOriginalNode, CUgraph hClonedGraph) {
  if (phNode == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  auto g = checkGraph(hClonedGraph);
  if (!g)
    return g.status();
  auto *original = reinterpret_cast<const GraphNode *>(hOriginalNode);
  for (auto &n : (*g)->nodes)
    if (n->original == original) {
      *phNode = reinterpret_cast<CUgraphNode>(n.get());
      return CUDA_SUCCESS;
    }
  return error(CUDA_ERROR_INVALID_VALUE, "cuGraphNodeFindInClone: no clone of node {} in graph {}",
               static_cast<const void *>(hOriginalNode), static_cast<const void *>(hClonedGraph));
}

// ---- adding nodes ------------------------------------------------------------------

CUresult cuGraphAddKernelNode_v2(CUgraphNode *phGraphNode, CUgraph hGraph, const CUgraphNode *dependencies,
                                 size_t numDependencies, const CUDA_KERNEL_NODE_PARAMS *nodeParams) {
  return addNode(phGraphNode, hGraph, dependencies, numDependencies, kernelNode(nodeParams));
}

CUresult cuGraphAddKernelNode(CUgraphNode *phGraphNode, CUgraph hGraph, const CUgraphNode *dependencies,
                              size_t numDependencies, const CUDA_KERNEL_NODE_PARAMS_v1 *nodeParams) {
  if (nodeParams == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  CUDA_KERNEL_NODE_PARAMS p = fromV1(*nodeParams);
  return api::cuGraphAddKernelNode_v2(phGraphNode, hGraph, dependencies, numDependencies, &p);
}

CUresult cuGraphAddMemcpyNode(CUgraphNode *phGraphNode, CUgraph hGraph, const CUgraphNode *dependencies,
                              size_t numDependencies, const CUDA_MEMCPY3D *copyParams, CUcontext ctx) {
  return addNode(phGraphNode, hGraph, dependencies, numDependencies, memcpyNode(copyParams, ctx));
}

CUresult cuGraphAddMemsetNode(CUgraphNode *phGraphNode, CUgraph hGraph, const CUgraphNode *dependencies,
                              size_t numDependencies, const CUDA_MEMSET_NODE_PARAMS *memsetParams,
                              CUcontext ctx) {
  return addNode(phGraphNode, hGraph, dependencies, numDependencies, memsetNode(memsetParams, ctx));
}

CUresult cuGraphAddHostNode(CUgraphNode *phGraphNode, CUgraph hGraph, const CUgraphNode *dependencies,
                            size_t numDependencies, const CUDA_HOST_NODE_PARAMS *nodeParams) {
  return addNode(phGraphNode, hGraph, dependencies, numDependencies, hostNode(nodeParams));
}

CUresult cuGraphAddChildGraphNode(CUgraphNode *phGraphNode, CUgraph hGraph, const CUgraphNode *dependencies,
                                  size_t numDependencies, CUgraph childGraph) {
  if (childGraph == hGraph)
    return CUDA_ERROR_INVALID_VALUE;
  return addNode(phGraphNode, hGraph, dependencies, numDependencies,
                 childNode(childGraph, CU_GRAPH_CHILD_GRAPH_OWNERSHIP_CLONE));
}

CUresult cuGraphAddEmptyNode(CUgraphNode *phGraphNode, CUgraph hGraph, const CUgraphNode *dependencies,
                             size_t numDependencies) {
  auto n = std::make_unique<GraphNode>();
  n->type = CU_GRAPH_NODE_TYPE_EMPTY;
  return addNode(phGraphNode, hGraph, dependencies, numDependencies, std::move(n));
}

CUresult cuGraphAddEventRecordNode(CUgraphNode *phGraphNode, CUgraph hGraph, const CUgraphNode *dependencies,
                                   size_t numDependencies, CUevent event) {
  return addNode(phGraphNode, hGraph, dependencies, numDependencies,
                 eventNode(CU_GRAPH_NODE_TYPE_EVENT_RECORD, event));
}

CUresult cuGraphAddEventWaitNode(CUgraphNode *phGraphNode, CUgraph hGraph, const CUgraphNode *dependencies,
                                 size_t numDependencies, CUevent event) {
  return addNode(phGraphNode, hGraph, dependencies, numDependencies,
                 eventNode(CU_GRAPH_NODE_TYPE_WAIT_EVENT, event));
}

CUresult cuGraphAddMemAllocNode(CUgraphNode *phGraphNode, CUgraph hGraph, const CUgraphNode *dependencies,
                                size_t numDependencies, CUDA_MEM_ALLOC_NODE_PARAMS *nodeParams) {
  if (phGraphNode == nullptr || !checkGraph(hGraph))
    return CUDA_ERROR_INVALID_VALUE;
  return addNode(phGraphNode, hGraph, dependencies, numDependencies, allocNode(nodeParams));
}

CUresult cuGraphAddMemFreeNode(CUgraphNode *phGraphNode, CUgraph hGraph, const CUgraphNode *dependencies,
                               size_t numDependencies, CUdeviceptr dptr) {
  return addNode(phGraphNode, hGraph, dependencies, numDependencies, freeNode(dptr));
}

CUresult cuGraphAddNode_v2(CUgraphNode *phGraphNode, CUgraph hGraph, const CUgraphNode *dependencies,
                           const CUgraphEdgeData *dependencyData, size_t numDependencies,
                           CUgraphNodeParams *nodeParams) {
  if (Status s = checkEdgeData(dependencyData, numDependencies); !s.ok())
    return s;
  if (phGraphNode == nullptr || !checkGraph(hGraph))
    return CUDA_ERROR_INVALID_VALUE;
  return addNode(phGraphNode, hGraph, dependencies, numDependencies, nodeFromParams(nodeParams));
}

CUresult cuGraphAddNode(CUgraphNode *phGraphNode, CUgraph hGraph, const CUgraphNode *dependencies,
                        size_t numDependencies, CUgraphNodeParams *nodeParams) {
  return api::cuGraphAddNode_v2(phGraphNode, hGraph, dependencies, nullptr, numDependencies, nodeParams);
}

CUresult cuGraphConditionalHandleCreate(CUgraphConditionalHandle *pHandle_out, CUgraph hGraph, CUcontext ctx,
                                        unsigned int defaultLaunchValue, unsigned int flags) {
  if (pHandle_out == nullptr || (flags & ~CU_GRAPH_COND_ASSIGN_DEFAULT) != 0)
    return CUDA_ERROR_INVALID_VALUE;
  auto g = checkGraph(hGraph);
  if (!g)
    return g.status();
  auto c = checkContext(ctx);
  if (!c)
    return c.status();
  auto address = allocateDevice((*c)->device, *c, sizeof(unsigned), MemKind::Device);
  if (!address)
    return address.status();
  auto slot = std::make_shared<ConditionalSlot>();
  slot->address = *address;
  slot->context = *c;
  slot->defaultValue = defaultLaunchValue;
  slot->assignDefault = (flags & CU_GRAPH_COND_ASSIGN_DEFAULT) != 0;
  // The slot starts at the default with the flag, else 0. Written by the
  // backend directly: a stream copy would be refused while a stream captures
  // (handles are made for capture graphs too).
  FillOp init;
  init.dst = slot->address;
  init.pitch = sizeof(unsigned);
  init.width = 1;
  init.value = slot->assignDefault ? defaultLaunchValue : 0;
  init.elementSize = sizeof(unsigned);
  CUVIRT_TRY((*c)->device->backend->fillNow(init));
  {
    auto &r = conditionRegistry();
    std::lock_guard lock(r.mutex);
    r.byHandle[slot->address] = slot;
  }
  (*g)->conditions.push_back(slot);
  *pHandle_out = slot->address;
  return CUDA_SUCCESS;
}

// ---- edges and queries ---------------------------------------------------------------

CUresult cuGraphAddDependencies_v2(CUgraph hGraph, const CUgraphNode *from, const CUgraphNode *to,
                                   const CUgraphEdgeData *edgeData, size_t numDependencies) {
  auto g = checkGraph(hGraph);
  if (!g)
    return g.status();
  if (numDependencies != 0 && (from == nullptr || to == nullptr))
    return CUDA_ERROR_INVALID_VALUE;
  if (Status s = checkEdgeData(edgeData, numDependencies); !s.ok())
    return s;
  // Checked first, so that a bad pair adds none of the edges.
  for (std::size_t i = 0; i < numDependencies; ++i) {
    auto *a = liveNodes().find(from[i]);
    auto *b = liveNodes().find(to[i]);
    if (a == nullptr || b == nullptr || a->graph != *g || b->graph != *g || a == b)
      return error(CUDA_ERROR_INVALID_VALUE, "cuGraphAddDependencies: edge {} names nodes outside the graph",
                   i);
    if (std::find(b->dependencies.begin(), b->dependencies.end(), a) != b->dependencies.end())
      return error(CUDA_ERROR_INVALID_VALUE, "cuGraphAddDependencies: edge {} exists already", i);
    for (std::size_t j = 0; j < i; ++j)
      if (from[j] == from[i] && to[j] == to[i])
        return error(CUDA_ERROR_INVALID_VALUE, "cuGraphAddDependencies: edge {} is listed twice", i);
  }
  for (std::size_t i = 0; i < numDependencies; ++i) {
    auto *a = reinterpret_cast<GraphNode *>(from[i]);
    auto *b = reinterpret_cast<GraphNode *>(to[i]);
    b->dependencies.push_back(a);
    a->dependents.push_back(b);
  }
  return CUDA_SUCCESS;
}

CUresult cuGraphAddDependencies(CUgraph hGraph, const CUgraphNode *from, const CUgraphNode *to,
                                size_t numDependencies) {
  return api::cuGraphAddDependencies_v2(hGraph, from, to, nullptr, numDependencies);
}

CUresult cuGraphRemoveDependencies_v2(CUgraph hGraph, const CUgraphNode *from, const CUgraphNode *to,
                                      const CUgraphEdgeData *edgeData, size_t numDependencies) {
  auto g = checkGraph(hGraph);
  if (!g)
    return g.status();
  if (numDependencies != 0 && (from == nullptr || to == nullptr))
    return CUDA_ERROR_INVALID_VALUE;
  if (Status s = checkEdgeData(edgeData, numDependencies); !s.ok())
    return s;
  for (std::size_t i = 0; i < numDependencies; ++i) {
    auto *a = liveNodes().find(from[i]);
    auto *b = liveNodes().find(to[i]);
    if (a == nullptr || b == nullptr || a->graph != *g || b->graph != *g ||
        std::find(b->dependencies.begin(), b->dependencies.end(), a) == b->dependencies.end())
      return error(CUDA_ERROR_INVALID_VALUE, "cuGraphRemoveDependencies: edge {} does not exist", i);
  }
  for (std::size_t i = 0; i < numDependencies; ++i) {
    auto *a = reinterpret_cast<GraphNode *>(from[i]);
    auto *b = reinterpret_cast<GraphNode *>(to[i]);
    std::erase(b->dependencies, a);
    std::erase(a->dependents, b);
  }
  return CUDA_SUCCESS;
}

CUresult cuGraphRemoveDependencies(CUgraph hGraph, const CUgraphNode *from, const CUgraphNode *to,
                                   size_t numDependencies) {
  return api::cuGraphRemoveDependencies_v2(hGraph, from, to, nullptr, numDependencies);
}

CUresult cuGraphGetEdges_v2(CUgraph hGraph, CUgraphNode *from, CUgraphNode *to, CUgraphEdgeData *edgeData,
                            size_t *numEdges) {
  auto g = checkGraph(hGraph);
  if (!g)
    return g.status();
  if (numEdges == nullptr || (from == nullptr) != (to == nullptr) || (edgeData != nullptr && from == nullptr))
    return CUDA_ERROR_INVALID_VALUE;
  std::vector<CUgraphNode> a, b;
  for (auto &n : (*g)->nodes)
    for (auto *d : n->dependencies) {
      a.push_back(reinterpret_cast<CUgraphNode>(d));
      b.push_back(reinterpret_cast<CUgraphNode>(n.get()));
    }
  if (from == nullptr) {
    *numEdges = a.size();
    return CUDA_SUCCESS;
  }
  std::size_t count = *numEdges;
  (void)listOut(a, from, &count);
  count = *numEdges;
  (void)listOut(b, to, numEdges);
  return edgeDataOut(edgeData, count);
}

CUresult cuGraphGetEdges(CUgraph hGraph, CUgraphNode *from, CUgraphNode *to, size_t *numEdges) {
  return api::cuGraphGetEdges_v2(hGraph, from, to, nullptr, numEdges);
}

CUresult cuGraphGetNodes(CUgraph hGraph, CUgraphNode *nodes, size_t *numNodes) {
  auto g = checkGraph(hGraph);
  if (!g)
    return g.status();
  std::vector<GraphNode *> all;
  for (auto &n : (*g)->nodes)
    all.push_back(n.get());
  return listOut(handles(all), nodes, numNodes);
}

CUresult cuGraphGetRootNodes(CUgraph hGraph, CUgraphNode *rootNodes, size_t *numRootNodes) {
  auto g = checkGraph(hGraph);
  if (!g)
    return g.status();
  std::vector<GraphNode *> roots;
  for (auto &n : (*g)->nodes)
    if (n->dependencies.empty())
      roots.push_back(n.get());
  return listOut(handles(roots), rootNodes, numRootNodes);
}

CUresult cuGraphNodeGetDependencies_v2(CUgraphNode hNode, CUgraphNode *dependencies,
                                       CUgraphEdgeData *edgeData, size_t *numDependencies) {
  auto n = checkNode(hNode);
  if (!n)
    return n.status();
  CUresult r = listOut(handles((*n)->dependencies), dependencies, numDependencies);
  return r != CUDA_SUCCESS || dependencies == nullptr ? r : edgeDataOut(edgeData, *numDependencies);
}

CUresult cuGraphNodeGetDependencies(CUgraphNode hNode, CUgraphNode *dependencies, size_t *numDependencies) {
  return api::cuGraphNodeGetDependencies_v2(hNode, dependencies, nullptr, numDependencies);
}

CUresult cuGraphNodeGetDependentNodes_v2(CUgraphNode hNode, CUgraphNode *dependentNodes,
                                         CUgraphEdgeData *edgeData, size_t *numDependentNodes) {
  auto n = checkNode(hNode);
  if (!n)
    return n.status();
  CUresult r = listOut(handles((*n)->dependents), dependentNodes, numDependentNodes);
  return r != CUDA_SUCCESS || dependentNodes == nullptr ? r : edgeDataOut(edgeData, *numDependentNodes);
}

CUresult cuGraphNodeGetDependentNodes(CUgraphNode hNode, CUgraphNode *dependentNodes,
                                      size_t *numDependentNodes) {
  return api::cuGraphNodeGetDependentNodes_v2(hNode, dependentNodes, nullptr, numDependentNodes);
}

CUresult cuGraphNodeGetType(CUgraphNode hNode, CUgraphNodeType *type) {
  if (type == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  auto n = checkNode(hNode);
  if (!n)
    return n.status();
  *type = (*n)->type;
  return CUDA_SUCCESS;
}

CUresult cuGraphDestroyNode(CUgraphNode hNode) {
  auto n = checkNode(hNode);
  if (!n)
    return n.status();
  GraphNode *node = *n;
  Graph *g = node->graph;
  for (auto *d : node->dependencies)
    std::erase(d->dependents, node);
  for (auto *d : node->dependents)
    std::erase(d->dependencies, node);
  liveNodes().remove(node);
  if (node->child)
    registerGraph(node->child.get(), false);
  for (auto &b : node->bodies)
    registerGraph(b.get(), false);
  std::erase_if(g->nodes, [&](const std::unique_ptr<GraphNode> &p) { return p.get() == node; });
  return CUDA_SUCCESS;
}

CUresult cuGraphDebugDotPrint(CUgraph hGraph, const char *path, unsigned int) {
  if (path == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  auto g = checkGraph(hGraph);
  if (!g)
    return g.status();
  std::FILE *f = std::fopen(path, "w");
  if (f == nullptr)
    return error(CUDA_ERROR_OPERATING_SYSTEM, "cuGraphDebugDotPrint: cannot write {}", path);
  std::fprintf(f, "digraph cuvirt_graph {\n  compound=true;\n");
  dotGraph(f, **g, "n");
  std::fprintf(f, "}\n");
  return std::fclose(f) == 0 ? CUDA_SUCCESS : CUDA_ERROR_OPERATING_SYSTEM;
}

// ---- node parameters ---------------------------------------------------------------------

CUresult cuGraphKernelNodeGetParams_v2(CUgraphNode hNode, CUDA_KERNEL_NODE_PARAMS *nodeParams) {
  if (nodeParams == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  auto n = checkNode(hNode, CU_GRAPH_NODE_TYPE_KERNEL);
  if (!n)
    return n.status();
  KernelNode &k = (*n)->kernel;
  *nodeParams = {};
  nodeParams->func = reinterpret_cast<CUfunction>(k.function);
  nodeParams->gridDimX = k.grid[0], nodeParams->gridDimY = k.grid[1], nodeParams->gridDimZ = k.grid[2];
  nodeParams->blockDimX = k.block[0], nodeParams->blockDimY = k.block[1], nodeParams->blockDimZ = k.block[2];
  nodeParams->sharedMemBytes = k.sharedBytes;
  nodeParams->kernelParams = k.paramPointers.empty() ? nullptr : k.paramPointers.data();
  if (auto f = checkFunction(k.function))
    nodeParams->ctx = reinterpret_cast<CUcontext>((*f)->module->context);
  return CUDA_SUCCESS;
}

CUresult cuGraphKernelNodeGetParams(CUgraphNode hNode, CUDA_KERNEL_NODE_PARAMS_v1 *nodeParams) {
  if (nodeParams == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  CUDA_KERNEL_NODE_PARAMS p{};
  CUresult r = api::cuGraphKernelNodeGetParams_v2(hNode, &p);
  if (r == CUDA_SUCCESS)
    std::memcpy(nodeParams, &p, sizeof *nodeParams); // v1 is v2's prefix
  return r;
}

CUresult cuGraphKernelNodeSetParams_v2(CUgraphNode hNode, const CUDA_KERNEL_NODE_PARAMS *nodeParams) {
  auto n = checkNode(hNode, CU_GRAPH_NODE_TYPE_KERNEL);
  if (!n)
    return n.status();
  auto made = kernelNode(nodeParams);
  if (!made)
    return made.status();
  assignParams(**n, **made);
  return CUDA_SUCCESS;
}

CUresult cuGraphKernelNodeSetParams(CUgraphNode hNode, const CUDA_KERNEL_NODE_PARAMS_v1 *nodeParams) {
  if (nodeParams == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  CUDA_KERNEL_NODE_PARAMS p = fromV1(*nodeParams);
  return api::cuGraphKernelNodeSetParams_v2(hNode, &p);
}

CUresult cuGraphKernelNodeSetAttribute(CUgraphNode hNode, CUkernelNodeAttrID attr,
                                       const CUkernelNodeAttrValue *value) {
  if (value == nullptr || attr <= 0 || attr >= CU_LAUNCH_ATTRIBUTE_MAX)
    return CUDA_ERROR_INVALID_VALUE;
  auto n = checkNode(hNode, CU_GRAPH_NODE_TYPE_KERNEL);
  if (!n)
    return n.status();
  (*n)->kernel.attributes[attr] = *value;
  return CUDA_SUCCESS;
}

CUresult cuGraphKernelNodeGetAttribute(CUgraphNode hNode, CUkernelNodeAttrID attr,
                                       CUkernelNodeAttrValue *value_out) {
  if (value_out == nullptr || attr <= 0 || attr >= CU_LAUNCH_ATTRIBUTE_MAX)
    return CUDA_ERROR_INVALID_VALUE;
  auto n = checkNode(hNode, CU_GRAPH_NODE_TYPE_KERNEL);
  if (!n)
    return n.status();
  auto it = (*n)->kernel.attributes.find(attr);
  if (it != (*n)->kernel.attributes.end())
    *value_out = it->second;
  else
    std::memset(value_out, 0, sizeof *value_out); // the defaults
  return CUDA_SUCCESS;
}

CUresult cuGraphKernelNodeCopyAttributes(CUgraphNode dst, CUgraphNode src) {
  auto d = checkNode(dst, CU_GRAPH_NODE_TYPE_KERNEL);
  if (!d)
    return d.status();
  auto s = checkNode(src, CU_GRAPH_NODE_TYPE_KERNEL);
  if (!s)
    return s.status();
  (*d)->kernel.attributes = (*s)->kernel.attributes;
  return CUDA_SUCCESS;
}

CUresult cuGraphMemcpyNodeGetParams(CUgraphNode hNode, CUDA_MEMCPY3D *nodeParams) {
  if (nodeParams == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  auto n = checkNode(hNode, CU_GRAPH_NODE_TYPE_MEMCPY);
  if (!n)
    return n.status();
  *nodeParams = (*n)->copy;
  return CUDA_SUCCESS;
}

CUresult cuGraphMemcpyNodeSetParams(CUgraphNode hNode, const CUDA_MEMCPY3D *nodeParams) {
  auto n = checkNode(hNode, CU_GRAPH_NODE_TYPE_MEMCPY);
  if (!n)
    return n.status();
  auto made = memcpyNode(nodeParams, reinterpret_cast<CUcontext>((*n)->context));
  if (!made)
    return made.status();
  assignParams(**n, **made);
  return CUDA_SUCCESS;
}

CUresult cuGraphMemsetNodeGetParams(CUgraphNode hNode, CUDA_MEMSET_NODE_PARAMS *nodeParams) {
  if (nodeParams == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  auto n = checkNode(hNode, CU_GRAPH_NODE_TYPE_MEMSET);
  if (!n)
    return n.status();
  *nodeParams = (*n)->memset;
  return CUDA_SUCCESS;
}

CUresult cuGraphMemsetNodeSetParams(CUgraphNode hNode, const CUDA_MEMSET_NODE_PARAMS *nodeParams) {
  auto n = checkNode(hNode, CU_GRAPH_NODE_TYPE_MEMSET);
  if (!n)
    return n.status();
  auto made = memsetNode(nodeParams, reinterpret_cast<CUcontext>((*n)->context));
  if (!made)
    return made.status();
  assignParams(**n, **made);
  return CUDA_SUCCESS;
}

CUresult cuGraphHostNodeGetParams(CUgraphNode hNode, CUDA_HOST_NODE_PARAMS *nodeParams) {
  if (nodeParams == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  auto n = checkNode(hNode, CU_GRAPH_NODE_TYPE_HOST);
  if (!n)
    return n.status();
  *nodeParams = (*n)->host;
  return CUDA_SUCCESS;
}

CUresult cuGraphHostNodeSetParams(CUgraphNode hNode, const CUDA_HOST_NODE_PARAMS *nodeParams) {
  auto n = checkNode(hNode, CU_GRAPH_NODE_TYPE_HOST);
  if (!n)
    return n.status();
  auto made = hostNode(nodeParams);
  if (!made)
    return made.status();
  assignParams(**n, **made);
  return CUDA_SUCCESS;
}

CUresult cuGraphChildGraphNodeGetGraph(CUgraphNode hNode, CUgraph *phGraph) {
  if (phGraph == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  auto n = checkNode(hNode, CU_GRAPH_NODE_TYPE_GRAPH);
  if (!n)
    return n.status();
  *phGraph = reinterpret_cast<CUgraph>((*n)->child.get());
  return CUDA_SUCCESS;
}

namespace {
// Event record and event wait nodes hold their event the same way.
CUresult getNodeEvent(CUgraphNode hNode, CUgraphNodeType type, CUevent *event_out) {
  if (event_out == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  auto n = checkNode(hNode, type);
  if (!n)
    return n.status();
  *event_out = (*n)->event;
  return CUDA_SUCCESS;
}

CUresult setNodeEvent(CUgraphNode hNode, CUgraphNodeType type, CUevent event) {
  auto n = checkNode(hNode, type);
  if (!n)
    return n.status();
  if (!eventHandle(event))
    return CUDA_ERROR_INVALID_VALUE;
  (*n)->event = event;
  return CUDA_SUCCESS;
}
} // namespace

CUresult cuGraphEventRecordNodeGetEvent(CUgraphNode hNode, CUevent *event_out) {
  return getNodeEvent(hNode, CU_GRAPH_NODE_TYPE_EVENT_RECORD, event_out);
}

CUresult cuGraphEventRecordNodeSetEvent(CUgraphNode hNode, CUevent event) {
  return setNodeEvent(hNode, CU_GRAPH_NODE_TYPE_EVENT_RECORD, event);
}

CUresult cuGraphEventWaitNodeGetEvent(CUgraphNode hNode, CUevent *event_out) {
  return getNodeEvent(hNode, CU_GRAPH_NODE_TYPE_WAIT_EVENT, event_out);
}

CUresult cuGraphEventWaitNodeSetEvent(CUgraphNode hNode, CUevent event) {
  return setNodeEvent(hNode, CU_GRAPH_NODE_TYPE_WAIT_EVENT, event);
}

CUresult cuGraphMemAllocNodeGetParams(CUgraphNode hNode, CUDA_MEM_ALLOC_NODE_PARAMS *params_out) {
  if (params_out == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  auto n = checkNode(hNode, CU_GRAPH_NODE_TYPE_MEM_ALLOC);
  if (!n)
    return n.status();
  *params_out = (*n)->alloc;
  return CUDA_SUCCESS;
}

CUresult cuGraphMemFreeNodeGetParams(CUgraphNode hNode, CUdeviceptr *dptr_out) {
  if (dptr_out == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  auto n = checkNode(hNode, CU_GRAPH_NODE_TYPE_MEM_FREE);
  if (!n)
    return n.status();
  *dptr_out = (*n)->freePointer;
  return CUDA_SUCCESS;
}

CUresult cuGraphNodeSetParams(CUgraphNode hNode, CUgraphNodeParams *nodeParams) {
  auto n = checkNode(hNode);
  if (!n)
    return n.status();
  if (nodeParams == nullptr || nodeParams->type != (*n)->type)
    return CUDA_ERROR_INVALID_VALUE;
  switch (nodeParams->type) {
  case CU_GRAPH_NODE_TYPE_MEM_ALLOC:
  case CU_GRAPH_NODE_TYPE_MEM_FREE:
  case CU_GRAPH_NODE_TYPE_GRAPH:
    return error(CUDA_ERROR_INVALID_VALUE,
                 "cuGraphNodeSetParams: the parameters of this node type cannot change");
  default:
    break;
  }
  auto made = nodeFromParams(nodeParams);
  if (!made)
    return made.status();
  assignParams(**n, **made);
  return CUDA_SUCCESS;
}

// ---- executable graphs --------------------------------------------------------------------

CUresult cuGraphInstantiateWithFlags(CUgraphExec *phGraphExec, CUgraph hGraph, unsigned long long flags) {
  if (phGraphExec == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  auto g = checkGraph(hGraph);
  if (!g)
    return g.status();
  GraphExec *e = nullptr;
  GraphNode *errorNode = nullptr;
  CUgraphInstantiateResult result{};
  if (Status s = instantiate(&e, *g, flags, &errorNode, &result); !s.ok())
    return s;
  *phGraphExec = reinterpret_cast<CUgraphExec>(e);
  return CUDA_SUCCESS;
}

CUresult cuGraphInstantiate_v2(CUgraphExec *phGraphExec, CUgraph hGraph, CUgraphNode *phErrorNode,
                               char *logBuffer, size_t bufferSize) {
  if (phGraphExec == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  auto g = checkGraph(hGraph);
  if (!g)
    return g.status();
  GraphExec *e = nullptr;
  GraphNode *errorNode = nullptr;
  CUgraphInstantiateResult result{};
  Status s = instantiate(&e, *g, 0, &errorNode, &result);
  if (phErrorNode != nullptr)
    *phErrorNode = reinterpret_cast<CUgraphNode>(errorNode);
  if (logBuffer != nullptr && bufferSize != 0) {
    std::string log = s.ok() ? "" : lastErrorMessage();
    std::snprintf(logBuffer, bufferSize, "%s", log.c_str());
  }
  if (!s.ok())
    return s;
  *phGraphExec = reinterpret_cast<CUgraphExec>(e);
  return CUDA_SUCCESS;
}

CUresult cuGraphInstantiate(CUgraphExec *phGraphExec, CUgraph hGraph, CUgraphNode *phErrorNode,
                            char *logBuffer, size_t bufferSize) {
  return api::cuGraphInstantiate_v2(phGraphExec, hGraph, phErrorNode, logBuffer, bufferSize);
}

CUresult cuGraphInstantiateWithParams(CUgraphExec *phGraphExec, CUgraph hGraph,
                                      CUDA_GRAPH_INSTANTIATE_PARAMS *instantiateParams) {
  if (phGraphExec == nullptr || instantiateParams == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  auto g = checkGraph(hGraph);
  if (!g)
    return g.status();
  GraphExec *e = nullptr;
  GraphNode *errorNode = nullptr;
  Status s = instantiate(&e, *g, instantiateParams->flags, &errorNode, &instantiateParams->result_out);
  instantiateParams->hErrNode_out = reinterpret_cast<CUgraphNode>(errorNode);
  if (!s.ok())
    return s;
  *phGraphExec = reinterpret_cast<CUgraphExec>(e);
  if ((instantiateParams->flags & CUDA_GRAPH_INSTANTIATE_FLAG_UPLOAD) != 0)
    return api::cuGraphUpload(*phGraphExec, instantiateParams->hUploadStream);
  return CUDA_SUCCESS;
}

CUresult cuGraphExecDestroy(CUgraphExec hGraphExec) {
  auto e = checkExec(hGraphExec);
  if (!e)
    return e.status();
  liveExecs().remove(*e);
  destroyExec(*e);
  return CUDA_SUCCESS;
}

CUresult cuGraphExecGetFlags(CUgraphExec hGraphExec, cuuint64_t *flags) {
  if (flags == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  auto e = checkExec(hGraphExec);
  if (!e)
    return e.status();
  *flags = (*e)->flags;
  return CUDA_SUCCESS;
}

CUresult cuGraphUpload(CUgraphExec hGraphExec, CUstream hStream) {
  auto e = checkExec(hGraphExec);
  if (!e)
    return e.status();
  auto s = resolveStream(hStream);
  if (!s)
    return s.status();
  return CUDA_SUCCESS; // nothing to upload: a launch reads the executable graph directly
}

CUresult cuGraphLaunch(CUgraphExec hGraphExec, CUstream hStream) {
  auto e = checkExec(hGraphExec);
  if (!e)
    return e.status();
  auto s = resolveStream(hStream);
  if (!s)
    return s.status();
  Stream *stream = *s;
  GraphExec *exec = *e;
  if (capturing(stream))
    return captureGraph(stream, *exec->graph);
  if (Status c = captureCheckSubmit(stream); !c.ok())
    return c;
  std::lock_guard lock(exec->mutex);
  for (auto &m : exec->memory) {
    if (!m->live)
      continue;
    if ((exec->flags & CUDA_GRAPH_INSTANTIATE_FLAG_AUTO_FREE_ON_LAUNCH) == 0)
      return error(
          CUDA_ERROR_INVALID_VALUE,
          "cuGraphLaunch: graph memory 0x{:x} from a previous launch was not freed (instantiate with "
          "CUDA_GRAPH_INSTANTIATE_FLAG_AUTO_FREE_ON_LAUNCH to free it on relaunch)",
          m->address);
    m->live = false;
  }
  // Launches of one executable graph are ordered, whatever their streams.
  if (MarkerPtr last = exec->last; last && !last->done())
    CUVIRT_TRY(submit(stream, [&](Queue &q) { q.wait(last); }));
  auto handle = reinterpret_cast<CUstream>(stream);
  std::vector<const ConditionalSlot *> defaults;
  defaultConditions(*exec->graph, defaults);
  for (const ConditionalSlot *c : defaults)
    if (CUresult d = api::cuMemsetD32Async(c->address, c->defaultValue, 1, handle); d != CUDA_SUCCESS)
      return d;
  Status r = enqueueGraph(*exec->graph, handle);
  auto done = std::make_shared<Marker>();
  CUVIRT_TRY(submit(stream, [&](Queue &q) { q.record(done); }));
  exec->last = std::move(done);
  return r;
}

CUresult cuGraphNodeSetEnabled(CUgraphExec hGraphExec, CUgraphNode hNode, unsigned int isEnabled) {
  auto e = checkExec(hGraphExec);
  if (!e)
    return e.status();
  auto it = (*e)->nodes.find(reinterpret_cast<const GraphNode *>(hNode));
  if (it == (*e)->nodes.end())
    return CUDA_ERROR_INVALID_VALUE;
  const CUgraphNodeType t = it->second->type;
  if (t != CU_GRAPH_NODE_TYPE_KERNEL && t != CU_GRAPH_NODE_TYPE_MEMCPY && t != CU_GRAPH_NODE_TYPE_MEMSET)
    return error(CUDA_ERROR_INVALID_VALUE, "cuGraphNodeSetEnabled: only kernel, memcpy and memset nodes");
  std::lock_guard lock((*e)->mutex);
  it->second->enabled = isEnabled != 0;
  return CUDA_SUCCESS;
}

CUresult cuGraphNodeGetEnabled(CUgraphExec hGraphExec, CUgraphNode hNode, unsigned int *isEnabled) {
  if (isEnabled == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  auto e = checkExec(hGraphExec);
  if (!e)
    return e.status();
  auto it = (*e)->nodes.find(reinterpret_cast<const GraphNode *>(hNode));
  if (it == (*e)->nodes.end())
    return CUDA_ERROR_INVALID_VALUE;
  const CUgraphNodeType t = it->second->type;
  if (t != CU_GRAPH_NODE_TYPE_KERNEL && t != CU_GRAPH_NODE_TYPE_MEMCPY && t != CU_GRAPH_NODE_TYPE_MEMSET)
    return CUDA_ERROR_INVALID_VALUE;
  *isEnabled = it->second->enabled ? 1 : 0;
  return CUDA_SUCCESS;
}

namespace {
/// Replaces an executable graph node's parameters with `made`'s.
CUresult execSet(CUgraphExec hGraphExec, CUgraphNode hNode, CUgraphNodeType type,
                 Expected<std::unique_ptr<GraphNode>> made) {
  auto e = checkExec(hGraphExec);
  if (!e)
    return e.status();
  auto n = execNode(*e, hNode, type);
  if (!n)
    return n.status();
  if (!made)
    return made.status();
  std::lock_guard lock((*e)->mutex);
  assignParams(**n, **made);
  return CUDA_SUCCESS;
}
} // namespace

CUresult cuGraphExecKernelNodeSetParams_v2(CUgraphExec hGraphExec, CUgraphNode hNode,
                                           const CUDA_KERNEL_NODE_PARAMS *nodeParams) {
  return execSet(hGraphExec, hNode, CU_GRAPH_NODE_TYPE_KERNEL, kernelNode(nodeParams));
}

CUresult cuGraphExecKernelNodeSetParams(CUgraphExec hGraphExec, CUgraphNode hNode,
                                        const CUDA_KERNEL_NODE_PARAMS_v1 *nodeParams) {
  if (nodeParams == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  CUDA_KERNEL_NODE_PARAMS p = fromV1(*nodeParams);
  return api::cuGraphExecKernelNodeSetParams_v2(hGraphExec, hNode, &p);
}

CUresult cuGraphExecMemcpyNodeSetParams(CUgraphExec hGraphExec, CUgraphNode hNode,
                                        const CUDA_MEMCPY3D *copyParams, CUcontext ctx) {
  return execSet(hGraphExec, hNode, CU_GRAPH_NODE_TYPE_MEMCPY, memcpyNode(copyParams, ctx));
}

CUresult cuGraphExecMemsetNodeSetParams(CUgraphExec hGraphExec, CUgraphNode hNode,
                                        const CUDA_MEMSET_NODE_PARAMS *memsetParams, CUcontext ctx) {
  return execSet(hGraphExec, hNode, CU_GRAPH_NODE_TYPE_MEMSET, memsetNode(memsetParams, ctx));
}

CUresult cuGraphExecHostNodeSetParams(CUgraphExec hGraphExec, CUgraphNode hNode,
                                      const CUDA_HOST_NODE_PARAMS *nodeParams) {
  return execSet(hGraphExec, hNode, CU_GRAPH_NODE_TYPE_HOST, hostNode(nodeParams));
}

CUresult cuGraphExecChildGraphNodeSetParams(CUgraphExec hGraphExec, CUgraphNode hNode, CUgraph childGraph) {
  auto g = checkGraph(childGraph);
  if (!g)
    return g.status();
  // Parameters are copied from the given graph; its nodes become names for ours.
  auto e = checkExec(hGraphExec);
  if (!e)
    return e.status();
  auto n = execNode(*e, hNode, CU_GRAPH_NODE_TYPE_GRAPH);
  if (!n)
    return n.status();
  CUgraphExecUpdateResult why{};
  const GraphNode *at = nullptr, *edgeFrom = nullptr;
  std::lock_guard lock((*e)->mutex);
  if (!sameTopology(*(*n)->child, **g, &why, &at, &edgeFrom))
    return error(CUDA_ERROR_INVALID_VALUE,
                 "cuGraphExecChildGraphNodeSetParams: the child graph's topology changed");
  updateFrom(**e, *(*n)->child, **g);
  return CUDA_SUCCESS;
}

CUresult cuGraphExecEventRecordNodeSetEvent(CUgraphExec hGraphExec, CUgraphNode hNode, CUevent event) {
  return execSet(hGraphExec, hNode, CU_GRAPH_NODE_TYPE_EVENT_RECORD,
                 eventNode(CU_GRAPH_NODE_TYPE_EVENT_RECORD, event));
}

CUresult cuGraphExecEventWaitNodeSetEvent(CUgraphExec hGraphExec, CUgraphNode hNode, CUevent event) {
  return execSet(hGraphExec, hNode, CU_GRAPH_NODE_TYPE_WAIT_EVENT,
                 eventNode(CU_GRAPH_NODE_TYPE_WAIT_EVENT, event));
}

CUresult cuGraphExecNodeSetParams(CUgraphExec hGraphExec, CUgraphNode hNode, CUgraphNodeParams *nodeParams) {
  if (nodeParams == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  switch (nodeParams->type) {
  case CU_GRAPH_NODE_TYPE_KERNEL:
  case CU_GRAPH_NODE_TYPE_MEMCPY:
  case CU_GRAPH_NODE_TYPE_MEMSET:
  case CU_GRAPH_NODE_TYPE_HOST:
  case CU_GRAPH_NODE_TYPE_WAIT_EVENT:
  case CU_GRAPH_NODE_TYPE_EVENT_RECORD:
    return execSet(hGraphExec, hNode, nodeParams->type, nodeFromParams(nodeParams));
  case CU_GRAPH_NODE_TYPE_GRAPH:
    return api::cuGraphExecChildGraphNodeSetParams(hGraphExec, hNode, nodeParams->graph.graph);
  default:
    return error(CUDA_ERROR_INVALID_VALUE, "cuGraphExecNodeSetParams: nodes of type {} cannot be updated",
                 static_cast<int>(nodeParams->type));
  }
}

CUresult cuGraphExecUpdate_v2(CUgraphExec hGraphExec, CUgraph hGraph,
                              CUgraphExecUpdateResultInfo *resultInfo) {
  if (resultInfo == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  *resultInfo = {};
  auto e = checkExec(hGraphExec);
  if (!e)
    return e.status();
  auto g = checkGraph(hGraph);
  if (!g)
    return g.status();
  std::lock_guard lock((*e)->mutex);
  CUgraphExecUpdateResult why = CU_GRAPH_EXEC_UPDATE_SUCCESS;
  const GraphNode *at = nullptr, *edgeFrom = nullptr;
  if (!sameTopology(*(*e)->graph, **g, &why, &at, &edgeFrom)) {
    resultInfo->result = why;
    resultInfo->errorNode = reinterpret_cast<CUgraphNode>(const_cast<GraphNode *>(at));
    resultInfo->errorFromNode = reinterpret_cast<CUgraphNode>(const_cast<GraphNode *>(edgeFrom));
    return error(CUDA_ERROR_GRAPH_EXEC_UPDATE_FAILURE, "cuGraphExecUpdate: the graphs differ (result {})",
                 static_cast<int>(why));
  }
  updateFrom(**e, *(*e)->graph, **g);
  resultInfo->result = CU_GRAPH_EXEC_UPDATE_SUCCESS;
  return CUDA_SUCCESS;
}

CUresult cuGraphExecUpdate(CUgraphExec hGraphExec, CUgraph hGraph, CUgraphNode *hErrorNode_out,
                           CUgraphExecUpdateResult *updateResult_out) {
  if (updateResult_out == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  CUgraphExecUpdateResultInfo info{};
  CUresult r = api::cuGraphExecUpdate_v2(hGraphExec, hGraph, &info);
  *updateResult_out = info.result;
  if (hErrorNode_out != nullptr)
    *hErrorNode_out = info.errorNode;
  return r;
}

// ---- user objects ---------------------------------------------------------------------------

CUresult cuUserObjectCreate(CUuserObject *object_out, void *ptr, CUhostFn destroy,
                            unsigned int initialRefcount, unsigned int flags) {
  if (object_out == nullptr || destroy == nullptr || initialRefcount == 0 ||
      flags != CU_USER_OBJECT_NO_DESTRUCTOR_SYNC)
    return CUDA_ERROR_INVALID_VALUE;
  auto *o = new UserObject;
  o->refs = initialRefcount;
  o->ptr = ptr;
  o->destroy = destroy;
  liveUserObjects().add(o);
  *object_out = reinterpret_cast<CUuserObject>(o);
  return CUDA_SUCCESS;
}

CUresult cuUserObjectRetain(CUuserObject object, unsigned int count) {
  UserObject *o = liveUserObjects().find(object);
  if (o == nullptr || count == 0)
    return CUDA_ERROR_INVALID_VALUE;
  o->refs += count;
  return CUDA_SUCCESS;
}

CUresult cuUserObjectRelease(CUuserObject object, unsigned int count) {
  UserObject *o = liveUserObjects().find(object);
  if (o == nullptr || count == 0)
    return CUDA_ERROR_INVALID_VALUE;
  releaseUserObject(o, count);
  return CUDA_SUCCESS;
}

CUresult cuGraphRetainUserObject(CUgraph graph, CUuserObject object, unsigned int count, unsigned int flags) {
  auto g = checkGraph(graph);
  if (!g)
    return g.status();
  UserObject *o = liveUserObjects().find(object);
  if (o == nullptr || count == 0 || (flags & ~CU_GRAPH_USER_OBJECT_MOVE) != 0)
    return CUDA_ERROR_INVALID_VALUE;
  if ((flags & CU_GRAPH_USER_OBJECT_MOVE) == 0)
    o->refs += count; // else the caller's references move to the graph
  (*g)->userObjects[o] += count;
  return CUDA_SUCCESS;
}

CUresult cuGraphReleaseUserObject(CUgraph graph, CUuserObject object, unsigned int count) {
  auto g = checkGraph(graph);
  if (!g)
    return g.status();
  UserObject *o = liveUserObjects().find(object);
  if (o == nullptr || count == 0)
    return CUDA_ERROR_INVALID_VALUE;
  auto it = (*g)->userObjects.find(o);
  if (it == (*g)->userObjects.end() || it->second < count)
    return error(CUDA_ERROR_INVALID_VALUE,
                 "cuGraphReleaseUserObject: the graph holds fewer than {} references", count);
  if ((it->second -= count) == 0)
    (*g)->userObjects.erase(it);
  releaseUserObject(o, count);
  return CUDA_SUCCESS;
}

// ---- graph memory attributes ------------------------------------------------------------

CUresult cuDeviceGetGraphMemAttribute(CUdevice device, CUgraphMem_attribute attr, void *value) {
  if (value == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  auto d = deviceByOrdinal(device);
  if (!d)
    return d.status();
  auto &r = memoryRegistry();
  std::lock_guard lock(r.mutex);
  std::uint64_t used = 0, reserved = 0;
  for (auto &[address, weak] : r.byAddress)
    if (auto m = weak.lock(); m && m->device == *d) {
      reserved += m->bytes;
      used += m->live ? m->bytes : 0;
    }
  r.usedHigh = std::max(r.usedHigh, used);
  switch (attr) {
  case CU_GRAPH_MEM_ATTR_USED_MEM_CURRENT:
    *static_cast<cuuint64_t *>(value) = used;
    return CUDA_SUCCESS;
  case CU_GRAPH_MEM_ATTR_RESERVED_MEM_CURRENT:
    *static_cast<cuuint64_t *>(value) = reserved;
    return CUDA_SUCCESS;
  case CU_GRAPH_MEM_ATTR_USED_MEM_HIGH:
  case CU_GRAPH_MEM_ATTR_RESERVED_MEM_HIGH:
    *static_cast<cuuint64_t *>(value) =
        std::max(r.usedHigh, attr == CU_GRAPH_MEM_ATTR_RESERVED_MEM_HIGH ? reserved : 0);
    return CUDA_SUCCESS;
  default:
    return CUDA_ERROR_INVALID_VALUE;
  }
}

CUresult cuDeviceSetGraphMemAttribute(CUdevice device, CUgraphMem_attribute attr, void *value) {
  if (value == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  auto d = deviceByOrdinal(device);
  if (!d)
    return d.status();
  if ((attr != CU_GRAPH_MEM_ATTR_USED_MEM_HIGH && attr != CU_GRAPH_MEM_ATTR_RESERVED_MEM_HIGH) ||
      *static_cast<cuuint64_t *>(value) != 0)
    return CUDA_ERROR_INVALID_VALUE; // only resetting a high-water mark to 0
  auto &r = memoryRegistry();
  std::lock_guard lock(r.mutex);
  r.usedHigh = 0;
  return CUDA_SUCCESS;
}

CUresult cuDeviceGraphMemTrim(CUdevice device) {
  auto d = deviceByOrdinal(device);
  return d ? CUDA_SUCCESS : d.status().code(); // graph memory is held by its nodes, nothing is cached
}

} // namespace api
} // namespace cuvirt
