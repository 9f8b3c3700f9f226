// A device of a cuvirtd server: memory at the client's addresses,
// synchronous copies (chunked, pipelined, zero-copy sends) and modules.
#include "remote/client/remote_backend.h"
#include "runtime/log.h"
#include <cstdlib>
#include <cstring>
#include <shared_mutex>
#include <sys/mman.h>
#include <unistd.h>
#include <xxhash.h>

namespace cuvirt::remote {
namespace {

using wire::Request;

/// Counts zero-copy frames zmq still holds, so a synchronous copy returns
/// only once the application's buffer is no longer referenced.
struct Lent {
  Connection *conn = nullptr;
  std::mutex mutex;
  std::condition_variable cv;
  int outstanding = 0;
  static void release(void *, void *hint) {
    auto *self = static_cast<Lent *>(hint);
    self->conn->heard();
    std::lock_guard lock(self->mutex);
    if (--self->outstanding == 0)
      self->cv.notify_all();
  }
  void lend(zmq_msg_t *msg, const std::uint8_t *p, std::size_t n) {
    {
      std::lock_guard lock(mutex);
      ++outstanding;
    }
    zmq_msg_init_data(msg, const_cast<std::uint8_t *>(p), n, &Lent::release, this);
  }
  /// True when every frame came back (bounded: a dead server's queued frames may never go).
  bool settle() {
    std::unique_lock lock(mutex);
    return cv.wait_for(lock, std::chrono::seconds(2), [&] { return outstanding == 0; });
  }
};

std::string hashImage(const ModuleSource &s) {
  XXH3_state_t *st = XXH3_createState();
  XXH3_128bits_reset(st);
  XXH3_128bits_update(st, s.ptx.data(), s.ptx.size());
  XXH3_128bits_update(st, "\0", 1);
  XXH3_128bits_update(st, s.cubin.data(), s.cubin.size());
  XXH128_hash_t h = XXH3_128bits_digest(st);
  XXH3_freeState(st);
  std::string out(16, '\0');
  std::memcpy(out.data(), &h, 16);
  return out;
}

// Which remote device backs an address: copies between devices of different
// servers (or a server and local memory) are staged through this process.
std::shared_mutex g_rangesMutex;
std::map<std::uint64_t, std::pair<std::uint64_t, RemoteDevice *>> g_ranges;

/// Managed memory is compared with the server's copy in pieces this big: only
/// changed pieces travel.
constexpr std::size_t kDiffBytes = 64u << 10;
/// Synchronous reads keep this many pieces requested ahead.
constexpr std::size_t kReadsInFlight = 4;

/// Pages wholly inside [address, address + bytes).
std::pair<std::uint64_t, std::uint64_t> innerPages(std::uint64_t address, std::size_t bytes) {
  const std::uint64_t page = static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE));
  const std::uint64_t from = (address + page - 1) / page * page, to = (address + bytes) / page * page;
  return {from, std::max(from, to)};
}

/// Bytes a copy side spans from its start (0 when empty).
std::size_t spanBytes(std::size_t width, std::size_t height, std::size_t depth, std::size_t pitch,
                      std::size_t slice) {
  if (width == 0 || height == 0 || depth == 0)
    return 0;
  pitch = pitch ? pitch : width;
  slice = slice ? slice : pitch * height;
  return (depth - 1) * slice + (height - 1) * pitch + width;
}

/// Packs a strided side of `op` into a buffer: the staging copy's layout.
CopyOp packedTo(CopyOp op, std::uint8_t *buffer, bool toDst) {
  if (toDst) {
    op.dst = reinterpret_cast<std::uint64_t>(buffer);
    op.dstHost = true;
    op.dstPitch = 0;
    op.dstSliceBytes = 0;
  } else {
    op.src = reinterpret_cast<std::uint64_t>(buffer);
    op.srcHost = true;
    op.srcPitch = 0;
    op.srcSliceBytes = 0;
  }
  return op;
}

} // namespace

RemoteDevice *RemoteDevice::ownerOf(std::uint64_t address) {
  std::shared_lock lock(g_rangesMutex);
  auto it = g_ranges.upper_bound(address);
  if (it == g_ranges.begin())
    return nullptr;
  --it;
  return address < it->first + it->second.first ? it->second.second : nullptr;
}

Status RemoteDevice::commit(std::uint64_t address, std::size_t bytes) {
  flatbuffers::FlatBufferBuilder fb;
  const std::uint64_t seq = conn_->nextSeq();
  fb.Finish(wire::CreateClientMessage(fb, seq, Request::Commit,
                                      wire::CreateCommit(fb, index_, address, bytes).Union()));
  auto r = conn_->call(fb, seq);
  if (!r)
    return r.status();
  std::unique_lock lock(g_rangesMutex);
  g_ranges[address] = {bytes, this};
  return {};
}

bool RemoteDevice::needsStaging(const CopyOp &op) {
  auto foreign = [&](std::uint64_t a, bool host) { return !host && ownerOf(a) != this; };
  return foreign(op.dst, op.dstHost) || foreign(op.src, op.srcHost);
}

Status RemoteDevice::copyStaged(CopyOp op) {
  // A "device" side no remote device backs is local memory (the CPU device's).
  auto resolve = [&](std::uint64_t a, bool &host) -> RemoteDevice * {
    if (host)
      return nullptr;
    RemoteDevice *owner = ownerOf(a);
    if (owner == nullptr)
      host = true;
    return owner;
  };
  RemoteDevice *src = resolve(op.src, op.srcHost), *dst = resolve(op.dst, op.dstHost);
  const std::size_t bytes = op.widthBytes * op.height * op.depth;
  if (src != nullptr && src != this) {
    std::vector<std::uint8_t> tmp(bytes);
    CUVIRT_TRY(src->copyNow(packedTo(op, tmp.data(), true)));
    CopyOp rest = packedTo(op, tmp.data(), false);
    return dst != nullptr ? dst->copyNow(rest) : RemoteDevice::copyDirect(rest);
  }
  if (dst != nullptr && dst != this) {
    std::vector<std::uint8_t> tmp(bytes);
    CUVIRT_TRY(src != nullptr ? src->copyNow(packedTo(op, tmp.data(), true))
                              : RemoteDevice::copyDirect(packedTo(op, tmp.data(), true)));
    return dst->copyNow(packedTo(op, tmp.data(), false));
  }
  return copyDirect(op);
}

void RemoteDevice::release(std::uint64_t address, std::size_t bytes) {
  if (conn_->dead())
    return; // its session is gone with it
  // With writes on the bulk socket, a later write into these addresses
  // (reused by the runtime without a commit) could overtake a pipelined
  // Release on zmq and have its bytes discarded: wait for it then.
  const bool fence = conn_->bulkWrites();
  const std::uint64_t seq = fence ? conn_->nextSeq() : 0;
  flatbuffers::FlatBufferBuilder fb;
  fb.Finish(wire::CreateClientMessage(fb, seq, Request::Release,
                                      wire::CreateRelease(fb, index_, address, bytes).Union()));
  if (fence)
    (void)conn_->call(fb, seq);
  else
    (void)conn_->post(fb); // the addresses stay usable either way
}

std::unique_ptr<Queue> RemoteDevice::createQueue(int priority, ErrorSink *errors) {
  const std::uint64_t id = conn_->nextId();
  conn_->trackQueue(id, errors);
  flatbuffers::FlatBufferBuilder fb;
  fb.Finish(wire::CreateClientMessage(fb, 0, Request::CreateQueue,
                                      wire::CreateCreateQueue(fb, index_, id, priority).Union()));
  if (Status s = conn_->post(fb); !s.ok() && errors != nullptr)
    errors->asyncError(s.code(), lastErrorMessage());
  return std::make_unique<RemoteQueue>(*this, id, errors);
}

Status RemoteDevice::writeNow(std::uint64_t dst, std::size_t dstPitch, const std::uint8_t *src,
                              std::size_t srcPitch, std::size_t width, std::size_t rows) {
  if (width == 0 || rows == 0)
    return {};
  if (width * rows >= kBulkMinBytes && width * rows < kBulkRequestMaxBytes && conn_->bulkWrites()) {
    // v4: this thread sends the request and the bytes on the bulk socket.
    auto bulkLock = conn_->lockBulk();
    if (conn_->bulkWrites())
      return conn_->bulkWrite(index_, dst, dstPitch, src, srcPitch, width, rows);
  }
  const std::uint64_t seq = conn_->nextSeq();
  conn_->expect(seq);
  Lent lent;
  lent.conn = conn_.get();
  Status sent;
  // Pieces: whole rows up to kChunkBytes, or slices of one long row.
  const std::size_t perPiece = width >= kChunkBytes ? 1 : kChunkBytes / width;
  const std::size_t sliceBytes = width >= kChunkBytes ? kChunkBytes : width;
  for (std::size_t r = 0; r < rows && sent.ok(); r += perPiece) {
    const std::size_t n = std::min(perPiece, rows - r);
    for (std::size_t off = 0; off < width && sent.ok(); off += sliceBytes) {
      const std::size_t w = std::min(sliceBytes, width - off);
      const bool last = r + n >= rows && off + w >= width;
      zmq_msg_t data;
      if (n == 1 || srcPitch == width) {
        lent.lend(&data, src + r * srcPitch + off, w * n);
      } else {
        auto *out = static_cast<std::uint8_t *>(std::malloc(w * n));
        zmq_msg_init_data(&data, out, w * n, &Connection::freeSent, conn_.get());
        for (std::size_t i = 0; i < n; ++i)
          std::memcpy(out + i * w, src + (r + i) * srcPitch + off, w);
      }
      flatbuffers::FlatBufferBuilder fb;
      fb.Finish(wire::CreateClientMessage(
          fb, last ? seq : 0, Request::Write,
          wire::CreateWrite(fb, 0, index_, dst + r * dstPitch + off, w, n, dstPitch, last).Union()));
      sent = conn_->send(fb, &data); // consumes `data`, sent or not
    }
  }
  auto reply = sent.ok() ? conn_->await(seq) : Expected<std::unique_ptr<Frame>>(sent);
  if (!lent.settle())
    log().error("remote {}: a copy's buffer is still queued for a server that is gone", conn_->address());
  return reply ? Status() : reply.status();
}

Status RemoteDevice::readNow(std::uint8_t *dst, std::size_t dstPitch, std::uint64_t src, std::size_t srcPitch,
                             std::size_t width, std::size_t rows) {
  if (width == 0 || rows == 0)
    return {};
  if (width * rows >= kBulkMinBytes && width * rows < kBulkRequestMaxBytes && conn_->bulkRequests()) {
    // v4: this thread asks on the bulk socket and receives into `dst`.
    auto bulkLock = conn_->lockBulk();
    if (conn_->bulkRequests())
      return conn_->bulkRead(index_, dst, dstPitch, src, srcPitch, width, rows);
  }
  struct Piece {
    std::uint64_t seq = 0, src;
    std::uint8_t *dst;
    std::size_t width, rows;
  };
  std::vector<Piece> pieces;
  const std::size_t perPiece = width >= kChunkBytes ? 1 : kChunkBytes / width;
  const std::size_t sliceBytes = width >= kChunkBytes ? kChunkBytes : width;
  for (std::size_t r = 0; r < rows; r += perPiece) {
    const std::size_t n = std::min(perPiece, rows - r);
    for (std::size_t off = 0; off < width; off += sliceBytes)
      pieces.push_back(
          {0, src + r * srcPitch + off, dst + r * dstPitch + off, std::min(sliceBytes, width - off), n});
  }
  // Big reads ask for the bulk socket: the data then skips zmq's buffers
  // and lands in `dst` straight from recv(). Held for the whole read, so
  // the socket's bytes come in this read's piece order.
  std::unique_lock<std::mutex> bulkLock;
  bool bulk = width * rows >= kBulkMinBytes && conn_->bulkReady();
  if (bulk) {
    bulkLock = conn_->lockBulk();
    bulk = conn_->bulkReady();
  }
  // A few pieces in flight keep the link busy; more would only make zmq
  // allocate (and the kernel zero) fresh receive buffers for all of them.
  std::size_t next = 0;
  auto sendNext = [&]() -> Status {
    Piece &p = pieces[next++];
    p.seq = conn_->nextSeq();
    conn_->expect(p.seq);
    flatbuffers::FlatBufferBuilder fb;
    fb.Finish(wire::CreateClientMessage(
        fb, p.seq, Request::Read,
        wire::CreateRead(fb, 0, index_, p.src, p.width, p.rows, srcPitch, 0, bulk).Union()));
    return conn_->send(fb);
  };
  Status result;
  while (next < pieces.size() && next < kReadsInFlight && result.ok())
    result = sendNext();
  bool bulkLost = false;
  for (std::size_t i = 0; i < next; ++i) {
    const Piece &p = pieces[i];
    if (bulkLost) {
      // The bulk socket failed (the server is likely gone): return now
      // rather than wait out the server timeout for these replies.
      conn_->forget(p.seq);
      continue;
    }
    auto reply = conn_->await(p.seq);
    if (result.ok() && next < pieces.size())
      result = sendNext(); // before the copy below: the server works meanwhile
    if (!reply) {
      if (result.ok())
        result = reply.status();
      continue;
    }
    Frame &f = **reply;
    const auto *rd = f.message->response_as_ReadData();
    if (rd != nullptr && rd->bulk()) {
      Status got;
      if (!bulk || rd->bytes() != p.width * p.rows) {
        // The socket's stream no longer matches what we expect: drop it.
        if (bulk)
          conn_->bulkBreak("a read's size does not match its request");
        got = error(CUDA_ERROR_INVALID_VALUE, "remote {}: a bulk read came back with the wrong size",
                    conn_->address());
      } else if (p.rows == 1 || dstPitch == p.width) {
        got = conn_->bulkRecv(p.dst, p.width * p.rows);
      } else {
        for (std::size_t k = 0; k < p.rows && got.ok(); ++k)
          got = conn_->bulkRecv(p.dst + k * dstPitch, p.width);
      }
      if (result.ok())
        result = got;
      bulkLost = !got.ok();
      continue;
    }
    if (!f.hasData || zmq_msg_size(&f.data) != p.width * p.rows) {
      if (result.ok())
        result =
            error(CUDA_ERROR_UNKNOWN, "remote {}: a read came back with the wrong size", conn_->address());
      continue;
    }
    const auto *in = static_cast<const std::uint8_t *>(zmq_msg_data(&f.data));
    if (p.rows == 1 || dstPitch == p.width)
      std::memcpy(p.dst, in, p.width * p.rows);
    else
      for (std::size_t k = 0; k < p.rows; ++k)
        std::memcpy(p.dst + k * dstPitch, in + k * p.width, p.width);
  }
  return result;
}

Status RemoteDevice::copyNow(const CopyOp &op) {
  CUVIRT_TRY(pushManaged(0));
  CUVIRT_TRY(needsStaging(op) ? copyStaged(op) : copyDirect(op));
  if (op.dstHost || !hasManaged())
    return {};
  return refreshManaged(op.dst, spanBytes(op.widthBytes, op.height, op.depth, op.dstPitch, op.dstSliceBytes));
}

Status RemoteDevice::copyDirect(const CopyOp &op) {
  const std::size_t dPitch = op.dstPitch ? op.dstPitch : op.widthBytes;
  const std::size_t sPitch = op.srcPitch ? op.srcPitch : op.widthBytes;
  const std::size_t dSlice = op.dstSliceBytes ? op.dstSliceBytes : dPitch * op.height;
  const std::size_t sSlice = op.srcSliceBytes ? op.srcSliceBytes : sPitch * op.height;
  const bool packed = dPitch == op.widthBytes && sPitch == op.widthBytes && dSlice == dPitch * op.height &&
                      sSlice == sPitch * op.height;
  if (!op.dstHost && !op.srcHost) {
    flatbuffers::FlatBufferBuilder fb;
    const std::uint64_t seq = conn_->nextSeq();
    fb.Finish(wire::CreateClientMessage(fb, seq, Request::Copy,
                                        wire::CreateCopy(fb, 0, index_, op.dst, op.src, op.widthBytes,
                                                         op.height, op.depth, op.dstPitch, op.dstSliceBytes,
                                                         op.srcPitch, op.srcSliceBytes)
                                            .Union()));
    auto r = conn_->call(fb, seq);
    return r ? Status() : r.status();
  }
  if (op.dstHost && op.srcHost) {
    for (std::size_t z = 0; z < op.depth; ++z)
      for (std::size_t y = 0; y < op.height; ++y)
        std::memmove(reinterpret_cast<void *>(op.dst + z * dSlice + y * dPitch),
                     reinterpret_cast<const void *>(op.src + z * sSlice + y * sPitch), op.widthBytes);
    return {};
  }
  // One host side, one device side: linear when packed, else slice by slice.
  const std::size_t slices = packed ? 1 : op.depth;
  const std::size_t width = packed ? op.widthBytes * op.height * op.depth : op.widthBytes;
  const std::size_t rows = packed ? 1 : op.height;
  for (std::size_t z = 0; z < slices; ++z) {
    if (op.srcHost)
      CUVIRT_TRY(writeNow(op.dst + z * dSlice, dPitch,
                          reinterpret_cast<const std::uint8_t *>(op.src + z * sSlice), sPitch, width, rows));
    else
      CUVIRT_TRY(readNow(reinterpret_cast<std::uint8_t *>(op.dst + z * dSlice), dPitch, op.src + z * sSlice,
                         sPitch, width, rows));
  }
  return {};
}

Status RemoteDevice::fillNow(const FillOp &op) {
  CUVIRT_TRY(pushManaged(0));
  if (hasManaged() && op.width != 0 && op.height != 0) {
    const std::size_t row = op.width * op.elementSize;
    const std::size_t span = (op.height - 1) * (op.pitch ? op.pitch : row) + row;
    CUVIRT_TRY(fillDirect(op));
    return refreshManaged(op.dst, span);
  }
  return fillDirect(op);
}

Status RemoteDevice::fillDirect(const FillOp &op) {
  flatbuffers::FlatBufferBuilder fb;
  const std::uint64_t seq = conn_->nextSeq();
  fb.Finish(wire::CreateClientMessage(
      fb, seq, Request::Fill,
      wire::CreateFill(fb, 0, index_, op.dst, op.pitch, op.width, op.height, op.value, op.elementSize)
          .Union()));
  auto r = conn_->call(fb, seq);
  return r ? Status() : r.status();
}

Expected<std::unique_ptr<BackendModule>> RemoteDevice::loadModule(const ModuleSource &source,
                                                                  std::string &log) {
  const std::string hash = hashImage(source);
  const std::uint64_t id = conn_->nextId();
  // The image travels once per server; later loads name it by hash.
  for (bool ship : {!conn_->imageShipped(hash), true}) {
    flatbuffers::FlatBufferBuilder fb;
    std::vector<flatbuffers::Offset<flatbuffers::String>> names;
    std::vector<std::uint64_t> addresses;
    for (const auto &[name, address] : source.globals) {
      names.push_back(fb.CreateString(name));
      addresses.push_back(address);
    }
    auto hashV = fb.CreateVector(reinterpret_cast<const std::uint8_t *>(hash.data()), hash.size());
    auto ptx = ship ? fb.CreateString(source.ptx) : 0;
    auto cubin = ship && !source.cubin.empty()
                     ? fb.CreateVector(reinterpret_cast<const std::uint8_t *>(source.cubin.data()),
                                       source.cubin.size())
                     : 0;
    auto namesV = fb.CreateVector(names);
    auto addrV = fb.CreateVector(addresses);
    const std::uint64_t seq = conn_->nextSeq();
    fb.Finish(wire::CreateClientMessage(
        fb, seq, Request::LoadModule,
        wire::CreateLoadModule(fb, index_, id, hashV, ptx, cubin, namesV, addrV).Union()));
    auto reply = conn_->call(fb, seq);
    if (!reply) {
      log += lastErrorMessage() + "\n";
      return reply.status();
    }
    if ((*reply)->message->response_type() == wire::Response::NeedImage && !ship)
      continue;
    conn_->markImageShipped(hash);
    return std::unique_ptr<BackendModule>(std::make_unique<RemoteModule>(conn_, id));
  }
  return error(CUDA_ERROR_UNKNOWN, "remote {}: the server did not take the module", conn_->address());
}

RemoteModule::~RemoteModule() {
  // Often at exit (cudart unloads then): a dead server needs no word, and an
  // error report would touch this thread's already destroyed message.
  if (conn_->dead())
    return;
  flatbuffers::FlatBufferBuilder fb;
  fb.Finish(
      wire::CreateClientMessage(fb, 0, Request::UnloadModule, wire::CreateUnloadModule(fb, id_).Union()));
  (void)conn_->post(fb);
}

Expected<BackendKernel *> RemoteModule::kernel(const std::string &name) {
  std::lock_guard lock(mutex_);
  if (auto it = kernels_.find(name); it != kernels_.end())
    return static_cast<BackendKernel *>(it->second.get());
  const std::uint64_t id = conn_->nextId();
  flatbuffers::FlatBufferBuilder fb;
  const std::uint64_t seq = conn_->nextSeq();
  fb.Finish(wire::CreateClientMessage(fb, seq, Request::GetKernel,
                                      wire::CreateGetKernel(fb, id_, id, fb.CreateString(name)).Union()));
  auto reply = conn_->call(fb, seq);
  if (!reply)
    return reply.status();
  auto &slot = kernels_[name];
  slot = std::make_unique<RemoteKernel>(id);
  return static_cast<BackendKernel *>(slot.get());
}

} // namespace cuvirt::remote

namespace cuvirt::remote {

Status RemoteDevice::manage(std::uint64_t address, std::size_t bytes) {
  // The host copy lives at the device addresses, in this process's window
  // (reserved inaccessible): open those pages.
  const std::uint64_t page = static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE));
  const std::uint64_t from = address / page * page, to = (address + bytes + page - 1) / page * page;
  if (mprotect(reinterpret_cast<void *>(from), to - from, PROT_READ | PROT_WRITE) != 0)
    return error(CUDA_ERROR_OUT_OF_MEMORY, "managed memory: cannot map {} bytes for the host copy", bytes);
  std::memset(reinterpret_cast<void *>(address), 0, bytes);
  Managed m;
  m.bytes = bytes;
  m.clean.reset(new (std::nothrow) std::uint8_t[bytes]());
  if (!m.clean)
    return error(CUDA_ERROR_OUT_OF_MEMORY, "managed memory: no room for {} bytes of host state", bytes);
  // Both copies start as zeros, so that "unchanged" means "the same as the server's".
  FillOp zero;
  zero.dst = address;
  zero.width = bytes;
  zero.elementSize = 1;
  CUVIRT_TRY(fillDirect(zero));
  std::lock_guard lock(managedMutex_);
  managed_[address] = std::move(m);
  managedCount_.store(managed_.size(), std::memory_order_release);
  return {};
}

void RemoteDevice::unmanage(std::uint64_t address, std::size_t bytes) {
  {
    std::lock_guard lock(managedMutex_);
    managed_.erase(address);
    managedCount_.store(managed_.size(), std::memory_order_release);
  }
  // Pages shared with a neighbouring allocation stay open (it may be managed too).
  auto [from, to] = innerPages(address, bytes);
  if (to > from) {
    madvise(reinterpret_cast<void *>(from), to - from, MADV_DONTNEED);
    mprotect(reinterpret_cast<void *>(from), to - from, PROT_NONE);
  }
}

bool RemoteDevice::touchesManaged(std::uint64_t address, std::size_t bytes) {
  if (!hasManaged() || bytes == 0)
    return false;
  std::lock_guard lock(managedMutex_);
  auto it = managed_.upper_bound(address + bytes - 1);
  if (it == managed_.begin())
    return false;
  --it;
  return it->first + it->second.bytes > address;
}

Status RemoteDevice::pushManaged(std::uint64_t queue) {
  if (!hasManaged())
    return {};
  struct Piece {
    std::uint64_t address;
    std::vector<std::uint8_t> bytes;
  };
  std::vector<Piece> pieces;
  {
    // The changed pieces, snapshotted: the host may write again as soon as we return.
    std::lock_guard lock(managedMutex_);
    for (auto &[base, m] : managed_) {
      const auto *host = reinterpret_cast<const std::uint8_t *>(base);
      for (std::size_t off = 0; off < m.bytes; off += kDiffBytes) {
        const std::size_t n = std::min(kDiffBytes, m.bytes - off);
        if (std::memcmp(host + off, m.clean.get() + off, n) == 0)
          continue;
        std::memcpy(m.clean.get() + off, host + off, n);
        if (!pieces.empty() && pieces.back().address + pieces.back().bytes.size() == base + off &&
            pieces.back().bytes.size() + n <= kChunkBytes)
          pieces.back().bytes.insert(pieces.back().bytes.end(), host + off, host + off + n);
        else
          pieces.push_back({base + off, std::vector<std::uint8_t>(host + off, host + off + n)});
      }
    }
  }
  if (pieces.empty())
    return {};
  const std::uint64_t seq = queue == 0 ? conn_->nextSeq() : 0;
  if (seq != 0)
    conn_->expect(seq);
  Status sent;
  for (std::size_t i = 0; i < pieces.size() && sent.ok(); ++i) {
    const bool last = i + 1 == pieces.size();
    auto *copy = new std::vector<std::uint8_t>(std::move(pieces[i].bytes));
    zmq_msg_t data;
    zmq_msg_init_data(
        &data, copy->data(), copy->size(),
        [](void *, void *hint) { delete static_cast<std::vector<std::uint8_t> *>(hint); }, copy);
    flatbuffers::FlatBufferBuilder fb;
    fb.Finish(wire::CreateClientMessage(fb, last ? seq : 0, Request::Write,
                                        wire::CreateWrite(fb, queue, index_, pieces[i].address, copy->size(),
                                                          1, copy->size(), queue != 0 || last)
                                            .Union()));
    sent = conn_->send(fb, &data);
  }
  if (seq == 0 || !sent.ok())
    return sent;
  auto reply = conn_->await(seq);
  return reply ? Status() : reply.status();
}

void RemoteDevice::delivered(std::uint64_t address, const std::uint8_t *data, std::size_t bytes) {
  std::lock_guard lock(managedMutex_);
  auto it = managed_.upper_bound(address);
  if (it == managed_.begin())
    return;
  --it;
  if (address < it->first || address + bytes > it->first + it->second.bytes)
    return; // freed meanwhile
  std::memcpy(reinterpret_cast<void *>(address), data, bytes);
  std::memcpy(it->second.clean.get() + (address - it->first), data, bytes);
}

Status RemoteDevice::pullManaged(std::uint64_t queue) {
  std::vector<std::pair<std::uint64_t, std::size_t>> ranges;
  {
    std::lock_guard lock(managedMutex_);
    for (auto &[base, m] : managed_)
      ranges.emplace_back(base, m.bytes);
  }
  for (auto [base, bytes] : ranges)
    for (std::size_t off = 0; off < bytes; off += kChunkBytes) {
      const std::size_t n = std::min(kChunkBytes, bytes - off);
      const std::uint64_t tag = conn_->nextId(), at = base + off;
      ReadTarget t;
      t.width = n;
      t.rows = 1;
      t.pitch = n;
      t.deliver = [this, at](const std::uint8_t *data, std::size_t size) { delivered(at, data, size); };
      conn_->trackRead(tag, std::move(t));
      flatbuffers::FlatBufferBuilder fb;
      fb.Finish(wire::CreateClientMessage(fb, 0, Request::Read,
                                          wire::CreateRead(fb, queue, index_, at, n, 1, n, tag).Union()));
      CUVIRT_TRY(conn_->post(fb));
    }
  return {};
}

Status RemoteDevice::refreshManaged(std::uint64_t address, std::size_t bytes) {
  std::vector<std::pair<std::uint64_t, std::size_t>> ranges;
  {
    std::lock_guard lock(managedMutex_);
    for (auto &[base, m] : managed_)
      if (base < address + bytes && base + m.bytes > address)
        ranges.emplace_back(base, m.bytes);
  }
  for (auto [base, n] : ranges) {
    std::vector<std::uint8_t> tmp(n);
    CUVIRT_TRY(readNow(tmp.data(), n, base, n, n, 1));
    delivered(base, tmp.data(), n);
  }
  return {};
}

} // namespace cuvirt::remote
