// The JIT linker: PTX modules (from PTX text, fatbins, host objects and
// archives of them) linked into one PTX module, as the driver's cuLink* and
// nvcc's device link (-rdc=true) do. The CPU device compiles the result as
// one program, so cross-module references are ordinary symbol references.
#pragma once
#include "intercept/image/image.h"
#include "runtime/status.h"
#include <string>
#include <vector>

namespace cuvirt::link {

/// One PTX module to link. Archive members are `lazy`: linked only when
/// they define a symbol that the linked modules still need.
struct PtxUnit {
  std::string name; ///< for messages: "a.ptx", "libfoo.a(bar.o)"
  std::string ptx;
  bool lazy = false;
};

/// Links `units` into one PTX module (the highest .version and .target of
/// the inputs). Internal (non-.visible) symbols that would collide are
/// renamed; extern declarations are resolved against the other units'
/// definitions. A malformed unit is CUDA_ERROR_INVALID_PTX, an undefined
/// reference CUDA_ERROR_NOT_FOUND, a multiple definition
/// CUDA_ERROR_INVALID_PTX; each with nvlink-style lines appended to `log`.
Expected<std::string> linkPtx(const std::vector<PtxUnit> &units, std::string &log);

/// The PTX modules of an image for a device of compute capability `arch`:
/// every PTX entry of the best architecture (the newest the device claims,
/// else the oldest newer one). An image with only cubins gives
/// CUDA_ERROR_NO_BINARY_FOR_GPU with the reason in `log`.
Expected<std::vector<PtxUnit>> ptxUnits(const image::Image &img, int arch, const std::string &name,
                                        std::string &log);

/// nvcc -rdc=true: the device-linked image holds only machine code; the
/// objects' own fatbins (the wrapper's prelinked list) hold their PTX,
/// which is linked here as the driver's JIT would.
Expected<std::string> linkPrelinked(const std::vector<image::Image> &objects, int arch, std::string &log);

} // namespace cuvirt::link
