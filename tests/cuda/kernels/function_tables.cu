// Function addresses in module variables: `__device__` and `__constant__`
// tables initialised with device functions, tables of structs holding
// function pointers, device virtual functions (the vtables nvcc emits are
// such tables), one table read from several kernels, and a table copied to
// the host and back (cudaMemcpyFromSymbol / cudaMemcpyToSymbol). The
// functions read threadIdx/blockIdx/%laneid, so they take the thread's
// context when called through a pointer.
#include "check.h"
#include <new>
#include <stdint.h>

__device__ __forceinline__ unsigned laneid() {
  unsigned r;
  asm volatile("mov.u32 %0, %%laneid;" : "=r"(r));
  return r;
}

typedef int (*op_t)(int);
__device__ int op_tid(int v) { return v + int(threadIdx.x) * 3; }
__device__ int op_bid(int v) { return v * int(blockIdx.x + 1) + int(laneid()) * 1000; }
__device__ int op_sq(int v) { return v * v - 7; }

__device__ op_t ops[3] = {op_tid, op_bid, op_sq};
__constant__ op_t cops[3] = {op_sq, op_tid, op_bid};

// A virtual-dispatch-like record: a function and its argument.
struct Entry {
  op_t fn;
  int arg;
};
__device__ Entry entries[3] = {{op_bid, 5}, {op_sq, -2}, {op_tid, 11}};
__constant__ Entry centries[2] = {{op_tid, 100}, {op_sq, 3}};

// Host models of the three operations for thread (tx, bx).
static int model(int which, int v, int tx, int bx) {
  switch (which) {
  case 0:
    return v + tx * 3;
  case 1:
    return v * (bx + 1) + (tx % 32) * 1000;
  default:
    return v * v - 7;
  }
}

__global__ void through_ops(const int *sel, int *out) {
  unsigned g = blockIdx.x * blockDim.x + threadIdx.x;
  out[g] = ops[sel[g] % 3](int(g));
}

__global__ void through_cops(const int *sel, int *out) {
  unsigned g = blockIdx.x * blockDim.x + threadIdx.x;
  out[g] = cops[sel[g] % 3](int(g));
}

__global__ void through_entries(const int *sel, int *out) {
  unsigned g = blockIdx.x * blockDim.x + threadIdx.x;
  const Entry &e = entries[sel[g] % 3];
  const Entry &c = centries[sel[g] % 2];
  out[g] = e.fn(e.arg + int(g)) + c.fn(c.arg);
}

// The table's entries compared with the functions' addresses taken in a
// kernel: the same function has one address.
__global__ void same_addresses(int *out) {
  out[0] = ops[0] == op_tid && cops[1] == op_tid && entries[2].fn == op_tid;
  out[1] = ops[1] == op_bid && ops[2] == op_sq && ops[0] != ops[1];
}

// Device virtual functions: objects built in one kernel (placement new into
// device memory, and device-heap `new`), called through in others.
struct Shape {
  __device__ virtual int area() const = 0;
  __device__ virtual int tag() const { return 1; }
  __device__ virtual ~Shape() {}
};
struct Rect : Shape {
  int w, h;
  __device__ Rect(int w_, int h_) : w(w_), h(h_) {}
  __device__ int area() const override { return w * h; }
};
struct Square : Rect {
  __device__ explicit Square(int s) : Rect(s, s) {}
  __device__ int tag() const override { return 2 + int(threadIdx.x % 4); }
};
struct Tri : Shape {
  int b, h;
  __device__ Tri(int b_, int h_) : b(b_), h(h_) {}
  __device__ int area() const override { return b * h / 2; }
  __device__ int tag() const override { return 3 + int(laneid()) * 10; }
};

const int kShapes = 64;
struct alignas(16) Slot {
  unsigned char bytes[32];
};

__global__ void build_shapes(Slot *slots, Shape **heap) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= kShapes)
    return;
  switch (i % 3) {
  case 0:
    new (&slots[i]) Rect(i, 2);
    break;
  case 1:
    new (&slots[i]) Square(i);
    break;
  default:
    new (&slots[i]) Tri(i, 4);
    break;
  }
  heap[i] = i % 2 ? static_cast<Shape *>(new Tri(i, 6)) : static_cast<Shape *>(new Square(i + 1));
}

__global__ void use_shapes(const Slot *slots, Shape *const *heap, int *out) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= kShapes)
    return;
  const Shape *s = reinterpret_cast<const Shape *>(&slots[i]);
  out[2 * i] = s->area() * 100 + s->tag();
  out[2 * i + 1] = heap[i]->area() * 100 + heap[i]->tag();
}

__global__ void free_shapes(Shape **heap) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < kShapes)
    delete heap[i];
}

static int shapeModel(int kind, int i, int tx, int b, int h) {
  // kind 0 Rect(b,h), 1 Square(b), 2 Tri(b,h)
  int area = kind == 2 ? b * h / 2 : kind == 1 ? b * b : b * h;
  int tag = kind == 0 ? 1 : kind == 1 ? 2 + tx % 4 : 3 + (tx % 32) * 10;
  (void)i;
  return area * 100 + tag;
}

int main() {
  const int blocks = 2, threads = 48, n = blocks * threads;
  int sel[n], res[n];
  for (int i = 0; i < n; ++i)
    sel[i] = (i * 5 + i / 7) % 6;
  int *dSel, *dRes;
  CHECK(cudaMalloc(&dSel, sizeof sel));
  CHECK(cudaMalloc(&dRes, sizeof res));
  CHECK(cudaMemcpy(dSel, sel, sizeof sel, cudaMemcpyHostToDevice));

  // The table as the host sees it before any kernel ran: three distinct,
  // non-null addresses.
  op_t host[3];
  CHECK(cudaMemcpyFromSymbol(host, ops, sizeof host));
  EXPECT(host[0] && host[1] && host[2], "ops holds a null address: %p %p %p", (void *)host[0],
         (void *)host[1], (void *)host[2]);
  EXPECT(host[0] != host[1] && host[1] != host[2] && host[0] != host[2], "ops addresses not distinct");
  op_t chost[3];
  CHECK(cudaMemcpyFromSymbol(chost, cops, sizeof chost));
  EXPECT(chost[1] == host[0] && chost[2] == host[1] && chost[0] == host[2],
         "cops and ops disagree on the functions' addresses");

  // The same table from two kernels (each compiled separately).
  through_ops<<<blocks, threads>>>(dSel, dRes);
  CHECK_LAUNCH();
  CHECK(cudaMemcpy(res, dRes, sizeof res, cudaMemcpyDeviceToHost));
  for (int i = 0; i < n; ++i) {
    int want = model(sel[i] % 3, i, i % threads, i / threads);
    EXPECT(res[i] == want, "ops thread %d (sel %d): %d, want %d", i, sel[i], res[i], want);
  }
  through_cops<<<blocks, threads>>>(dSel, dRes);
  CHECK_LAUNCH();
  CHECK(cudaMemcpy(res, dRes, sizeof res, cudaMemcpyDeviceToHost));
  const int cmap[3] = {2, 0, 1};
  for (int i = 0; i < n; ++i) {
    int want = model(cmap[sel[i] % 3], i, i % threads, i / threads);
    EXPECT(res[i] == want, "cops thread %d (sel %d): %d, want %d", i, sel[i], res[i], want);
  }
  through_entries<<<blocks, threads>>>(dSel, dRes);
  CHECK_LAUNCH();
  CHECK(cudaMemcpy(res, dRes, sizeof res, cudaMemcpyDeviceToHost));
  const int emap[3] = {1, 2, 0}, eargs[3] = {5, -2, 11}, cemap[2] = {0, 2}, ceargs[2] = {100, 3};
  for (int i = 0; i < n; ++i) {
    int tx = i % threads, bx = i / threads, e = sel[i] % 3, c = sel[i] % 2;
    int want = model(emap[e], eargs[e] + i, tx, bx) + model(cemap[c], ceargs[c], tx, bx);
    EXPECT(res[i] == want, "entries thread %d (sel %d): %d, want %d", i, sel[i], res[i], want);
  }
  int same[2] = {-1, -1};
  same_addresses<<<1, 1>>>(dRes);
  CHECK_LAUNCH();
  CHECK(cudaMemcpy(same, dRes, sizeof same, cudaMemcpyDeviceToHost));
  EXPECT(same[0] == 1 && same[1] == 1, "table entries differ from the functions' addresses: %d %d", same[0],
         same[1]);

  // Copied out and back reversed: still callable, now in the new order.
  op_t swapped[3] = {host[2], host[1], host[0]};
  CHECK(cudaMemcpyToSymbol(ops, swapped, sizeof swapped));
  through_ops<<<blocks, threads>>>(dSel, dRes);
  CHECK_LAUNCH();
  CHECK(cudaMemcpy(res, dRes, sizeof res, cudaMemcpyDeviceToHost));
  for (int i = 0; i < n; ++i) {
    int want = model(2 - sel[i] % 3, i, i % threads, i / threads);
    EXPECT(res[i] == want, "swapped ops thread %d (sel %d): %d, want %d", i, sel[i], res[i], want);
  }
  CHECK(cudaMemcpyFromSymbol(host, ops, sizeof host));
  EXPECT(host[0] == swapped[0] && host[2] == swapped[2], "ops did not keep the addresses written");

  // Virtual functions.
  Slot *dSlots;
  Shape **dHeap;
  int *dShapes, shapes[2 * kShapes];
  CHECK(cudaMalloc(&dSlots, kShapes * sizeof(Slot)));
  CHECK(cudaMalloc(&dHeap, kShapes * sizeof(Shape *)));
  CHECK(cudaMalloc(&dShapes, sizeof shapes));
  build_shapes<<<2, 32>>>(dSlots, dHeap);
  CHECK_LAUNCH();
  use_shapes<<<2, 32>>>(dSlots, dHeap, dShapes);
  CHECK_LAUNCH();
  CHECK(cudaMemcpy(shapes, dShapes, sizeof shapes, cudaMemcpyDeviceToHost));
  for (int i = 0; i < kShapes; ++i) {
    int tx = i % 32;
    int want = i % 3 == 0   ? shapeModel(0, i, tx, i, 2)
               : i % 3 == 1 ? shapeModel(1, i, tx, i, i)
                            : shapeModel(2, i, tx, i, 4);
    EXPECT(shapes[2 * i] == want, "shape %d in place: %d, want %d", i, shapes[2 * i], want);
    int wantHeap = i % 2 ? shapeModel(2, i, tx, i, 6) : shapeModel(1, i, tx, i + 1, i + 1);
    EXPECT(shapes[2 * i + 1] == wantHeap, "shape %d on the heap: %d, want %d", i, shapes[2 * i + 1],
           wantHeap);
  }
  free_shapes<<<2, 32>>>(dHeap);
  CHECK_LAUNCH();

  CHECK(cudaFree(dSel));
  CHECK(cudaFree(dRes));
  CHECK(cudaFree(dSlots));
  CHECK(cudaFree(dHeap));
  CHECK(cudaFree(dShapes));
  PASSED("function_tables");
  return 0;
}
