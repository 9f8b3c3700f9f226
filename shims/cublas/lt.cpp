// cublasLtMatmul (PyTorch's GEMMs) on the CPU device: the descriptors are
// read back through libcublasLt's own getters, then the product runs as the
// GEMM core's (gemm.h) with C copied into D and the bias/ReLU/GELU
// epilogues. Column-major layouts, real and complex types of cublasGemmEx;
// anything else (row or tiled orders, FP8 scaling, AUX/gradient epilogues,
// vector alpha) is NOT_SUPPORTED on this device.
#include "shims/cublas/gemm.h"
#include <climits>
#include <cublasLt.h>

using namespace cuvirt::cublas;

namespace {

template <class T> bool descAttr(cublasLtMatmulDesc_t d, cublasLtMatmulDescAttributes_t a, T &out) {
  static void *get = realLtSymbol("cublasLtMatmulDescGetAttribute");
  size_t written = 0;
  return get != nullptr &&
         callReal(get, d, a, static_cast<void *>(&out), sizeof out, &written) == CUBLAS_STATUS_SUCCESS;
}

template <class T> bool layoutAttr(cublasLtMatrixLayout_t l, cublasLtMatrixLayoutAttribute_t a, T &out) {
  static void *get = realLtSymbol("cublasLtMatrixLayoutGetAttribute");
  size_t written = 0;
  return get != nullptr &&
         callReal(get, l, a, static_cast<void *>(&out), sizeof out, &written) == CUBLAS_STATUS_SUCCESS;
}

struct Layout {
  cudaDataType type = CUDA_R_32F;
  std::uint64_t rows = 0, cols = 0;
  std::int64_t ld = 0, stride = 0;
  std::int32_t batch = 1, order = CUBLASLT_ORDER_COL;
};

/// INVALID_VALUE for an unreadable layout; NOT_SUPPORTED for one we do not run.
cublasStatus_t readLayout(cublasLtMatrixLayout_t l, Layout &out) {
  std::uint32_t type = 0;
  if (l == nullptr || !layoutAttr(l, CUBLASLT_MATRIX_LAYOUT_TYPE, type) ||
      !layoutAttr(l, CUBLASLT_MATRIX_LAYOUT_ORDER, out.order) ||
      !layoutAttr(l, CUBLASLT_MATRIX_LAYOUT_ROWS, out.rows) ||
      !layoutAttr(l, CUBLASLT_MATRIX_LAYOUT_COLS, out.cols) ||
      !layoutAttr(l, CUBLASLT_MATRIX_LAYOUT_LD, out.ld) ||
      !layoutAttr(l, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, out.batch) ||
      !layoutAttr(l, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, out.stride))
    return CUBLAS_STATUS_INVALID_VALUE;
  out.type = static_cast<cudaDataType>(type);
  std::int64_t plane = 0;
  if (out.order != CUBLASLT_ORDER_COL ||
      (layoutAttr(l, CUBLASLT_MATRIX_LAYOUT_PLANE_OFFSET, plane) && plane != 0) || out.rows > INT_MAX ||
      out.cols > INT_MAX || out.ld > INT_MAX)
    return CUBLAS_STATUS_NOT_SUPPORTED;
  return CUBLAS_STATUS_SUCCESS;
}

/// The Gemm for this call, or the status that refuses it.
cublasStatus_t describe(cublasLtMatmulDesc_t desc, cublasLtMatrixLayout_t Adesc, cublasLtMatrixLayout_t Bdesc,
                        cublasLtMatrixLayout_t Cdesc, cublasLtMatrixLayout_t Ddesc, Gemm &g,
                        bool &deviceScalars) {
  std::int32_t compute = 0, scale = 0, pointerMode = 0, ta = 0, tb = 0;
  std::uint32_t epilogue = CUBLASLT_EPILOGUE_DEFAULT;
  if (desc == nullptr || !descAttr(desc, CUBLASLT_MATMUL_DESC_COMPUTE_TYPE, compute) ||
      !descAttr(desc, CUBLASLT_MATMUL_DESC_SCALE_TYPE, scale) ||
      !descAttr(desc, CUBLASLT_MATMUL_DESC_POINTER_MODE, pointerMode) ||
      !descAttr(desc, CUBLASLT_MATMUL_DESC_TRANSA, ta) || !descAttr(desc, CUBLASLT_MATMUL_DESC_TRANSB, tb) ||
      !descAttr(desc, CUBLASLT_MATMUL_DESC_EPILOGUE, epilogue))
    return CUBLAS_STATUS_INVALID_VALUE;
  // FP8-style scaling factors change the arithmetic: not done here.
  for (auto a : {CUBLASLT_MATMUL_DESC_A_SCALE_POINTER, CUBLASLT_MATMUL_DESC_B_SCALE_POINTER,
                 CUBLASLT_MATMUL_DESC_C_SCALE_POINTER, CUBLASLT_MATMUL_DESC_D_SCALE_POINTER,
                 CUBLASLT_MATMUL_DESC_AMAX_D_POINTER}) {
    const void *p = nullptr;
    if (descAttr(desc, a, p) && p != nullptr)
      return CUBLAS_STATUS_NOT_SUPPORTED;
  }
  const unsigned kSupported =
      CUBLASLT_EPILOGUE_DEFAULT | CUBLASLT_EPILOGUE_RELU | CUBLASLT_EPILOGUE_BIAS | CUBLASLT_EPILOGUE_GELU;
  if ((epilogue & ~kSupported) != 0 ||
      ((epilogue & CUBLASLT_EPILOGUE_RELU) && (epilogue & CUBLASLT_EPILOGUE_GELU)))
    return CUBLAS_STATUS_NOT_SUPPORTED;
  if (pointerMode != CUBLASLT_POINTER_MODE_HOST && pointerMode != CUBLASLT_POINTER_MODE_DEVICE)
    return CUBLAS_STATUS_NOT_SUPPORTED;
  deviceScalars = pointerMode == CUBLASLT_POINTER_MODE_DEVICE;
  Layout a, b, c, d;
  for (auto [l, out] : {std::pair{Adesc, &a}, {Bdesc, &b}, {Cdesc, &c}, {Ddesc, &d}})
    if (cublasStatus_t s = readLayout(l, *out); s != CUBLAS_STATUS_SUCCESS)
      return s;
  g.ta = static_cast<cublasOperation_t>(ta);
  g.tb = static_cast<cublasOperation_t>(tb);
  g.m = static_cast<int>(d.rows);
  g.n = static_cast<int>(d.cols);
  g.k = static_cast<int>(g.ta == CUBLAS_OP_N ? a.cols : a.rows);
  // Shapes must agree: op(A) m x k, op(B) k x n, C like D.
  const std::uint64_t am = g.ta == CUBLAS_OP_N ? a.rows : a.cols;
  const std::uint64_t bk = g.tb == CUBLAS_OP_N ? b.rows : b.cols, bn = g.tb == CUBLAS_OP_N ? b.cols : b.rows;
  if (!validOp(g.ta) || !validOp(g.tb) || am != d.rows || bk != static_cast<std::uint64_t>(g.k) ||
      bn != d.cols || c.rows != d.rows || c.cols != d.cols || c.type != d.type || a.batch != d.batch ||
      b.batch != d.batch || c.batch != d.batch || d.batch < 0)
    return CUBLAS_STATUS_INVALID_VALUE;
  g.at = a.type;
  g.bt = b.type;
  g.ct = d.type;
  if (!resolveTypes(static_cast<cublasComputeType_t>(compute), g.at, g.bt, g.ct, g.scale, g.work))
    return CUBLAS_STATUS_NOT_SUPPORTED;
  g.scale = static_cast<cudaDataType>(scale);
  if (typeSize(g.scale) == 0 || g.scale == CUDA_R_8I || g.scale == CUDA_C_8I || g.scale == CUDA_R_16BF)
    return CUBLAS_STATUS_NOT_SUPPORTED;
  g.lda = static_cast<int>(a.ld);
  g.ldb = static_cast<int>(b.ld);
  g.ldc = static_cast<int>(d.ld);
  g.ldcSrc = static_cast<int>(c.ld);
  g.strideA = a.stride;
  g.strideB = b.stride;
  g.strideC = d.stride;
  g.strideCsrc = c.stride;
  g.batch = d.batch;
  if (c.ld < std::max<std::int64_t>(1, g.m))
    return CUBLAS_STATUS_INVALID_VALUE;
  g.epilogue = epilogue & ~unsigned(CUBLASLT_EPILOGUE_DEFAULT);
  if (g.epilogue != 0) {
    if (g.work == Work::C32 || g.work == Work::C64)
      return CUBLAS_STATUS_NOT_SUPPORTED;
    std::int32_t biasType = -1;
    if (!descAttr(desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, g.bias) ||
        !descAttr(desc, CUBLASLT_MATMUL_DESC_BIAS_BATCH_STRIDE, g.biasStride))
      return CUBLAS_STATUS_INVALID_VALUE;
    // Default: the bias has D's type.
    g.biasType = descAttr(desc, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, biasType) && biasType >= 0
                     ? static_cast<cudaDataType>(biasType)
                     : d.type;
    if ((g.epilogue & CUBLASLT_EPILOGUE_BIAS) && (g.bias == nullptr || typeSize(g.biasType) == 0))
      return CUBLAS_STATUS_INVALID_VALUE;
  }
  return CUBLAS_STATUS_SUCCESS;
}

} // namespace

extern "C" CUVIRT_EXPORT cublasStatus_t cublasLtMatmul(
    cublasLtHandle_t lightHandle, cublasLtMatmulDesc_t computeDesc, const void *alpha, const void *A,
    cublasLtMatrixLayout_t Adesc, const void *B, cublasLtMatrixLayout_t Bdesc, const void *beta,
    const void *C, cublasLtMatrixLayout_t Cdesc, void *D, cublasLtMatrixLayout_t Ddesc,
    const cublasLtMatmulAlgo_t *algo, void *workspace, size_t workspaceSizeInBytes, cudaStream_t stream) {
  std::int32_t pointerMode = 0;
  const bool device = computeDesc != nullptr &&
                      descAttr(computeDesc, CUBLASLT_MATMUL_DESC_POINTER_MODE, pointerMode) &&
                      pointerMode == CUBLASLT_POINTER_MODE_DEVICE;
  const Route r = routeStream(reinterpret_cast<CUstream>(stream), device);
  if (r.forward || lightHandle == nullptr)
    CUVIRT_FORWARD_FROM(realLtSymbol, cublasLtMatmul, lightHandle, computeDesc, alpha, A, Adesc, B, Bdesc,
                        beta, C, Cdesc, D, Ddesc, algo, workspace, workspaceSizeInBytes, stream);
  Gemm g{"cublasLtMatmul"};
  bool deviceScalars = false;
  if (cublasStatus_t s = describe(computeDesc, Adesc, Bdesc, Cdesc, Ddesc, g, deviceScalars);
      s != CUBLAS_STATUS_SUCCESS)
    return s;
  g.A = A;
  g.B = B;
  g.C = D;
  g.Csrc = C;
  return g.submit(r, alpha, beta);
}
