// What the CUB test programs share: the sizes they check (crossing tile
// boundaries), a deterministic random source, host <-> device vectors, and
// CUB's two-call pattern (size query, then the work).
#pragma once
#include "check.h"
#include <algorithm>
#include <cstdint>
#include <vector>

static const int kSizes[] = {0, 1, 1000, (1 << 20) + 3};

static uint32_t rng_state = 12345;
static uint32_t next_rand() {
  rng_state = rng_state * 1664525u + 1013904223u;
  return rng_state ^ (rng_state >> 13);
}

template <class T> static T *to_device(const std::vector<T> &h) {
  T *d = nullptr;
  CHECK(cudaMalloc(&d, std::max<size_t>(1, h.size()) * sizeof(T)));
  if (!h.empty())
    CHECK(cudaMemcpy(d, h.data(), h.size() * sizeof(T), cudaMemcpyHostToDevice));
  return d;
}
template <class T> static std::vector<T> to_host(const T *d, size_t n) {
  std::vector<T> h(n);
  if (n)
    CHECK(cudaMemcpy(h.data(), d, n * sizeof(T), cudaMemcpyDeviceToHost));
  return h;
}

// Runs a CUB algorithm twice: the size query (null storage), then the work.
template <class F> static void run_cub(F f) {
  size_t bytes = 0;
  CHECK(f(nullptr, bytes));
  void *tmp = nullptr;
  CHECK(cudaMalloc(&tmp, std::max<size_t>(1, bytes)));
  CHECK(f(tmp, bytes));
  CHECK(cudaGetLastError());
  CHECK(cudaDeviceSynchronize());
  CHECK(cudaFree(tmp));
}

template <class T> static size_t first_mismatch(const std::vector<T> &a, const std::vector<T> &b) {
  for (size_t i = 0; i < a.size(); ++i)
    if (!(a[i] == b[i]))
      return i;
  return a.size();
}
