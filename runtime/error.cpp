// cuGetErrorName / cuGetErrorString for every CUresult.
#include "cuvirt_api.h"
#include "runtime/api_support.h"

namespace cuvirt {

const char *errorName(CUresult code); // generated from cuda.h (error_names.cpp)

namespace {

/// The short descriptions NVIDIA's driver gives for the common codes.
const char *describe(CUresult code) {
  switch (code) {
  case CUDA_SUCCESS:
    return "no error";
  case CUDA_ERROR_INVALID_VALUE:
    return "invalid argument";
  case CUDA_ERROR_OUT_OF_MEMORY:
    return "out of memory";
  case CUDA_ERROR_NOT_INITIALIZED:
    return "initialization error";
  case CUDA_ERROR_DEINITIALIZED:
    return "driver shutting down";
  case CUDA_ERROR_PROFILER_DISABLED:
    return "profiler disabled while using external profiling tool";
  case CUDA_ERROR_STUB_LIBRARY:
    return "CUDA driver is a stub library";
  case CUDA_ERROR_NO_DEVICE:
    return "no CUDA-capable device is detected";
  case CUDA_ERROR_INVALID_DEVICE:
    return "invalid device ordinal";
  case CUDA_ERROR_DEVICE_NOT_LICENSED:
    return "device doesn't have valid Grid license";
  case CUDA_ERROR_INVALID_IMAGE:
    return "device kernel image is invalid";
  case CUDA_ERROR_INVALID_CONTEXT:
    return "invalid device context";
  case CUDA_ERROR_CONTEXT_ALREADY_CURRENT:
    return "context already current";
  case CUDA_ERROR_MAP_FAILED:
    return "mapping of buffer object failed";
  case CUDA_ERROR_UNMAP_FAILED:
    return "unmapping of buffer object failed";
  case CUDA_ERROR_ARRAY_IS_MAPPED:
    return "array is mapped";
  case CUDA_ERROR_ALREADY_MAPPED:
    return "resource already mapped";
  case CUDA_ERROR_NO_BINARY_FOR_GPU:
    return "no kernel image is available for execution on the device";
  case CUDA_ERROR_ALREADY_ACQUIRED:
    return "resource already acquired";
  case CUDA_ERROR_NOT_MAPPED:
    return "resource not mapped";
  case CUDA_ERROR_ECC_UNCORRECTABLE:
    return "uncorrectable ECC error encountered";
  case CUDA_ERROR_UNSUPPORTED_LIMIT:
    return "limit is not supported on this architecture";
  case CUDA_ERROR_CONTEXT_ALREADY_IN_USE:
    return "exclusive-thread device already in use by a different thread";
  case CUDA_ERROR_PEER_ACCESS_UNSUPPORTED:
    return "peer access is not supported between these two devices";
  case CUDA_ERROR_INVALID_PTX:
    return "a PTX JIT compilation failed";
  case CUDA_ERROR_INVALID_SOURCE:
    return "device kernel image is invalid";
  case CUDA_ERROR_FILE_NOT_FOUND:
    return "file not found";
  case CUDA_ERROR_SHARED_OBJECT_SYMBOL_NOT_FOUND:
    return "shared object symbol not found";
  case CUDA_ERROR_SHARED_OBJECT_INIT_FAILED:
    return "shared object initialization failed";
  case CUDA_ERROR_OPERATING_SYSTEM:
    return "OS call failed or operation not supported on this OS";
  case CUDA_ERROR_INVALID_HANDLE:
    return "invalid resource handle";
  case CUDA_ERROR_ILLEGAL_STATE:
    return "the operation cannot be performed in the present state";
  case CUDA_ERROR_NOT_FOUND:
    return "named symbol not found";
  case CUDA_ERROR_NOT_READY:
    return "device not ready";
  case CUDA_ERROR_ILLEGAL_ADDRESS:
    return "an illegal memory access was encountered";
  case CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES:
    return "too many resources requested for launch";
  case CUDA_ERROR_LAUNCH_TIMEOUT:
    return "the launch timed out and was terminated";
  case CUDA_ERROR_PEER_ACCESS_ALREADY_ENABLED:
    return "peer access is already enabled";
  case CUDA_ERROR_PEER_ACCESS_NOT_ENABLED:
    return "peer access has not been enabled";
  case CUDA_ERROR_PRIMARY_CONTEXT_ACTIVE:
    return "cannot set while device is active in this process";
  case CUDA_ERROR_CONTEXT_IS_DESTROYED:
    return "context is destroyed";
  case CUDA_ERROR_ASSERT:
    return "device-side assert triggered";
  case CUDA_ERROR_HOST_MEMORY_ALREADY_REGISTERED:
    return "part or all of the requested memory range is already mapped";
  case CUDA_ERROR_HOST_MEMORY_NOT_REGISTERED:
    return "pointer does not correspond to a registered memory region";
  case CUDA_ERROR_HARDWARE_STACK_ERROR:
    return "hardware stack error";
  case CUDA_ERROR_ILLEGAL_INSTRUCTION:
    return "an illegal instruction was encountered";
  case CUDA_ERROR_MISALIGNED_ADDRESS:
    return "misaligned address";
  case CUDA_ERROR_INVALID_ADDRESS_SPACE:
    return "operation not supported on global/shared address space";
  case CUDA_ERROR_INVALID_PC:
    return "invalid program counter";
  case CUDA_ERROR_LAUNCH_FAILED:
    return "unspecified launch failure";
  case CUDA_ERROR_COOPERATIVE_LAUNCH_TOO_LARGE:
    return "too many blocks in cooperative launch";
  case CUDA_ERROR_NOT_PERMITTED:
    return "operation not permitted";
  case CUDA_ERROR_NOT_SUPPORTED:
    return "operation not supported";
  case CUDA_ERROR_SYSTEM_NOT_READY:
    return "system not yet initialized";
  case CUDA_ERROR_UNSUPPORTED_PTX_VERSION:
    return "the provided PTX was compiled with an unsupported toolchain.";
  case CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED:
    return "operation not permitted when stream is capturing";
  case CUDA_ERROR_TIMEOUT:
    return "wait operation timed out";
  case CUDA_ERROR_UNKNOWN:
    return "unknown error";
  default:
    return nullptr;
  }
}

} // namespace

namespace api {

CUresult cuGetErrorName(CUresult code, const char **pStr) {
  if (pStr == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  const char *name = errorName(code);
  *pStr = name;
  return name != nullptr ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

CUresult cuGetErrorString(CUresult code, const char **pStr) {
  if (pStr == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  const char *name = errorName(code);
  if (name == nullptr) {
    *pStr = nullptr;
    return CUDA_ERROR_INVALID_VALUE;
  }
  const char *text = describe(code);
  *pStr = text != nullptr ? text : name; // the enumerator's name for the rare codes
  return CUDA_SUCCESS;
}

} // namespace api
} // namespace cuvirt
