// What both ends of the remote protocol agree on: versions, size limits,
// chunking, and verified decoding of frames (remote.fbs).
#pragma once
#include "remote_generated.h"
#include <cstddef>
#include <cstdint>
#include <string>

namespace cuvirt::remote {

/// Protocol versions this build speaks; Hello negotiates the highest common.
/// v2: cooperative launches (a v1 server would run them as plain launches).
/// v3: the bulk socket for synchronous device->host data (plaintext only).
constexpr std::uint32_t kVersionMin = 1;
constexpr std::uint32_t kVersionMax = 3;

/// A control frame (a FlatBuffer) may not exceed this: PTX travels in it.
constexpr std::size_t kMaxControlFrame = 256u << 20;
/// A data frame (Write / ReadData payload) may not exceed this.
constexpr std::size_t kMaxDataFrame = 64u << 20;
/// Bulk copies travel in pieces of this size, pipelined.
constexpr std::size_t kChunkBytes = 4u << 20;
/// Synchronous reads at least this big use the bulk socket when there is one.
constexpr std::size_t kBulkMinBytes = 64u << 10;
/// The bulk socket's opening, client -> server: kBulkMagic, the session id
/// (8 bytes, little endian), the session's token; the server answers one
/// byte, kBulkAccepted, or closes the connection.
constexpr char kBulkMagic[8] = {'C', 'U', 'V', 'B', 'U', 'L', 'K', '1'};
constexpr std::size_t kBulkTokenBytes = 32;
constexpr std::size_t kBulkHelloBytes = 8 + 8 + kBulkTokenBytes;
constexpr char kBulkAccepted = 'K';
/// Launch parameter buffers (CUDA's own limit is 32 KiB).
constexpr std::size_t kMaxParamBytes = 32u << 10;
constexpr std::size_t kMaxDevices = 64;

/// The decoded root of a client frame, or nullptr with `why` set when the
/// frame is malformed (fails the verifier, too big, no request).
const wire::ClientMessage *decodeClient(const void *data, std::size_t size, std::string &why);
/// Same for a server frame.
const wire::ServerMessage *decodeServer(const void *data, std::size_t size, std::string &why);

/// Bytes spanned by `rows` rows of `width` bytes `pitch` apart; false on
/// overflow or a pitch narrower than a row.
bool spanOf(std::uint64_t width, std::uint64_t rows, std::uint64_t pitch, std::uint64_t *span);

} // namespace cuvirt::remote
