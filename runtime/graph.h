// CUDA graphs: graphs of nodes with dependency edges, executable graphs and
// user objects (graph.cpp); stream capture builds them too (capture.cpp).
#pragma once
#include "runtime/runtime.h"
#include <memory>
#include <vector>

namespace cuvirt {

struct Graph;

/// Memory of a mem alloc node. The address is fixed when the node is made
/// and stays reserved while any graph or executable graph uses the node;
/// a launch makes it live, a free node (or cuMemFree*) ends that.
struct GraphMemory {
  std::uint64_t address = 0;
  std::size_t bytes = 0;
  Device *device = nullptr;
  bool live = false;
  ~GraphMemory();
};

/// A reference-counted object whose destructor runs when the last
/// reference (the caller's or a graph's) goes (cuUserObjectCreate).
struct UserObject {
  std::atomic<long> refs{0};
  void *ptr = nullptr;
  CUhostFn destroy = nullptr;
};

/// The condition of a conditional handle (cuGraphConditionalHandleCreate):
/// a 32-bit slot of device memory whose address is the handle, so a kernel's
/// cudaGraphSetConditional is a store (translate/ptx/lower_control.cpp).
struct ConditionalSlot {
  std::uint64_t address = 0;
  Context *context = nullptr;
  unsigned defaultValue = 0;
  bool assignDefault = false; ///< CU_GRAPH_COND_ASSIGN_DEFAULT: set at each launch
  ~ConditionalSlot();
};

struct KernelNode {
  Function *function = nullptr; ///< the handle given (a CUfunction or CUkernel)
  unsigned grid[3] = {1, 1, 1}, block[3] = {1, 1, 1};
  unsigned sharedBytes = 0;
  std::vector<std::uint8_t> params;  ///< packed by the kernel's layout
  std::vector<void *> paramPointers; ///< kernelParams as GetParams reports them, into `params`
  /// cuGraphKernelNodeSetAttribute values (hints on the CPU device; kept and reported).
  std::map<int, CUkernelNodeAttrValue> attributes;
};

struct GraphNode {
  Graph *graph = nullptr;
  CUgraphNodeType type = CU_GRAPH_NODE_TYPE_EMPTY;
  std::vector<GraphNode *> dependencies, dependents;
  const GraphNode *original = nullptr; ///< the node this was cloned from
  bool enabled = true;                 ///< in executable graphs
  KernelNode kernel;
  CUDA_MEMCPY3D copy{};
  CUDA_MEMSET_NODE_PARAMS memset{};
  CUDA_HOST_NODE_PARAMS host{};
  Context *context = nullptr; ///< memcpy/memset node context (null: the stream's)
  std::unique_ptr<Graph> child;
  CUevent event = nullptr;
  std::shared_ptr<GraphMemory> memory; ///< mem alloc nodes
  CUDA_MEM_ALLOC_NODE_PARAMS alloc{};  ///< as given, with dptr
  CUdeviceptr freePointer = 0;         ///< mem free nodes
  /// Conditional nodes: the handle's slot, the kind and the body graphs
  /// (bodyHandles is the phGraph_out array the node gives out).
  std::shared_ptr<ConditionalSlot> condition;
  CUgraphConditionalNodeType conditionType = CU_GRAPH_COND_TYPE_IF;
  std::vector<std::unique_ptr<Graph>> bodies;
  std::vector<CUgraph> bodyHandles;
};

struct Graph {
  std::vector<std::unique_ptr<GraphNode>> nodes; ///< in creation order
  GraphNode *parent = nullptr;                   ///< the child graph node that owns this one
  std::map<UserObject *, unsigned> userObjects;  ///< references this graph holds
  std::vector<GraphNode *> order;                ///< topological order (executable graphs)
  /// Conditional handles made for this graph.
  std::vector<std::shared_ptr<ConditionalSlot>> conditions;
  ~Graph();
};

/// A new node in `graph` after `dependencies` (checked: in the graph, no
/// duplicates). Registers the handle when the graph is a user-visible one.
Expected<GraphNode *> addGraphNode(Graph *graph, std::unique_ptr<GraphNode> node,
                                   const CUgraphNode *dependencies, std::size_t count);
/// A copy of `graph`: nodes (child graphs deeply), edges, user object references.
std::unique_ptr<Graph> cloneGraph(const Graph &graph, bool visible);
/// Registers or forgets a graph's handles (and its nodes', child graphs').
void registerGraph(Graph *graph, bool add);
Expected<Graph *> checkGraph(CUgraph handle);
/// Packs kernel arguments (kernelParams or extra) for `node.function`.
Status packKernelNode(KernelNode &node, Function *function, void **kernelParams, void **extra);
Status checkFillParams(const CUDA_MEMSET_NODE_PARAMS &p);
/// Graph memory by address, if `address` is the start of some.
std::shared_ptr<GraphMemory> findGraphMemory(std::uint64_t address);
/// New graph memory for a mem alloc node on `device`.
Expected<std::shared_ptr<GraphMemory>> newGraphMemory(Device *device, Context *owner, std::size_t bytes);

} // namespace cuvirt
