// MD2 (RFC 1319) and HMAC-MD2: what cudart's integrity check is built on.
#pragma once
#include <array>
#include <cstdint>
#include <span>

namespace cuvirt {

using Md2Digest = std::array<std::uint8_t, 16>;

Md2Digest md2(std::span<const std::uint8_t> message);
/// HMAC (RFC 2104) over MD2, whose block size is 16 bytes.
Md2Digest hmacMd2(std::span<const std::uint8_t, 16> key, std::span<const std::uint8_t> message);

} // namespace cuvirt
