// Verified decoding: nothing reads a frame before the verifier accepted it.
#include "remote/protocol/protocol.h"

namespace cuvirt::remote {
namespace {

flatbuffers::Verifier::Options verifierOptions(std::size_t) {
  flatbuffers::Verifier::Options o;
  o.max_depth = 16;
  o.max_tables = 1u << 20;
  o.check_alignment = true;
  return o;
}

} // namespace

const wire::ClientMessage *decodeClient(const void *data, std::size_t size, std::string &why) {
  if (data == nullptr || size < 8) {
    why = "frame too short";
    return nullptr;
  }
  if (size > kMaxControlFrame) {
    why = "frame too large";
    return nullptr;
  }
  // The verifier reads through the buffer with aligned loads.
  if (reinterpret_cast<std::uintptr_t>(data) % 8 != 0) {
    why = "frame misaligned";
    return nullptr;
  }
  flatbuffers::Verifier v(static_cast<const std::uint8_t *>(data), size, verifierOptions(size));
  if (!v.VerifyBuffer<wire::ClientMessage>(nullptr)) {
    why = "frame fails the FlatBuffers verifier";
    return nullptr;
  }
  const auto *m = flatbuffers::GetRoot<wire::ClientMessage>(data);
  if (m->request_type() == wire::Request::NONE || m->request() == nullptr) {
    why = "frame carries no request";
    return nullptr;
  }
  return m;
}

const wire::ServerMessage *decodeServer(const void *data, std::size_t size, std::string &why) {
  if (data == nullptr || size < 8 || size > kMaxControlFrame ||
      reinterpret_cast<std::uintptr_t>(data) % 8 != 0) {
    why = "frame too short, too large or misaligned";
    return nullptr;
  }
  flatbuffers::Verifier v(static_cast<const std::uint8_t *>(data), size, verifierOptions(size));
  if (!v.VerifyBuffer<wire::ServerMessage>(nullptr)) {
    why = "frame fails the FlatBuffers verifier";
    return nullptr;
  }
  return flatbuffers::GetRoot<wire::ServerMessage>(data);
}

bool spanOf(std::uint64_t width, std::uint64_t rows, std::uint64_t pitch, std::uint64_t *span) {
  if (rows == 0 || width == 0) {
    *span = 0;
    return true;
  }
  if (rows > 1 && pitch < width)
    return false;
  std::uint64_t body = 0;
  if (__builtin_mul_overflow(rows - 1, pitch, &body) || __builtin_add_overflow(body, width, span))
    return false;
  return true;
}

} // namespace cuvirt::remote
