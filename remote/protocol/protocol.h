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
/// v4: the client sends synchronous reads and writes on the bulk socket
/// itself (BulkRequest / BulkReply below): no zmq hop on their path.
constexpr std::uint32_t kVersionMin = 1;
constexpr std::uint32_t kVersionMax = 4;

/// A control frame (a FlatBuffer) may not exceed this: PTX travels in it.
constexpr std::size_t kMaxControlFrame = 256u << 20;
/// A data frame (Write / ReadData payload) may not exceed this.
constexpr std::size_t kMaxDataFrame = 64u << 20;
/// Bulk copies travel in pieces of this size, pipelined.
constexpr std::size_t kChunkBytes = 4u << 20;
/// Synchronous reads at least this big use the bulk socket when there is one.
constexpr std::size_t kBulkMinBytes = 64u << 10;
/// Copies this big or bigger are asked for over zmq in pieces (v3's way,
/// data still on the bulk socket): past ~32 MiB the pipelined pieces beat
/// one whole-copy request (loopback, quiet: D2H 1.0-1.5x raw TCP vs
/// 0.72-0.91x at 64 MiB-1 GiB), below it the single request's one wake-up
/// a side wins (1-4 MiB: 1.0-2.0x vs 0.76-0.94x).
constexpr std::size_t kBulkRequestMaxBytes = 32u << 20;
/// The bulk socket's opening, client -> server: kBulkMagic, the session id
/// (8 bytes, little endian), the session's token; the server answers one
/// byte, kBulkAccepted, or closes the connection.
constexpr char kBulkMagic[8] = {'C', 'U', 'V', 'B', 'U', 'L', 'K', '1'};
constexpr std::size_t kBulkTokenBytes = 32;
constexpr std::size_t kBulkHelloBytes = 8 + 8 + kBulkTokenBytes;
constexpr char kBulkAccepted = 'K';
/// v4: a synchronous copy asked on the bulk socket, client -> server (native
/// little-endian layout, both ends are this code). A write's `width * rows`
/// bytes (rows packed) follow it; the server answers each with a BulkReply,
/// then `message_bytes` of text, then for a good read `bytes` bytes.
struct BulkRequest {
  char op = 0; ///< kBulkRead or kBulkWrite
  char pad[3] = {};
  std::uint32_t device = 0;
  std::uint64_t tag = 0; ///< echoed in the reply: both ends check the stream is in step
  std::uint64_t address = 0, width = 0, rows = 0, pitch = 0;
};
struct BulkReply {
  std::int32_t code = 0; ///< a CUresult
  std::uint32_t message_bytes = 0;
  std::uint64_t tag = 0;
  std::uint64_t bytes = 0; ///< read data that follows (0 unless code is 0)
};
static_assert(sizeof(BulkRequest) == 48 && sizeof(BulkReply) == 24);
constexpr char kBulkRead = 'R', kBulkWrite = 'W';
/// A reply's message text is at most this long.
constexpr std::uint32_t kBulkMaxMessage = 1024;
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
