// A stream on a remote device. Everything here is pipelined: no call waits
// for the server, except synchronize() (for the work itself, not a reply).
#include "remote/client/remote_backend.h"
#include "runtime/log.h"
#include <cstdlib>
#include <cstring>

namespace cuvirt::remote {

using wire::Request;

RemoteQueue::RemoteQueue(RemoteDevice &device, std::uint64_t id, ErrorSink *errors)
    : device_(device), conn_(device.conn()), id_(id), errors_(errors) {}

RemoteQueue::~RemoteQueue() {
  flatbuffers::FlatBufferBuilder fb;
  fb.Finish(
      wire::CreateClientMessage(fb, 0, Request::DestroyQueue, wire::CreateDestroyQueue(fb, id_).Union()));
  if (!conn_.dead()) // as in ~RemoteModule: no error report at exit
    (void)conn_.post(fb);
  conn_.forgetQueue(id_);
  {
    std::lock_guard lock(hostMutex_);
    hostStop_ = true;
  }
  hostCv_.notify_all();
  if (hostThread_.joinable())
    hostThread_.join();
}

void RemoteQueue::touched() {
  std::lock_guard lock(tailMutex_);
  dirty_ = true;
}

void RemoteQueue::post(flatbuffers::FlatBufferBuilder &fb, zmq_msg_t *data) {
  touched();
  Status s = conn_.post(fb, data);
  if (!s.ok() && errors_ != nullptr)
    errors_->asyncError(s.code(), lastErrorMessage());
}

void RemoteQueue::beforeDeviceWork() {
  if (!device_.hasManaged())
    return;
  touched();
  if (Status s = device_.pushManaged(id_); !s.ok() && errors_ != nullptr)
    errors_->asyncError(s.code(), lastErrorMessage());
}

void RemoteQueue::copy(const CopyOp &op) {
  const std::uint32_t dev = device_.index();
  beforeDeviceWork();
  if (!op.dstHost &&
      device_.touchesManaged(op.dst, op.widthBytes * op.height * op.depth + op.dstPitch * op.height +
                                         op.dstSliceBytes * op.depth))
    managedChanged_.store(true, std::memory_order_relaxed);
  if (device_.needsStaging(op)) {
    // Another device's memory: staged here, in stream order.
    RemoteDevice *self = &device_;
    ErrorSink *sink = errors_;
    hostFunc([self, sink, op] {
      if (Status s = self->copyStaged(op); !s.ok() && sink != nullptr)
        sink->asyncError(s.code(), lastErrorMessage());
    });
    return;
  }
  if (!op.dstHost && !op.srcHost) {
    flatbuffers::FlatBufferBuilder fb;
    fb.Finish(wire::CreateClientMessage(fb, 0, Request::Copy,
                                        wire::CreateCopy(fb, id_, dev, op.dst, op.src, op.widthBytes,
                                                         op.height, op.depth, op.dstPitch, op.dstSliceBytes,
                                                         op.srcPitch, op.srcSliceBytes)
                                            .Union()));
    post(fb);
    return;
  }
  if (op.dstHost && op.srcHost) {
    hostFunc([op] {
      const std::size_t dp = op.dstPitch ? op.dstPitch : op.widthBytes,
                        sp = op.srcPitch ? op.srcPitch : op.widthBytes;
      const std::size_t ds = op.dstSliceBytes ? op.dstSliceBytes : dp * op.height;
      const std::size_t ss = op.srcSliceBytes ? op.srcSliceBytes : sp * op.height;
      for (std::size_t z = 0; z < op.depth; ++z)
        for (std::size_t y = 0; y < op.height; ++y)
          std::memmove(reinterpret_cast<void *>(op.dst + z * ds + y * dp),
                       reinterpret_cast<const void *>(op.src + z * ss + y * sp), op.widthBytes);
    });
    return;
  }
  const std::size_t dPitch = op.dstPitch ? op.dstPitch : op.widthBytes;
  const std::size_t sPitch = op.srcPitch ? op.srcPitch : op.widthBytes;
  const std::size_t dSlice = op.dstSliceBytes ? op.dstSliceBytes : dPitch * op.height;
  const std::size_t sSlice = op.srcSliceBytes ? op.srcSliceBytes : sPitch * op.height;
  const bool packed = dPitch == op.widthBytes && sPitch == op.widthBytes && dSlice == dPitch * op.height &&
                      sSlice == sPitch * op.height;
  const std::size_t slices = packed ? 1 : op.depth;
  const std::size_t width = packed ? op.widthBytes * op.height * op.depth : op.widthBytes;
  const std::size_t rows = packed ? 1 : op.height;
  const std::size_t perPiece = width >= kChunkBytes ? 1 : kChunkBytes / width;
  const std::size_t sliceBytes = width >= kChunkBytes ? kChunkBytes : width;
  for (std::size_t z = 0; z < slices; ++z)
    for (std::size_t r = 0; r < rows; r += perPiece) {
      const std::size_t n = std::min(perPiece, rows - r);
      for (std::size_t off = 0; off < width; off += sliceBytes) {
        const std::size_t w = std::min(sliceBytes, width - off);
        flatbuffers::FlatBufferBuilder fb;
        if (op.srcHost) {
          // Copied into the frame: the caller may reuse its buffer once
          // the stream reaches this point, which can be before zmq is done.
          zmq_msg_t data;
          auto *out = static_cast<std::uint8_t *>(std::malloc(w * n));
          zmq_msg_init_data(&data, out, w * n, &Connection::freeSent, &conn_);
          const auto *in = reinterpret_cast<const std::uint8_t *>(op.src + z * sSlice) + r * sPitch + off;
          for (std::size_t i = 0; i < n; ++i)
            std::memcpy(out + i * w, in + i * sPitch, w);
          fb.Finish(wire::CreateClientMessage(
              fb, 0, Request::Write,
              wire::CreateWrite(fb, id_, dev, op.dst + z * dSlice + r * dPitch + off, w, n, dPitch, true)
                  .Union()));
          post(fb, &data);
        } else {
          const std::uint64_t tag = conn_.nextId();
          conn_.trackRead(
              tag, {reinterpret_cast<std::uint8_t *>(op.dst + z * dSlice) + r * dPitch + off, w, n, dPitch});
          fb.Finish(wire::CreateClientMessage(
              fb, 0, Request::Read,
              wire::CreateRead(fb, id_, dev, op.src + z * sSlice + r * sPitch + off, w, n, sPitch, tag)
                  .Union()));
          post(fb);
        }
      }
    }
}

void RemoteQueue::fill(const FillOp &op) {
  beforeDeviceWork();
  if (device_.touchesManaged(op.dst, (op.pitch ? op.pitch : op.width * op.elementSize) * op.height))
    managedChanged_.store(true, std::memory_order_relaxed);
  flatbuffers::FlatBufferBuilder fb;
  fb.Finish(wire::CreateClientMessage(fb, 0, Request::Fill,
                                      wire::CreateFill(fb, id_, device_.index(), op.dst, op.pitch, op.width,
                                                       op.height, op.value, op.elementSize)
                                          .Union()));
  post(fb);
}

void RemoteQueue::launch(LaunchOp op) {
  if (op.cooperative && conn_.version() < 2) { // a v1 server would run it as a plain launch
    if (errors_ != nullptr)
      errors_->asyncError(CUDA_ERROR_NOT_SUPPORTED, "cooperative launches need protocol v2 on the server");
    return;
  }
  beforeDeviceWork();
  managedChanged_.store(true, std::memory_order_relaxed); // any kernel may write managed memory
  auto *k = static_cast<RemoteKernel *>(op.kernel);
  flatbuffers::FlatBufferBuilder fb(256 + op.params.size());
  auto params = fb.CreateVector(op.params);
  std::vector<wire::ParamSlot> slots;
  slots.reserve(op.layout.size());
  for (const auto &p : op.layout)
    slots.emplace_back(p.offset, p.size, p.align);
  auto layout = fb.CreateVectorOfStructs(slots);
  auto name = fb.CreateString(op.name);
  wire::Dim3 grid(op.grid[0], op.grid[1], op.grid[2]), block(op.block[0], op.block[1], op.block[2]);
  fb.Finish(wire::CreateClientMessage(fb, 0, Request::Launch,
                                      wire::CreateLaunch(fb, id_, k != nullptr ? k->id : 0, &grid, &block,
                                                         op.dynamicSharedBytes, params, layout, name,
                                                         op.cooperative)
                                          .Union()));
  post(fb);
}

void RemoteQueue::hostMain() {
  pthread_setname_np(pthread_self(), "cuvirt-hostfn");
  std::unique_lock lock(hostMutex_);
  for (;;) {
    hostCv_.wait(lock, [&] { return hostStop_ || !hostReady_.empty(); });
    if (hostReady_.empty())
      return;
    auto [token, fn] = std::move(hostReady_.front());
    hostReady_.pop_front();
    lock.unlock();
    fn();
    flatbuffers::FlatBufferBuilder fb;
    fb.Finish(
        wire::CreateClientMessage(fb, 0, Request::ReleaseToken, wire::CreateReleaseToken(fb, token).Union()));
    (void)conn_.post(fb);
    lock.lock();
  }
}

void RemoteQueue::hostFunc(std::function<void()> fn) {
  {
    std::lock_guard lock(hostMutex_);
    if (!hostThread_.joinable())
      hostThread_ = std::thread([this] { hostMain(); });
  }
  const std::uint64_t token = conn_.nextId();
  // The server stops the queue at this point and tells us; the function
  // runs here, then the release lets the queue go on.
  conn_.trackHostPoint(token, [this, token, fn = std::move(fn)]() mutable {
    {
      std::lock_guard lock(hostMutex_);
      hostReady_.emplace_back(token, std::move(fn));
    }
    hostCv_.notify_one();
  });
  flatbuffers::FlatBufferBuilder fb;
  fb.Finish(
      wire::CreateClientMessage(fb, 0, Request::HostPoint, wire::CreateHostPoint(fb, id_, token).Union()));
  post(fb);
}

void RemoteQueue::record(MarkerPtr marker) {
  // What this queue's work did to managed memory reaches the host copy before
  // the marker completes (the reads' notices precede MarkerDone).
  if (device_.hasManaged() && managedChanged_.exchange(false))
    if (Status s = device_.pullManaged(id_); !s.ok() && errors_ != nullptr)
      errors_->asyncError(s.code(), lastErrorMessage());
  const std::uint64_t id = conn_.nextId();
  {
    std::lock_guard lock(tailMutex_);
    tail_ = marker;
    dirty_ = false;
  }
  conn_.trackMarker(id, marker, errors_);
  flatbuffers::FlatBufferBuilder fb;
  fb.Finish(wire::CreateClientMessage(fb, 0, Request::Record, wire::CreateRecord(fb, id_, id).Union()));
  if (Status s = conn_.post(fb); !s.ok()) {
    if (errors_ != nullptr)
      errors_->asyncError(s.code(), lastErrorMessage());
    marker->complete();
  }
}

void RemoteQueue::wait(MarkerPtr marker) {
  if (marker->done())
    return;
  flatbuffers::FlatBufferBuilder fb;
  if (auto id = conn_.markerId(marker.get())) {
    // Recorded on this server: it waits by itself, no round trip.
    fb.Finish(
        wire::CreateClientMessage(fb, 0, Request::WaitMarker, wire::CreateWaitMarker(fb, id_, *id).Union()));
    post(fb);
    return;
  }
  // Another server's or a local device's marker: the queue holds at a token
  // that this process releases when the marker completes.
  const std::uint64_t token = conn_.nextId();
  fb.Finish(
      wire::CreateClientMessage(fb, 0, Request::WaitToken, wire::CreateWaitToken(fb, id_, token).Union()));
  post(fb);
  std::thread([conn = device_.sharedConn(), marker = std::move(marker), token] {
    marker->wait();
    flatbuffers::FlatBufferBuilder rel;
    rel.Finish(wire::CreateClientMessage(rel, 0, Request::ReleaseToken,
                                         wire::CreateReleaseToken(rel, token).Union()));
    (void)conn->post(rel);
  }).detach();
}

bool RemoteQueue::idle() {
  {
    std::lock_guard lock(tailMutex_);
    if (!dirty_)
      return !tail_ || tail_->done();
  }
  record(std::make_shared<Marker>());
  std::lock_guard lock(tailMutex_);
  return !dirty_ && tail_->done();
}

void RemoteQueue::synchronize() {
  {
    std::lock_guard lock(tailMutex_);
    if (!dirty_ && (!tail_ || tail_->done()))
      return;
  }
  auto m = std::make_shared<Marker>();
  record(m);
  m->wait();
}

} // namespace cuvirt::remote
