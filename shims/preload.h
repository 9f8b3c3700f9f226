// libdl interposition (preload.cpp).
#pragma once

namespace cuvirt {
/// The C library's dlopen, bypassing cuvirt's redirection: for cuvirt's own
/// loads of other libraries (such as NVIDIA's real driver for passthrough).
void *realDlopen(const char *file, int mode);
/// True for the names under which programs look for NVIDIA's driver.
bool redirectsDriverName(const char *file);
} // namespace cuvirt
