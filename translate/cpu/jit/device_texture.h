// Texture and surface helpers CPU kernels call (device_texture.cpp): the
// kernel IR's cuvirt.tex/.txq/.suld/.sust/.suq, renamed to these before
// blockify and resolved by the JIT (engine.cpp).
#pragma once
#include <cstdint>

extern "C" {
/// tex/tld4: four 32-bit components (f32, s32 or u32 bits) into `out`.
void cuvirt_cpu_tex(std::uint32_t *out, std::uint64_t handle, std::uint32_t op, std::uint32_t x,
                    std::uint32_t y, std::uint32_t z, std::int32_t layer, float lod, float dx0, float dx1,
                    float dx2, float dy0, float dy1, float dy2);
std::uint32_t cuvirt_cpu_txq(std::uint64_t handle, std::uint32_t query, std::int32_t level);
std::uint32_t cuvirt_cpu_suq(std::uint64_t handle, std::uint32_t query);
/// suld.b: the access's bytes into `out` (up to 32).
void cuvirt_cpu_suld(void *out, std::uint64_t handle, std::uint32_t op, std::int32_t x, std::int32_t y,
                     std::int32_t z, std::int32_t layer);
/// sured.b: atomically combines the value at `in` into the surface.
void cuvirt_cpu_sured(const void *in, std::uint64_t handle, std::uint32_t op, std::int32_t x, std::int32_t y,
                      std::int32_t z, std::int32_t layer);
/// sust.b / sust.p from `in`.
void cuvirt_cpu_sust(const void *in, std::uint64_t handle, std::uint32_t op, std::int32_t x, std::int32_t y,
                     std::int32_t z, std::int32_t layer);
}
