// The one way cuvirt includes the toolkit's cuda.h.
//
// __CUDA_API_VERSION_INTERNAL makes cuda.h declare every exported variant
// (cuMemAlloc and cuMemAlloc_v2, cuMemcpy and cuMemcpy_ptds, ...) under its
// own name instead of macro-renaming the plain names, which is what a driver
// that exports all of them needs.
#pragma once
#ifndef __CUDA_API_VERSION_INTERNAL
#define __CUDA_API_VERSION_INTERNAL 1
#endif
#include <cuda.h>
#include <cudaProfiler.h>
