// Placeholder until the image parsers land.
#include "intercept/image/image.h"

namespace cuvirt::image {
Expected<Image> parse(std::span<const std::uint8_t>) { return Status(CUDA_ERROR_NOT_SUPPORTED); }
Expected<Image> parseFromMemory(const void *) { return Status(CUDA_ERROR_NOT_SUPPORTED); }
Expected<Image> parseFile(const std::string &) { return Status(CUDA_ERROR_NOT_SUPPORTED); }
Expected<ModuleInfo> cubinInfo(std::span<const std::uint8_t>) { return Status(CUDA_ERROR_NOT_SUPPORTED); }
bool safeCopy(void *, const void *, std::size_t) { return false; }
} // namespace cuvirt::image
