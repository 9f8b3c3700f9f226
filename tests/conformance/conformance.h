#pragma once
#include <cstdio>
#include <cuda.h>
#include <doctest.h>

/// A context current for one test, and gone after it.
struct ContextFixture {
  CUcontext ctx = nullptr;
  ContextFixture() {
    REQUIRE(cuDevicePrimaryCtxRetain(&ctx, 0) == CUDA_SUCCESS);
    REQUIRE(cuCtxSetCurrent(ctx) == CUDA_SUCCESS);
  }
  ~ContextFixture() {
    cuCtxSetCurrent(nullptr);
    cuDevicePrimaryCtxRelease(0);
  }
};
