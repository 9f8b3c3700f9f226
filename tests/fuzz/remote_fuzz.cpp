// libFuzzer target for the remote protocol: every frame goes through the
// decoder (size limits + FlatBuffers verifier); with -DREMOTE_FUZZ_SERVER,
// frames that decode are also served by cuvirtd's request handlers (a
// session with the CPU device, no sockets). Built by run_remote_fuzz.sh.
#include "remote/protocol/protocol.h"
#include <cstdint>
#include <cstring>
#include <vector>
#ifdef REMOTE_FUZZ_SERVER
#include "remote/server/server.h"
#endif

using namespace cuvirt::remote;

namespace {

/// Reads what a handler would read: every field of the decoded request.
std::uint64_t touch(const wire::ClientMessage *m) {
  std::uint64_t sum = m->seq() + static_cast<std::uint64_t>(m->request_type());
  switch (m->request_type()) {
  case wire::Request::Hello:
    if (const auto *h = m->request_as_Hello())
      sum += h->version_min() + h->version_max() + (h->client() ? h->client()->size() : 0);
    break;
  case wire::Request::LoadModule:
    if (const auto *l = m->request_as_LoadModule()) {
      sum += l->device() + l->module_() + (l->hash() ? l->hash()->size() : 0) +
             (l->ptx() ? l->ptx()->size() : 0);
      if (l->global_names())
        for (const auto *n : *l->global_names())
          sum += n ? n->size() : 0;
      if (l->global_addresses())
        for (auto a : *l->global_addresses())
          sum += a;
    }
    break;
  case wire::Request::Launch:
    if (const auto *l = m->request_as_Launch()) {
      sum += l->queue() + l->kernel() + l->dynamic_shared();
      if (l->grid())
        sum += l->grid()->x() + l->grid()->y() + l->grid()->z();
      if (l->params())
        for (auto b : *l->params())
          sum += b;
      if (l->layout())
        for (const auto *p : *l->layout())
          sum += p->offset() + p->size() + p->align();
      sum += l->name() ? l->name()->size() : 0;
    }
    break;
  case wire::Request::Write:
    if (const auto *w = m->request_as_Write()) {
      std::uint64_t span = 0;
      sum += w->address() + spanOf(w->width(), w->rows(), w->pitch(), &span) + span;
    }
    break;
  default:
    break;
  }
  return sum;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
  // The decoder assumes an aligned frame, as the receivers arrange.
  std::vector<std::uint64_t> aligned((size + 7) / 8);
  if (size != 0)
    std::memcpy(aligned.data(), data, size);
  std::string why;
  const auto *m = decodeClient(aligned.data(), size, why);
  if (m != nullptr) {
    volatile std::uint64_t sink = touch(m);
    (void)sink;
  }
  const auto *s = decodeServer(aligned.data(), size, why);
  (void)s;
#ifdef REMOTE_FUZZ_SERVER
  (void)fuzzOneMessage(data, size);
#endif
  return 0;
}
