// Requests of a session: every address, size and handle is checked against
// what this session owns before anything touches a device.
#include "remote/server/server_internal.h"
#include "translate/ptx/ptx.h"
#include <cstring>
#include <sys/mman.h>
#include <unistd.h>

namespace cuvirt::remote {
namespace {

using wire::Request;

constexpr std::size_t kMaxQueues = 1024, kMaxModules = 4096, kMaxPending = 1u << 20;
/// Kernel text kept per launch and stream (CUDA's default printf FIFO is
/// 1 MiB; beyond it a GPU drops output too).
constexpr std::size_t kMaxOutput = 1u << 20;

/// Bytes spanned by a 3-D copy side; false on overflow.
bool extent3(std::uint64_t width, std::uint64_t height, std::uint64_t depth, std::uint64_t pitch,
             std::uint64_t slice, std::uint64_t *span) {
  if (width == 0 || height == 0 || depth == 0) {
    *span = 0;
    return true;
  }
  pitch = pitch ? pitch : width;
  std::uint64_t plane = 0;
  if (!spanOf(width, height, pitch, &plane))
    return false;
  if (slice == 0 && __builtin_mul_overflow(pitch, height, &slice))
    return false;
  if (depth > 1 && slice < plane)
    return false;
  std::uint64_t body = 0;
  return !__builtin_mul_overflow(depth - 1, slice, &body) && !__builtin_add_overflow(body, plane, span);
}

void sendNotice(Server::Impl *srv, const std::string &routing, wire::Response type,
                flatbuffers::Offset<void> body, flatbuffers::FlatBufferBuilder &fb, ZMsgPtr data = nullptr) {
  fb.Finish(wire::CreateServerMessage(fb, 0, 0, 0, type, body));
  srv->notice(routing, fb, std::move(data));
}

} // namespace

bool owns(const Session &s, std::uint32_t device, std::uint64_t address, std::uint64_t bytes) {
  if (bytes == 0)
    bytes = 1;
  std::uint64_t end = 0;
  if (__builtin_add_overflow(address, bytes, &end))
    return false;
  std::uint64_t at = address;
  // Commits are adjacent chunks: a range may span several.
  for (int hops = 0; at < end && hops < 1 << 16; ++hops) {
    auto it = s.regions.upper_bound(at);
    if (it == s.regions.begin())
      return false;
    --it;
    if (it->second.device != device || at >= it->first + it->second.size)
      return false;
    at = it->first + it->second.size;
  }
  return at >= end;
}

void ServerQueue::asyncError(CUresult code, const std::string &message) {
  flatbuffers::FlatBufferBuilder fb;
  auto body = wire::CreateAsyncError(fb, id, static_cast<int>(code), fb.CreateString(message));
  sendNotice(server, routing, wire::Response::AsyncError, body.Union(), fb);
}

void ServerQueue::write(int fd, std::string_view text) {
  std::lock_guard lock(outputMutex);
  std::string &out = output[fd == 2 ? 1 : 0];
  out.append(text.substr(0, kMaxOutput - std::min(kMaxOutput, out.size())));
}

void ServerQueue::flushOutput() {
  std::string text[2];
  {
    std::lock_guard lock(outputMutex);
    if (output[0].empty() && output[1].empty())
      return;
    text[0].swap(output[0]);
    text[1].swap(output[1]);
  }
  for (int i = 0; i < 2; ++i) {
    if (text[i].empty())
      continue;
    flatbuffers::FlatBufferBuilder fb(text[i].size() + 128);
    auto bytes = fb.CreateVector(reinterpret_cast<const std::uint8_t *>(text[i].data()), text[i].size());
    sendNotice(server, routing, wire::Response::Output, wire::CreateOutput(fb, id, i + 1, bytes).Union(), fb);
  }
}

void Server::Impl::hello(const std::string &routing, const wire::ClientMessage &m) {
  const auto *h = m.request_as_Hello();
  if (sessions.count(routing) != 0)
    return reply(routing, m.seq(), CUDA_ERROR_ALREADY_ACQUIRED, "this connection has a session already");
  if (sessions.size() >= config.maxSessions)
    return reply(routing, m.seq(), CUDA_ERROR_OUT_OF_MEMORY, "the server has no room for another session");
  const std::uint32_t version = std::min(h->version_max(), kVersionMax);
  if (version < std::max(h->version_min(), kVersionMin))
    return reply(routing, m.seq(), CUDA_ERROR_NOT_SUPPORTED,
                 fmt::format("no common protocol version (client {}..{}, server {}..{})", h->version_min(),
                             h->version_max(), kVersionMin, kVersionMax));
  auto s = std::make_shared<Session>();
  s->id = nextSession++;
  s->routing = routing;
  s->client = h->client() ? h->client()->str().substr(0, 200) : "";
  s->lastSeen = nowMs();
  sessions[routing] = s;
  log->info("event=session_open session={} client=\"{}\" version={}", s->id, s->client, version);

  flatbuffers::FlatBufferBuilder fb;
  std::vector<flatbuffers::Offset<wire::DeviceInfo>> infos;
  for (const auto &d : devices) {
    const auto &p = d->props();
    auto name = fb.CreateString(p.name);
    auto uuid = fb.CreateVector(reinterpret_cast<const std::uint8_t *>(p.uuid.bytes), sizeof p.uuid.bytes);
    auto attrs = fb.CreateVector(p.attributes.data(), p.attributes.size());
    infos.push_back(wire::CreateDeviceInfo(fb, name, p.totalMemory, uuid, attrs));
  }
  // v3 plaintext sessions: a bulk socket for read data (bulk.cpp).
  std::uint16_t bulkPort = 0;
  if (version >= 3)
    s->bulk = offerBulk(*s, &bulkPort);
  auto token = s->bulk ? fb.CreateVector(s->bulk->token, kBulkTokenBytes) : 0;
  const auto clock =
      std::chrono::duration_cast<std::chrono::nanoseconds>(Marker::Clock::now().time_since_epoch());
  auto body =
      wire::CreateHelloReply(fb, version, s->id, fb.CreateString(config.name), fb.CreateVector(infos),
                             static_cast<std::uint32_t>(config.heartbeatMs), config.quota, kMaxControlFrame,
                             static_cast<std::uint64_t>(clock.count()), s->bulk ? bulkPort : 0, token);
  fb.Finish(wire::CreateServerMessage(fb, m.seq(), 0, 0, wire::Response::HelloReply, body.Union()));
  send(routing, fb);
}

void Server::Impl::stats(const std::string &routing, std::uint64_t seq) {
  flatbuffers::FlatBufferBuilder fb;
  std::vector<flatbuffers::Offset<wire::DeviceStats>> devs;
  for (std::uint32_t d = 0; d < devices.size(); ++d) {
    std::uint64_t used = 0;
    std::uint32_t users = 0, queues = 0, busy = 0;
    for (auto &[r, s] : sessions) {
      bool uses = false;
      for (auto &[a, region] : s->regions)
        if (region.device == d) {
          used += region.size;
          uses = true;
        }
      for (auto &[id, q] : s->queues)
        if (q->device == d) {
          uses = true;
          ++queues;
          busy += q->queue->idle() ? 0 : 1;
        }
      users += uses ? 1 : 0;
    }
    const auto &p = devices[d]->props();
    devs.push_back(
        wire::CreateDeviceStats(fb, fb.CreateString(p.name), p.totalMemory, used, users, busy, queues));
  }
  std::size_t cached = 0;
  {
    std::lock_guard lock(imagesMutex);
    cached = images.size();
  }
  auto body = wire::CreateStatsReply(
      fb, fb.CreateString(config.name), static_cast<std::uint32_t>(sessions.size()), committed.load(),
      fb.CreateVector(devs), rejected.load(), static_cast<std::uint32_t>(cached), bulkBytes.load());
  fb.Finish(wire::CreateServerMessage(fb, seq, 0, 0, wire::Response::StatsReply, body.Union()));
  send(routing, fb);
}

void Server::Impl::teardown(Session &s) {
  // Held queues let go first, or draining them would never end.
  {
    std::lock_guard lock(s.mutex);
    for (auto &[id, t] : s.tokens)
      t->complete();
    s.tokens.clear();
  }
  s.queues.clear(); // each drains its work, then its thread ends
  {
    std::lock_guard lock(s.mutex);
    s.kernels.clear();
    s.markers.clear();
  }
  s.modules.clear();
  // The bulk sender stops before the memory it may read goes.
  if (s.bulk) {
    {
      std::lock_guard lock(bulkMutex);
      bulkChannels.erase(s.bulk->session);
    }
    s.bulk->close();
  }
  // Memory zmq still reads from (zero-copy reads) stays mapped until sent;
  // a peer that is gone makes zmq drop them, so this ends.
  for (int i = 0; i < 1000 && s.lent->count.load() != 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  if (s.lent->count.load() != 0) {
    log->error("event=teardown_leak session={} reason=\"frames still in flight; memory left mapped\"", s.id);
    committed -= s.committed;
    return;
  }
  for (auto &[address, region] : s.regions) {
    devices[region.device]->release(address, region.size);
    munmap(reinterpret_cast<void *>(address), region.size);
    committed -= region.size;
  }
  {
    std::lock_guard lock(s.regionsMutex);
    s.regions.clear();
  }
  s.committed = 0;
}

void Server::Impl::handle(const std::string &routing, const wire::ClientMessage &m, ZMsg *data) {
  const std::uint64_t seq = m.seq();
  if (m.request_type() == Request::Hello)
    return hello(routing, m);
  if (m.request_type() == Request::StatsRequest)
    return stats(routing, seq); // cuvirt-smi asks without a session
  auto found = sessions.find(routing);
  if (found == sessions.end())
    return reply(routing, seq, CUDA_ERROR_NOT_INITIALIZED, "no session: say Hello first");
  SessionPtr sp = found->second;
  Session &s = *sp;
  s.lastSeen = nowMs();
  // Replies only where the client waits for one; pipelined failures go back
  // as the queue's AsyncError (or, without a queue, an error notice).
  auto fail = [&](std::uint64_t queue, Status code, const std::string &why) {
    log->debug("event=request_failed session={} code={} reason=\"{}\"", s.id, static_cast<int>(code.code()),
               why);
    if (seq != 0)
      return reply(routing, seq, code, why);
    flatbuffers::FlatBufferBuilder fb;
    auto body = wire::CreateAsyncError(fb, queue, static_cast<int>(code.code()), fb.CreateString(why));
    fb.Finish(wire::CreateServerMessage(fb, 0, 0, 0, wire::Response::AsyncError, body.Union()));
    send(routing, fb);
  };
  auto ok = [&] {
    if (seq != 0)
      reply(routing, seq, CUDA_SUCCESS);
  };
  auto queueOf = [&](std::uint64_t id) -> ServerQueue * {
    auto it = s.queues.find(id);
    return it == s.queues.end() ? nullptr : it->second.get();
  };
  auto validDevice = [&](std::uint32_t d) { return d < devices.size(); };

  switch (m.request_type()) {
  case Request::Ping: {
    flatbuffers::FlatBufferBuilder fb;
    fb.Finish(wire::CreateServerMessage(fb, seq, 0, 0, wire::Response::Pong, wire::CreatePong(fb).Union()));
    return send(routing, fb);
  }
  case Request::Goodbye:
    ok();
    return endSession(sp, "goodbye");
  case Request::Commit: {
    const auto *r = m.request_as_Commit();
    const std::uint64_t a = r->address(), n = r->bytes();
    const std::uint64_t page = static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE));
    std::uint64_t end = 0;
    // Low addresses stay unmapped: NULL-ish pointers must fault, never alias.
    if (!validDevice(r->device()) || n == 0 || a < (std::uint64_t(1) << 20) || a % page != 0 ||
        n % page != 0 || __builtin_add_overflow(a, n, &end) || end > (std::uint64_t(1) << 47))
      return fail(0, CUDA_ERROR_INVALID_VALUE, "commit: bad device, address or size");
    if (config.quota != 0 && s.committed + n > config.quota)
      return fail(
          0, CUDA_ERROR_OUT_OF_MEMORY,
          fmt::format("quota: {} bytes committed, {} more asked, {} allowed", s.committed, n, config.quota));
    if (s.regions.size() >= kMaxPending)
      return fail(0, CUDA_ERROR_OUT_OF_MEMORY, "commit: too many regions");
    // The range must be free in this process: another session's, or the
    // server's own, memory there means the client's window collides.
    void *p = mmap(reinterpret_cast<void *>(a), n, PROT_NONE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);
    if (p == MAP_FAILED || p != reinterpret_cast<void *>(a)) {
      if (p != MAP_FAILED)
        munmap(p, n);
      return fail(0, CUDA_ERROR_OUT_OF_MEMORY,
                  fmt::format("commit: addresses 0x{:x}+{} are in use on the server", a, n));
    }
    if (Status st = devices[r->device()]->commit(a, n); !st.ok()) {
      munmap(p, n);
      return fail(0, st, "commit: the device has no memory for it");
    }
    {
      std::lock_guard lock(s.regionsMutex);
      s.regions[a] = {r->device(), n};
    }
    s.committed += n;
    committed += n;
    return ok();
  }
  case Request::Release: {
    const auto *r = m.request_as_Release();
    if (!validDevice(r->device()) || !owns(s, r->device(), r->address(), r->bytes()))
      return fail(0, CUDA_ERROR_INVALID_VALUE, "release: not this session's memory");
    devices[r->device()]->release(r->address(), r->bytes());
    return ok();
  }
  case Request::Write: {
    const auto *r = m.request_as_Write();
    std::uint64_t span = 0;
    Status bad;
    std::uint64_t bytes = 0;
    if (data == nullptr || !spanOf(r->width(), r->rows(), r->pitch() ? r->pitch() : r->width(), &span) ||
        __builtin_mul_overflow(r->width(), r->rows(), &bytes) || bytes != data->size() || bytes == 0)
      bad = error(CUDA_ERROR_INVALID_VALUE, "write: the data frame does not match the request");
    else if (!validDevice(r->device()) || !owns(s, r->device(), r->address(), span))
      bad = error(CUDA_ERROR_INVALID_VALUE, "write: 0x{:x}+{} is not this session's memory", r->address(),
                  span);
    CopyOp op;
    if (bad.ok()) {
      op.dst = r->address();
      op.src = reinterpret_cast<std::uint64_t>(data->data());
      op.srcHost = true;
      op.widthBytes = r->width();
      op.height = r->rows();
      op.dstPitch = r->pitch();
      op.srcPitch = r->width();
    }
    if (r->queue() != 0) {
      ServerQueue *q = queueOf(r->queue());
      if (q == nullptr || q->device != r->device())
        return fail(r->queue(), CUDA_ERROR_INVALID_HANDLE, "write: unknown queue");
      if (!bad.ok())
        return fail(r->queue(), bad, "write: bad request");
      auto keep = std::make_shared<ZMsg>();
      zmq_msg_move(&keep->m, &data->m);
      op.src = reinterpret_cast<std::uint64_t>(keep->data());
      q->queue->copy(op);
      q->queue->hostFunc([keep] {}); // the frame lives until the copy ran
      return;
    }
    if (bad.ok())
      bad = devices[r->device()]->copyNow(op);
    if (!bad.ok() && s.pendingWriteError.ok())
      s.pendingWriteError = bad;
    if (!r->last())
      return;
    Status result = s.pendingWriteError;
    s.pendingWriteError = Status();
    if (seq != 0)
      reply(routing, seq, result, result.ok() ? "" : "write: bad address, size or data frame");
    return;
  }
  case Request::Read: {
    const auto *r = m.request_as_Read();
    std::uint64_t span = 0, total = 0;
    // Zero-width rows would make a copy loop without moving a byte.
    if (!spanOf(r->width(), r->rows(), r->pitch() ? r->pitch() : r->width(), &span) ||
        __builtin_mul_overflow(r->width(), r->rows(), &total) || total > kMaxDataFrame || total == 0)
      return fail(r->queue(), CUDA_ERROR_INVALID_VALUE, "read: bad size");
    if (!validDevice(r->device()) || !owns(s, r->device(), r->address(), span))
      return fail(r->queue(), CUDA_ERROR_INVALID_VALUE,
                  fmt::format("read: 0x{:x}+{} is not this session's memory", r->address(), span));
    if (r->bulk() && r->queue() == 0 && s.bulk && devices[r->device()]->hostVisible() &&
        s.bulk->enqueue({r->address(), r->width(), r->rows(), r->pitch() ? r->pitch() : r->width()})) {
      // The bytes follow on the bulk socket, after those of earlier reads.
      flatbuffers::FlatBufferBuilder fb;
      fb.Finish(wire::CreateServerMessage(fb, seq, 0, 0, wire::Response::ReadData,
                                          wire::CreateReadData(fb, r->tag(), true, total).Union()));
      return send(routing, fb);
    }
    if (r->queue() == 0 && devices[r->device()]->hostVisible() && r->pitch() <= r->width()) {
      // Synchronous and contiguous: zmq sends straight from device memory
      // (the client waits for it; the session outlives the frame).
      ZMsg out;
      zmq_msg_close(&out.m);
      s.lent->count.fetch_add(1);
      zmq_msg_init_data(&out.m, reinterpret_cast<void *>(r->address()), total, &Session::Lent::release,
                        s.lent);
      flatbuffers::FlatBufferBuilder fb;
      fb.Finish(wire::CreateServerMessage(fb, seq, 0, 0, wire::Response::ReadData,
                                          wire::CreateReadData(fb, r->tag()).Union()));
      return send(routing, fb, &out);
    }
    auto out = std::make_shared<ZMsg>(total);
    CopyOp op;
    op.dst = reinterpret_cast<std::uint64_t>(out->data());
    op.dstHost = true;
    op.src = r->address();
    op.widthBytes = r->width();
    op.height = r->rows();
    op.dstPitch = r->width();
    op.srcPitch = r->pitch();
    if (r->queue() != 0) {
      ServerQueue *q = queueOf(r->queue());
      if (q == nullptr || q->device != r->device())
        return fail(r->queue(), CUDA_ERROR_INVALID_HANDLE, "read: unknown queue");
      q->queue->copy(op);
      q->queue->hostFunc([this, routing, tag = r->tag(), out] {
        flatbuffers::FlatBufferBuilder fb;
        sendNotice(this, routing, wire::Response::ReadData, wire::CreateReadData(fb, tag).Union(), fb, out);
      });
      return;
    }
    if (Status st = devices[r->device()]->copyNow(op); !st.ok())
      return fail(0, st, "read failed");
    flatbuffers::FlatBufferBuilder fb;
    fb.Finish(wire::CreateServerMessage(fb, seq, 0, 0, wire::Response::ReadData,
                                        wire::CreateReadData(fb, r->tag()).Union()));
    return send(routing, fb, out.get());
  }
  case Request::Copy: {
    const auto *r = m.request_as_Copy();
    std::uint64_t dSpan = 0, sSpan = 0;
    if (r->width() == 0 || r->height() == 0 || r->depth() == 0)
      return ok(); // nothing to copy
    if (!validDevice(r->device()) ||
        !extent3(r->width(), r->height(), r->depth(), r->dst_pitch(), r->dst_slice(), &dSpan) ||
        !extent3(r->width(), r->height(), r->depth(), r->src_pitch(), r->src_slice(), &sSpan) ||
        !owns(s, r->device(), r->dst(), dSpan) || !owns(s, r->device(), r->src(), sSpan))
      return fail(r->queue(), CUDA_ERROR_INVALID_VALUE, "copy: not this session's memory");
    CopyOp op;
    op.dst = r->dst();
    op.src = r->src();
    op.widthBytes = r->width();
    op.height = r->height();
    op.depth = r->depth();
    op.dstPitch = r->dst_pitch();
    op.dstSliceBytes = r->dst_slice();
    op.srcPitch = r->src_pitch();
    op.srcSliceBytes = r->src_slice();
    if (r->queue() != 0) {
      ServerQueue *q = queueOf(r->queue());
      if (q == nullptr || q->device != r->device())
        return fail(r->queue(), CUDA_ERROR_INVALID_HANDLE, "copy: unknown queue");
      q->queue->copy(op);
      return;
    }
    Status st = devices[r->device()]->copyNow(op);
    return st.ok() ? ok() : fail(0, st, "copy failed");
  }
  case Request::Fill: {
    const auto *r = m.request_as_Fill();
    const std::uint32_t es = r->element_size();
    std::uint64_t rowBytes = 0, span = 0;
    if (r->width() == 0 || r->height() == 0)
      return ok(); // nothing to fill
    if (!validDevice(r->device()) || (es != 1 && es != 2 && es != 4) ||
        __builtin_mul_overflow(r->width(), std::uint64_t(es), &rowBytes) ||
        !spanOf(rowBytes, r->height(), r->pitch() ? r->pitch() : rowBytes, &span) ||
        !owns(s, r->device(), r->address(), span))
      return fail(r->queue(), CUDA_ERROR_INVALID_VALUE, "fill: not this session's memory");
    FillOp op;
    op.dst = r->address();
    op.pitch = r->pitch();
    op.width = r->width();
    op.height = r->height();
    op.value = r->value();
    op.elementSize = es;
    if (r->queue() != 0) {
      ServerQueue *q = queueOf(r->queue());
      if (q == nullptr || q->device != r->device())
        return fail(r->queue(), CUDA_ERROR_INVALID_HANDLE, "fill: unknown queue");
      q->queue->fill(op);
      return;
    }
    Status st = devices[r->device()]->fillNow(op);
    return st.ok() ? ok() : fail(0, st, "fill failed");
  }
  case Request::LoadModule: {
    const auto *r = m.request_as_LoadModule();
    if (!validDevice(r->device()) || r->module_() == 0 || s.modules.count(r->module_()) != 0 ||
        s.modules.size() >= kMaxModules || r->hash() == nullptr || r->hash()->size() != 16)
      return fail(0, CUDA_ERROR_INVALID_VALUE, "load module: bad device, id or hash");
    const std::string hash(reinterpret_cast<const char *>(r->hash()->data()), 16);
    const std::size_t nGlobals = r->global_names() ? r->global_names()->size() : 0;
    if (nGlobals != (r->global_addresses() ? r->global_addresses()->size() : 0))
      return fail(0, CUDA_ERROR_INVALID_VALUE, "load module: globals and addresses differ in number");
    ModuleSource source;
    for (flatbuffers::uoffset_t i = 0; i < nGlobals; ++i) {
      const std::uint64_t a = r->global_addresses()->Get(i);
      if (!owns(s, r->device(), a, 1))
        return fail(0, CUDA_ERROR_INVALID_VALUE,
                    fmt::format("load module: global at 0x{:x} is not this session's", a));
      source.globals.emplace_back(r->global_names()->Get(i)->str(), a);
    }
    std::shared_ptr<Image> image;
    if (r->ptx() != nullptr || r->cubin() != nullptr) {
      image = std::make_shared<Image>();
      if (r->ptx() != nullptr)
        image->ptx = r->ptx()->str();
      if (r->cubin() != nullptr)
        image->cubin.assign(reinterpret_cast<const char *>(r->cubin()->data()), r->cubin()->size());
      if (!image->ptx.empty()) {
        std::string plog;
        auto info = ptx::moduleInfo(image->ptx, plog);
        if (!info)
          return fail(0, info.status(), "load module: " + plog);
        image->info = info.take();
      }
      std::lock_guard lock(imagesMutex);
      if (images.emplace(hash, image).second) {
        imageOrder.push_back(hash);
        imageBytes += image->bytes();
        while (imageBytes > config.imageCacheBytes && imageOrder.size() > 1) {
          auto old = images.find(imageOrder.front());
          imageBytes -= old->second->bytes();
          images.erase(old);
          imageOrder.pop_front();
        }
      }
    } else {
      std::lock_guard lock(imagesMutex);
      auto it = images.find(hash);
      if (it == images.end()) {
        flatbuffers::FlatBufferBuilder fb;
        fb.Finish(wire::CreateServerMessage(fb, seq, 0, 0, wire::Response::NeedImage,
                                            wire::CreateNeedImage(fb).Union()));
        return send(routing, fb);
      }
      image = it->second;
    }
    source.ptx = image->ptx;
    source.cubin = image->cubin;
    source.info = &image->info;
    std::string blog;
    auto backend = devices[r->device()]->loadModule(source, blog);
    if (!backend)
      return fail(0, backend.status(), "load module: " + blog);
    auto mod = std::make_shared<ServerModule>();
    mod->device = r->device();
    mod->image = image;
    mod->backend = backend.take();
    s.modules[r->module_()] = mod;
    return ok();
  }
  case Request::UnloadModule: {
    auto it = s.modules.find(m.request_as_UnloadModule()->module_());
    if (it == s.modules.end())
      return fail(0, CUDA_ERROR_INVALID_HANDLE, "unload module: unknown module");
    auto mod = std::move(it->second);
    s.modules.erase(it);
    std::lock_guard lock(s.mutex);
    for (auto k = s.kernels.begin(); k != s.kernels.end();)
      k = k->second.module == mod ? s.kernels.erase(k) : std::next(k);
    return ok();
  }
  case Request::GetKernel: {
    const auto *r = m.request_as_GetKernel();
    auto it = s.modules.find(r->module_());
    if (it == s.modules.end() || r->name() == nullptr || r->kernel() == 0)
      return fail(0, CUDA_ERROR_INVALID_HANDLE, "get kernel: unknown module");
    {
      std::lock_guard lock(s.mutex);
      if (s.kernels.count(r->kernel()) != 0 || s.kernels.size() >= kMaxPending)
        return fail(0, CUDA_ERROR_INVALID_VALUE, "get kernel: id in use");
    }
    const KernelInfo *info = nullptr;
    for (const auto &k : it->second->image->info.kernels)
      if (k.name == r->name()->string_view())
        info = &k;
    if (info == nullptr)
      return fail(0, CUDA_ERROR_NOT_FOUND, "get kernel: no such kernel in the module");
    // Compiling may take a while: not on the loop that answers everyone.
    helper([this, sp, routing, seq, mod = it->second, name = r->name()->str(), id = r->kernel(), info] {
      auto k = mod->backend->kernel(name);
      Status st = k ? Status() : k.status();
      std::string why = k ? "" : "get kernel: " + lastErrorMessage();
      if (k) {
        std::lock_guard lock(sp->mutex);
        sp->kernels[id] = {mod, *k, info};
      }
      flatbuffers::FlatBufferBuilder fb;
      fb.Finish(wire::CreateServerMessage(fb, seq, static_cast<int>(st.code()), fb.CreateString(why)));
      notice(routing, fb);
    });
    return;
  }
  case Request::CreateQueue: {
    const auto *r = m.request_as_CreateQueue();
    if (!validDevice(r->device()) || r->queue() == 0 || s.queues.count(r->queue()) != 0 ||
        s.queues.size() >= kMaxQueues)
      return fail(r->queue(), CUDA_ERROR_INVALID_VALUE, "create queue: bad device or id");
    auto q = std::make_unique<ServerQueue>();
    q->server = this;
    q->routing = routing;
    q->id = r->queue();
    q->device = r->device();
    q->queue = devices[r->device()]->createQueue(std::clamp(r->priority(), -5, 0), q.get());
    s.queues[r->queue()] = std::move(q);
    return ok();
  }
  case Request::DestroyQueue: {
    auto it = s.queues.find(m.request_as_DestroyQueue()->queue());
    if (it == s.queues.end())
      return fail(0, CUDA_ERROR_INVALID_HANDLE, "destroy queue: unknown queue");
    std::shared_ptr<ServerQueue> q(std::move(it->second));
    s.queues.erase(it);
    // It drains its work first (perhaps held at a token): never on this thread.
    helper([q = std::move(q)]() mutable { q.reset(); });
    return ok();
  }
  case Request::Launch: {
    const auto *r = m.request_as_Launch();
    ServerQueue *q = queueOf(r->queue());
    if (q == nullptr)
      return fail(r->queue(), CUDA_ERROR_INVALID_HANDLE, "launch: unknown queue");
    ServerKernel k;
    {
      std::lock_guard lock(s.mutex);
      auto it = s.kernels.find(r->kernel());
      if (it == s.kernels.end())
        return fail(r->queue(), CUDA_ERROR_INVALID_HANDLE, "launch: unknown kernel");
      k = it->second;
    }
    if (k.module->device != q->device)
      return fail(r->queue(), CUDA_ERROR_INVALID_HANDLE, "launch: the kernel is on another device");
    const auto *g = r->grid();
    const auto *b = r->block();
    const auto &attr = devices[q->device]->props().attributes;
    const std::size_t nParams = r->params() ? r->params()->size() : 0;
    if (g == nullptr || b == nullptr || g->x() == 0 || g->y() == 0 || g->z() == 0 || b->x() == 0 ||
        b->y() == 0 || b->z() == 0 || std::uint64_t(b->x()) * b->y() * b->z() > 1024 ||
        g->x() > std::uint32_t(attr[CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_X]) ||
        g->y() > std::uint32_t(attr[CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Y]) ||
        g->z() > std::uint32_t(attr[CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Z]) ||
        r->dynamic_shared() > std::uint32_t(attr[CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN]))
      return fail(r->queue(), CUDA_ERROR_INVALID_VALUE, "launch: bad grid, block or shared memory size");
    if (r->cooperative()) {
      // Every block gets a thread at once: bounded by what the device says
      // can be resident (the client's runtime checks the kernel's occupancy).
      const std::uint64_t blocks = std::uint64_t(g->x()) * g->y() * g->z();
      if (attr[CU_DEVICE_ATTRIBUTE_COOPERATIVE_LAUNCH] == 0)
        return fail(r->queue(), CUDA_ERROR_NOT_SUPPORTED, "launch: the device has no cooperative launches");
      if (blocks > std::uint64_t(std::max(attr[CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT], 1)) *
                       std::uint64_t(std::max(attr[CU_DEVICE_ATTRIBUTE_MAX_BLOCKS_PER_MULTIPROCESSOR], 1)))
        return fail(r->queue(), CUDA_ERROR_COOPERATIVE_LAUNCH_TOO_LARGE,
                    "launch: the cooperative grid cannot be resident at once");
    }
    // The kernel reads its parameters by the module's layout, not the client's.
    if (nParams > kMaxParamBytes || nParams < k.info->paramBytes())
      return fail(r->queue(), CUDA_ERROR_INVALID_VALUE,
                  "launch: the parameter buffer does not fit the kernel");
    LaunchOp op;
    op.kernel = k.kernel;
    op.grid[0] = g->x();
    op.grid[1] = g->y();
    op.grid[2] = g->z();
    op.block[0] = b->x();
    op.block[1] = b->y();
    op.block[2] = b->z();
    op.dynamicSharedBytes = r->dynamic_shared();
    if (nParams != 0)
      op.params.assign(r->params()->begin(), r->params()->end());
    op.layout = k.info->params;
    op.name = k.info->name;
    op.output = q; // printf/assert text goes to the client, not our stdout
    op.cooperative = r->cooperative();
    q->queue->launch(std::move(op));
    // The module outlives its launches; the kernel's text leaves before any
    // later MarkerDone.
    q->queue->hostFunc([q, mod = k.module] { q->flushOutput(); });
    return;
  }
  case Request::Record: {
    const auto *r = m.request_as_Record();
    ServerQueue *q = queueOf(r->queue());
    if (q == nullptr)
      return fail(r->queue(), CUDA_ERROR_INVALID_HANDLE, "record: unknown queue");
    auto marker = std::make_shared<Marker>();
    {
      std::lock_guard lock(s.mutex);
      if (s.markers.size() >= kMaxPending || !s.markers.emplace(r->marker(), marker).second)
        return fail(r->queue(), CUDA_ERROR_INVALID_VALUE, "record: marker id in use");
    }
    q->queue->hostFunc([this, sp, routing, id = r->marker(), marker] {
      {
        std::lock_guard lock(sp->mutex);
        sp->markers.erase(id);
      }
      marker->complete();
      const auto at = std::chrono::duration_cast<std::chrono::nanoseconds>(marker->time().time_since_epoch());
      flatbuffers::FlatBufferBuilder fb;
      sendNotice(this, routing, wire::Response::MarkerDone,
                 wire::CreateMarkerDone(fb, id, static_cast<std::uint64_t>(at.count())).Union(), fb);
    });
    return;
  }
  case Request::WaitMarker: {
    const auto *r = m.request_as_WaitMarker();
    ServerQueue *q = queueOf(r->queue());
    if (q == nullptr)
      return fail(r->queue(), CUDA_ERROR_INVALID_HANDLE, "wait: unknown queue");
    MarkerPtr marker;
    {
      std::lock_guard lock(s.mutex);
      auto it = s.markers.find(r->marker());
      if (it != s.markers.end())
        marker = it->second;
    }
    if (marker) // gone: it completed already
      q->queue->wait(marker);
    return;
  }
  case Request::WaitToken:
  case Request::HostPoint: {
    const bool host = m.request_type() == Request::HostPoint;
    const std::uint64_t queue = host ? m.request_as_HostPoint()->queue() : m.request_as_WaitToken()->queue();
    const std::uint64_t token = host ? m.request_as_HostPoint()->token() : m.request_as_WaitToken()->token();
    ServerQueue *q = queueOf(queue);
    if (q == nullptr)
      return fail(queue, CUDA_ERROR_INVALID_HANDLE, "wait: unknown queue");
    auto held = std::make_shared<Marker>();
    {
      std::lock_guard lock(s.mutex);
      if (s.tokens.size() >= kMaxPending || !s.tokens.emplace(token, held).second)
        return fail(queue, CUDA_ERROR_INVALID_VALUE, "token id in use");
    }
    if (host)
      q->queue->hostFunc([this, routing, token] {
        flatbuffers::FlatBufferBuilder fb;
        sendNotice(this, routing, wire::Response::HostReached, wire::CreateHostReached(fb, token).Union(),
                   fb);
      });
    q->queue->wait(held);
    return;
  }
  case Request::ReleaseToken: {
    MarkerPtr held;
    {
      std::lock_guard lock(s.mutex);
      auto it = s.tokens.find(m.request_as_ReleaseToken()->token());
      if (it == s.tokens.end())
        return fail(0, CUDA_ERROR_INVALID_HANDLE, "release: unknown token");
      held = std::move(it->second);
      s.tokens.erase(it);
    }
    held->complete();
    return ok();
  }
  default:
    return fail(0, CUDA_ERROR_NOT_SUPPORTED, "request not supported");
  }
}

} // namespace cuvirt::remote
