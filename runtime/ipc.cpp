// Legacy CUDA IPC (cuIpcGetMemHandle and friends) and context-wide event
// waits.
//
// Memory: cuMemAlloc memory is private anonymous memory in the device
// window. cuIpcGetMemHandle moves the allocation's pages into memfds
// (BackendDevice::shareMemory: same address, contents kept) and the 64-byte
// handle names them as /proc/<pid>/fd/<n> of the exporting process, so an
// importer of the same user opens them there and maps them into its own
// window. Pages are the unit: an allocation sharing its first or last page
// with an allocation exported earlier reuses that page's memfd, so a handle
// lists up to three pieces. A memfd's name carries a random token the handle
// repeats, so a forged or stale handle (the exporter freed the memory, its
// descriptor number now names something else) is refused. Freeing exported
// memory moves it back into private memory; importers keep the memfd's
// pages until they close the handle.
//
// Events: an interprocess event's state is a memfd page holding two
// sequence numbers, records made and records completed, which every process
// holding the event updates and polls.
#include "cuvirt_api.h"
#include "runtime/api_support.h"
#include "runtime/capture.h"
#include "runtime/log.h"
#include "runtime/runtime.h"
#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fcntl.h>
#include <string_view>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>

namespace cuvirt {

/// An interprocess event's shared state.
struct IpcEvent {
  struct Shared {
    std::atomic<std::uint64_t> recorded{0};  ///< records made, by any process
    std::atomic<std::uint64_t> completed{0}; ///< the highest record whose work finished
  };
  int fd = -1;
  std::uint32_t token = 0;
  Shared *shared = nullptr;
  std::uint64_t localSeq = 0; ///< this process's last record (Event::mutex)
  IpcEvent() = default;
  IpcEvent(const IpcEvent &) = delete;
  IpcEvent &operator=(const IpcEvent &) = delete;
  ~IpcEvent() {
    if (shared != nullptr)
      munmap(shared, sizeof(Shared));
    if (fd >= 0)
      close(fd);
  }
};

namespace {

constexpr std::uint16_t kMemMagic = 0xc1e7;
constexpr std::uint32_t kEventMagic = 0xc1e7e7e1;
constexpr int kMaxPieces = 3;

/// What a CUipcMemHandle carries. The allocation starts `headOffset` bytes
/// into the first piece; the pieces are contiguous pages.
struct MemWire {
  std::uint16_t magic;
  std::uint16_t headOffset;
  std::int32_t pid;
  std::uint64_t size;
  struct Piece {
    std::int32_t fd; ///< in the exporting process; -1: unused
    std::uint32_t token;
    std::uint32_t filePage, pages;
  } piece[kMaxPieces];
};
static_assert(sizeof(MemWire) == sizeof(CUipcMemHandle));

struct EventWire {
  std::uint32_t magic;
  std::int32_t pid;
  std::int32_t fd;
  std::uint32_t token;
};
static_assert(sizeof(EventWire) <= sizeof(CUipcEventHandle));

/// Pages of this process's device memory moved into one memfd.
struct Region {
  std::size_t bytes = 0;
  int fd = -1;
  std::uint32_t token = 0;
  int refs = 0; ///< exported allocations using it
  Device *device = nullptr;
};

struct Export {
  CUipcMemHandle handle{};
  std::vector<std::uint64_t> regions;
};

/// Another process's memory mapped here.
struct Opened {
  Context *context = nullptr;
  Device *device = nullptr;
  std::uint64_t taken = 0; ///< the window range
  std::size_t takenBytes = 0;
  std::uint64_t mapped = 0; ///< page-aligned, inside it
  std::size_t mappedBytes = 0;
  std::uint64_t ptr = 0; ///< what cuIpcOpenMemHandle returned
  int refs = 1;
  std::string key;
};

struct State {
  std::mutex mutex;
  std::atomic<bool> anyExports{false};
  std::map<std::uint64_t, Region> regions; ///< by first page
  std::map<std::uint64_t, Export> exports; ///< by allocation base
  std::map<std::uint64_t, Opened> opened;  ///< by the pointer handed out
  std::map<std::string, std::uint64_t> openedByKey;
};

State &state() {
  static auto *s = new State; // never destroyed, like the runtime
  return *s;
}

std::size_t pageSize() {
  static const std::size_t page = sysconf(_SC_PAGESIZE);
  return page;
}

std::uint32_t randomToken() {
  std::uint32_t t = 0;
  while (t == 0)
    if (getrandom(&t, sizeof t, 0) != sizeof t)
      t = static_cast<std::uint32_t>(std::chrono::steady_clock::now().time_since_epoch().count()) ^
          static_cast<std::uint32_t>(getpid());
  return t;
}

std::string memfdName(const char *kind, std::uint32_t token) {
  return fmt::format("cuvirt-{}-{:08x}", kind, token);
}

/// Opens descriptor `fd` of process `pid` if it is the memfd named for
/// `token`; -1 (with the reason reported) if not.
Expected<int> openPeerFd(int pid, int fd, const char *kind, std::uint32_t token) {
  const std::string link = fmt::format("/proc/{}/fd/{}", pid, fd);
  char target[256] = {};
  const ssize_t n = readlink(link.c_str(), target, sizeof target - 1);
  const std::string expected = "/memfd:" + memfdName(kind, token);
  if (n <= 0 || std::string_view(target, n).substr(0, expected.size()) != expected)
    return error(CUDA_ERROR_INVALID_HANDLE,
                 "IPC handle: {} is not the memory it names (the exporting process ended, freed it, or the "
                 "handle is not one; importing needs the same user)",
                 link);
  int own = open(link.c_str(), O_RDWR | O_CLOEXEC);
  if (own < 0)
    return error(CUDA_ERROR_INVALID_HANDLE, "IPC handle: cannot open {}: {}", link, std::strerror(errno));
  return own;
}

Expected<Event *> liveEvent(CUevent handle) {
  auto rt = runtime();
  if (!rt)
    return rt.status();
  Event *e = (*rt)->events.find(handle);
  if (e == nullptr)
    return error(CUDA_ERROR_INVALID_HANDLE, "invalid event handle {}", static_cast<const void *>(handle));
  return e;
}

Status mapEventState(IpcEvent &ev) {
  void *p = mmap(nullptr, sizeof(IpcEvent::Shared), PROT_READ | PROT_WRITE, MAP_SHARED, ev.fd, 0);
  if (p == MAP_FAILED)
    return error(CUDA_ERROR_MAP_FAILED, "cannot map interprocess event state: {}", std::strerror(errno));
  ev.shared = static_cast<IpcEvent::Shared *>(p);
  return {};
}

/// The event's shared state, made at its first cuIpcGetEventHandle.
Expected<std::shared_ptr<IpcEvent>> eventState(Event *e) {
  std::lock_guard lock(e->mutex);
  if (e->ipc)
    return e->ipc;
  if (!e->context->device->backend->hostVisible())
    return error(CUDA_ERROR_NOT_SUPPORTED,
                 "interprocess events need a device whose memory is host memory (not a remote device)");
  auto ev = std::make_shared<IpcEvent>();
  ev->token = randomToken();
  ev->fd = memfd_create(memfdName("ipcevent", ev->token).c_str(), MFD_CLOEXEC);
  if (ev->fd < 0 || ftruncate(ev->fd, static_cast<off_t>(pageSize())) != 0)
    return error(CUDA_ERROR_OUT_OF_MEMORY, "cannot make interprocess event state: {}", std::strerror(errno));
  CUVIRT_TRY(mapEventState(*ev));
  // A record made before the event became interprocess counts as complete
  // once its marker is; wait for it rather than track it twice.
  if (e->marker)
    e->marker->wait();
  e->ipc = ev;
  return ev;
}

void completeUpTo(IpcEvent::Shared *shared, std::uint64_t seq) {
  std::uint64_t now = shared->completed.load(std::memory_order_relaxed);
  while (now < seq && !shared->completed.compare_exchange_weak(now, seq, std::memory_order_release))
    ;
}

/// Polls until record `target` completed: a short spin, then naps doubling
/// from 10 us to 250 us (as cuStreamWaitValue does). Gives up when `context`
/// fails, which would never complete its own records.
void waitCompleted(IpcEvent &ev, std::uint64_t target, Context *context) {
  for (int i = 0; i < 256; ++i) {
    if (ev.shared->completed.load(std::memory_order_acquire) >= target)
      return;
    __builtin_ia32_pause();
  }
  auto nap = std::chrono::microseconds(10);
  while (ev.shared->completed.load(std::memory_order_acquire) < target) {
    if (context != nullptr && context->sticky.load(std::memory_order_relaxed) != CUDA_SUCCESS)
      return;
    std::this_thread::sleep_for(nap);
    nap = std::min<std::chrono::microseconds>(nap * 2, std::chrono::microseconds(250));
  }
}

/// The window range [mapped, mapped + bytes) goes back to what allocateDevice
/// expects: committed below the device's committed end, reserved above.
void unmapOpened(const Opened &o) {
  std::lock_guard lock(o.device->memoryMutex);
  const std::uint64_t end = o.mapped + o.mappedBytes;
  const std::uint64_t split = std::clamp<std::uint64_t>(o.device->committedEnd, o.mapped, end);
  if (split > o.mapped)
    o.device->backend->unmapShared(o.mapped, split - o.mapped, true);
  if (end > split)
    o.device->backend->unmapShared(split, end - split, false);
  o.device->window.give(o.taken, o.takenBytes);
}

} // namespace

void ipcAllocationFreed(const Allocation &a) {
  State &s = state();
  if (!s.anyExports.load(std::memory_order_acquire))
    return;
  std::lock_guard lock(s.mutex);
  auto it = s.exports.find(a.base);
  if (it == s.exports.end())
    return;
  for (std::uint64_t start : it->second.regions) {
    auto r = s.regions.find(start);
    if (r == s.regions.end() || --r->second.refs > 0)
      continue;
    // Importers keep their mapping of the memfd; this process's pages go
    // back to private memory, and the descriptor (what a handle names) closes.
    if (Status st = r->second.device->backend->unshareMemory(start, r->second.bytes); !st.ok())
      log().warn("IPC: could not take back exported memory at 0x{:x}: {}", start, lastErrorMessage());
    close(r->second.fd);
    s.regions.erase(r);
  }
  s.exports.erase(it);
}

void ipcContextGone(Context *context) {
  State &s = state();
  std::vector<Opened> gone;
  {
    std::lock_guard lock(s.mutex);
    for (auto it = s.opened.begin(); it != s.opened.end();)
      if (it->second.context == context) {
        s.openedByKey.erase(it->second.key);
        gone.push_back(std::move(it->second));
        it = s.opened.erase(it);
      } else {
        ++it;
      }
  }
  auto *rt = *runtime();
  for (const Opened &o : gone) {
    {
      std::unique_lock alock(rt->allocationsMutex);
      rt->allocations.erase(o.ptr);
    }
    unmapOpened(o);
  }
}

Status ipcEventRecord(Event *e, Stream *s) {
  auto m = std::make_shared<Marker>();
  std::shared_ptr<IpcEvent> state;
  std::uint64_t seq = 0;
  {
    std::lock_guard lock(e->mutex);
    e->marker = m;
    state = e->ipc;
    if (state) {
      seq = state->shared->recorded.fetch_add(1, std::memory_order_acq_rel) + 1;
      state->localSeq = seq;
    }
  }
  // Not shared (yet): an ordinary event, so that events never handed to
  // another process cost no descriptor. Remote devices stay here.
  if (!state)
    return submit(s, [&](Queue &q) { q.record(m); });
  // Published before the marker completes: whoever saw the marker done
  // (a local cuEventSynchronize) then sees the shared state done too.
  Status st = submit(s, [&](Queue &q) {
    q.hostFunc([state, seq] { completeUpTo(state->shared, seq); });
    q.record(m);
  });
  if (!st.ok())
    completeUpTo(state->shared, seq); // nothing will run: never leave waiters hanging
  return st;
}

Status ipcEventQuery(Event *e) {
  std::shared_ptr<IpcEvent> ev;
  MarkerPtr m;
  {
    std::lock_guard lock(e->mutex);
    ev = e->ipc;
    m = e->marker;
  }
  if (!ev) // never shared: an ordinary event
    return (!m || m->done()) ? CUDA_SUCCESS : CUDA_ERROR_NOT_READY;
  const std::uint64_t recorded = ev->shared->recorded.load(std::memory_order_acquire);
  return ev->shared->completed.load(std::memory_order_acquire) >= recorded ? CUDA_SUCCESS
                                                                           : CUDA_ERROR_NOT_READY;
}

namespace {
/// What waiting for `e` means now: its own marker (never shared, or its last
/// record was ours), or the shared completion count reaching `target`.
struct WaitPoint {
  std::shared_ptr<IpcEvent> ev;
  MarkerPtr local;
  std::uint64_t target = 0;
};

WaitPoint waitPoint(Event *e) {
  WaitPoint w;
  std::lock_guard lock(e->mutex);
  w.ev = e->ipc;
  if (!w.ev)
    w.local = e->marker; // never shared: an ordinary event
  else if ((w.target = w.ev->shared->recorded.load(std::memory_order_acquire)) == w.ev->localSeq)
    w.local = e->marker;
  return w;
}
} // namespace

Status ipcEventSynchronize(Event *e) {
  auto [ev, local, target] = waitPoint(e);
  if (!ev && !local)
    return {};
  if (local) {
    local->wait(); // our own record: its marker wakes us without polling
    return {};
  }
  waitCompleted(*ev, target, nullptr);
  return {};
}

Status ipcEventWait(Stream *s, Event *e) {
  auto [ev, local, target] = waitPoint(e);
  if (!ev && !local)
    return {};
  if (ev && ev->shared->completed.load(std::memory_order_acquire) >= target)
    return {};
  if (local)
    return submit(s, [&](Queue &q) { q.wait(local); });
  Context *context = s->context;
  return submit(
      s, [&](Queue &q) { q.hostFunc([ev, target, context] { waitCompleted(*ev, target, context); }); });
}

namespace api {

CUresult cuIpcGetMemHandle(CUipcMemHandle *pHandle, CUdeviceptr dptr) {
  auto rt = runtime();
  if (!rt)
    return rt.status();
  if (pHandle == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  auto a = findAllocation(dptr);
  if (!a || a->kind != MemKind::Device || a->vmm || a->ipc)
    return error(CUDA_ERROR_INVALID_VALUE, "cuIpcGetMemHandle: 0x{:x} is not a cuMemAlloc allocation", dptr);
  BackendDevice *backend = a->device->backend.get();
  if (!backend->hostVisible())
    return error(CUDA_ERROR_NOT_SUPPORTED,
                 "cuIpcGetMemHandle: a remote device's memory lives on its server and cannot be shared with "
                 "another process; share cuMemCreate memory there instead");
  State &s = state();
  {
    std::lock_guard lock(s.mutex);
    if (auto it = s.exports.find(a->base); it != s.exports.end()) {
      *pHandle = it->second.handle;
      return CUDA_SUCCESS;
    }
  }
  // No kernel or copy may write the pages while they move.
  if (a->context != nullptr && (*rt)->contexts.contains(a->context))
    (void)synchronizeContext(a->context);
  const std::size_t page = pageSize();
  const std::uint64_t first = a->base / page * page;
  const std::uint64_t last = (a->base + a->size + page - 1) / page * page;

  std::lock_guard lock(s.mutex);
  if (auto it = s.exports.find(a->base); it != s.exports.end()) {
    *pHandle = it->second.handle;
    return CUDA_SUCCESS;
  }
  // The pages as runs: those already in a region (a neighbour's export) and
  // the gaps between them, which become new regions.
  struct Run {
    std::uint64_t at, end;
    bool existing;
  };
  std::vector<Run> runs;
  auto it = s.regions.upper_bound(first);
  if (it != s.regions.begin() && std::prev(it)->first + std::prev(it)->second.bytes > first)
    --it;
  for (std::uint64_t at = first; at < last;) {
    if (it != s.regions.end() && it->first <= at) {
      const std::uint64_t end = std::min<std::uint64_t>(it->first + it->second.bytes, last);
      runs.push_back({at, end, true});
      at = end;
      ++it;
    } else {
      const std::uint64_t end = it != s.regions.end() ? std::min<std::uint64_t>(it->first, last) : last;
      runs.push_back({at, end, false});
      at = end;
    }
  }
  if (runs.size() > kMaxPieces)
    return error(
        CUDA_ERROR_NOT_SUPPORTED,
        "cuIpcGetMemHandle: 0x{:x} shares its pages with {} earlier exports; a handle holds {} pieces",
        a->base, runs.size() - 1, kMaxPieces);
  MemWire wire{};
  wire.magic = kMemMagic;
  wire.headOffset = static_cast<std::uint16_t>(a->base - first);
  wire.pid = getpid();
  wire.size = a->size;
  Export ex;
  for (std::size_t i = 0; i < kMaxPieces; ++i)
    wire.piece[i].fd = -1;
  for (std::size_t i = 0; i < runs.size(); ++i) {
    const Run &run = runs[i];
    std::uint64_t start = run.at;
    if (!run.existing) {
      Region r;
      r.bytes = run.end - run.at;
      r.token = randomToken();
      r.device = a->device;
      auto fd = backend->shareMemory(run.at, r.bytes, memfdName("ipc", r.token).c_str());
      if (!fd) {
        // Earlier new regions of this call stay shared but unreferenced
        // until a later export reuses them; release them now instead.
        for (std::size_t j = 0; j < i; ++j)
          if (!runs[j].existing) {
            auto r2 = s.regions.find(runs[j].at);
            (void)backend->unshareMemory(r2->first, r2->second.bytes);
            close(r2->second.fd);
            s.regions.erase(r2);
          }
        return fd.status();
      }
      r.fd = *fd;
      s.regions.emplace(run.at, r);
    } else {
      start = std::prev(s.regions.upper_bound(run.at))->first;
    }
    const Region &r = s.regions.at(start);
    wire.piece[i] = {r.fd, r.token, static_cast<std::uint32_t>((run.at - start) / page),
                     static_cast<std::uint32_t>((run.end - run.at) / page)};
    ex.regions.push_back(start);
  }
  for (std::uint64_t start : ex.regions)
    ++s.regions.at(start).refs;
  std::memcpy(&ex.handle, &wire, sizeof wire);
  *pHandle = ex.handle;
  s.exports.emplace(a->base, ex);
  s.anyExports.store(true, std::memory_order_release);
  return CUDA_SUCCESS;
}

CUresult cuIpcOpenMemHandle_v2(CUdeviceptr *pdptr, CUipcMemHandle handle, unsigned int Flags) {
  auto rt = runtime();
  if (!rt)
    return rt.status();
  if (pdptr == nullptr || (Flags & ~CU_IPC_MEM_LAZY_ENABLE_PEER_ACCESS) != 0)
    return CUDA_ERROR_INVALID_VALUE;
  auto c = requireContext();
  if (!c)
    return c.status();
  Device *d = (*c)->device;
  if (!d->backend->hostVisible())
    return error(CUDA_ERROR_NOT_SUPPORTED,
                 "cuIpcOpenMemHandle: a remote device cannot map another process's memory");
  MemWire wire;
  std::memcpy(&wire, &handle, sizeof wire);
  const std::size_t page = pageSize();
  std::size_t pages = 0;
  int count = 0;
  for (; count < kMaxPieces && wire.piece[count].fd >= 0; ++count)
    pages += wire.piece[count].pages;
  if (wire.magic != kMemMagic || count == 0 || wire.size == 0 || wire.headOffset >= page ||
      pages * page < wire.headOffset + wire.size)
    return error(CUDA_ERROR_INVALID_HANDLE, "cuIpcOpenMemHandle: not an IPC memory handle");
  if (wire.pid == getpid())
    return error(CUDA_ERROR_INVALID_CONTEXT,
                 "cuIpcOpenMemHandle: the handle was made by this process (CUDA opens it only in others)");
  State &s = state();
  std::string key(reinterpret_cast<const char *>(&handle), sizeof handle);
  Context *context = *c;
  key.append(reinterpret_cast<const char *>(&context), sizeof context); // per context, as in CUDA
  std::lock_guard lock(s.mutex);
  if (auto it = s.openedByKey.find(key); it != s.openedByKey.end()) {
    ++s.opened.at(it->second).refs; // CUDA: the same pointer, one more reference
    *pdptr = it->second;
    return CUDA_SUCCESS;
  }
  // Open every piece first: nothing is mapped if one of them is stale.
  std::vector<int> fds;
  auto closeAll = [&] {
    for (int fd : fds)
      close(fd);
  };
  for (int i = 0; i < count; ++i) {
    auto fd = openPeerFd(wire.pid, wire.piece[i].fd, "ipc", wire.piece[i].token);
    if (!fd) {
      closeAll();
      return fd.status();
    }
    fds.push_back(*fd);
    struct stat st{};
    if (fstat(*fd, &st) != 0 ||
        std::uint64_t(st.st_size) < (std::uint64_t(wire.piece[i].filePage) + wire.piece[i].pages) * page) {
      closeAll();
      return error(CUDA_ERROR_INVALID_HANDLE,
                   "cuIpcOpenMemHandle: the handle's memory is smaller than it says");
    }
  }
  Opened o;
  o.context = *c;
  o.device = d;
  o.mappedBytes = pages * page;
  o.takenBytes = o.mappedBytes + page; // room to align to a page
  o.key = key;
  {
    std::lock_guard mlock(d->memoryMutex);
    o.taken = d->window.take(o.takenBytes);
  }
  if (o.taken == 0) {
    closeAll();
    return error(CUDA_ERROR_OUT_OF_MEMORY, "cuIpcOpenMemHandle: device address window exhausted");
  }
  o.mapped = (o.taken + page - 1) / page * page;
  std::uint64_t at = o.mapped;
  for (int i = 0; i < count; ++i) {
    const std::size_t bytes = std::size_t(wire.piece[i].pages) * page;
    if (Status st = d->backend->mapShared(at, bytes, fds[i], std::size_t(wire.piece[i].filePage) * page);
        !st.ok()) {
      closeAll();
      unmapOpened(o);
      return st;
    }
    at += bytes;
  }
  closeAll(); // the mappings keep the memory
  const std::uint64_t ptr = o.mapped + wire.headOffset;
  o.ptr = ptr;
  Allocation a;
  a.base = ptr;
  a.size = wire.size;
  a.reserved = o.mappedBytes;
  a.kind = MemKind::Device;
  a.device = d;
  a.context = *c;
  a.ipc = true;
  a.bufferId = (*rt)->nextId++;
  {
    std::unique_lock alock((*rt)->allocationsMutex);
    (*rt)->allocations[ptr] = a;
  }
  s.openedByKey.emplace(key, ptr);
  s.opened.emplace(ptr, std::move(o));
  *pdptr = ptr;
  return CUDA_SUCCESS;
}

CUresult cuIpcOpenMemHandle(CUdeviceptr *pdptr, CUipcMemHandle handle, unsigned int Flags) {
  return api::cuIpcOpenMemHandle_v2(pdptr, handle, Flags);
}

CUresult cuIpcCloseMemHandle(CUdeviceptr dptr) {
  auto rt = runtime();
  if (!rt)
    return rt.status();
  State &s = state();
  Opened o;
  {
    std::lock_guard lock(s.mutex);
    auto it = s.opened.find(dptr);
    if (it == s.opened.end())
      return error(CUDA_ERROR_INVALID_VALUE,
                   "cuIpcCloseMemHandle: 0x{:x} was not opened by cuIpcOpenMemHandle", dptr);
    if (--it->second.refs > 0)
      return CUDA_SUCCESS;
    o = std::move(it->second);
    s.opened.erase(it);
    s.openedByKey.erase(o.key);
  }
  // Kernels and copies queued before the close may still use the mapping.
  if ((*rt)->contexts.contains(o.context))
    (void)synchronizeContext(o.context);
  {
    std::unique_lock alock((*rt)->allocationsMutex);
    (*rt)->allocations.erase(dptr);
  }
  unmapOpened(o);
  return CUDA_SUCCESS;
}

CUresult cuIpcGetEventHandle(CUipcEventHandle *pHandle, CUevent event) {
  if (pHandle == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  auto e = liveEvent(event);
  if (!e)
    return e.status();
  const unsigned need = CU_EVENT_INTERPROCESS | CU_EVENT_DISABLE_TIMING;
  if (((*e)->flags & need) != need)
    return error(CUDA_ERROR_INVALID_VALUE,
                 "cuIpcGetEventHandle: the event needs CU_EVENT_INTERPROCESS | CU_EVENT_DISABLE_TIMING");
  auto ev = eventState(*e);
  if (!ev)
    return ev.status();
  EventWire wire{kEventMagic, getpid(), (*ev)->fd, (*ev)->token};
  std::memset(pHandle, 0, sizeof *pHandle);
  std::memcpy(pHandle, &wire, sizeof wire);
  return CUDA_SUCCESS;
}

CUresult cuIpcOpenEventHandle(CUevent *phEvent, CUipcEventHandle handle) {
  auto rt = runtime();
  if (!rt)
    return rt.status();
  if (phEvent == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  auto c = requireContext();
  if (!c)
    return c.status();
  if (!(*c)->device->backend->hostVisible())
    return error(CUDA_ERROR_NOT_SUPPORTED, "cuIpcOpenEventHandle: not on a remote device");
  EventWire wire;
  std::memcpy(&wire, &handle, sizeof wire);
  if (wire.magic != kEventMagic)
    return error(CUDA_ERROR_INVALID_HANDLE, "cuIpcOpenEventHandle: not an IPC event handle");
  if (wire.pid == getpid())
    return error(CUDA_ERROR_INVALID_CONTEXT, "cuIpcOpenEventHandle: the handle was made by this process");
  auto fd = openPeerFd(wire.pid, wire.fd, "ipcevent", wire.token);
  if (!fd)
    return fd.status();
  auto ev = std::make_shared<IpcEvent>();
  ev->fd = *fd; // kept: the opened event can be exported again
  ev->token = wire.token;
  if (Status st = mapEventState(*ev); !st.ok())
    return st;
  auto *e = new Event;
  e->context = *c;
  e->flags = CU_EVENT_INTERPROCESS | CU_EVENT_DISABLE_TIMING;
  e->ipc = std::move(ev);
  {
    std::lock_guard lock((*c)->mutex);
    (*c)->events.insert(e);
  }
  (*rt)->events.add(e);
  *phEvent = reinterpret_cast<CUevent>(e);
  return CUDA_SUCCESS;
}

// Every stream of the context waits for the event. Streams created later
// start with nothing queued and do not wait: a documented approximation.
CUresult cuCtxWaitEvent(CUcontext hCtx, CUevent hEvent) {
  auto c = checkContext(hCtx);
  if (!c)
    return c.status();
  auto e = liveEvent(hEvent);
  if (!e)
    return e.status();
  // The legacy stream must exist so later work on it waits too.
  Context *previous = currentContext();
  setCurrentContext(*c);
  auto legacy = resolveStream(CU_STREAM_LEGACY);
  setCurrentContext(previous);
  if (!legacy)
    return legacy.status();
  std::vector<std::shared_ptr<Stream>> streams;
  {
    std::lock_guard lock((*c)->mutex);
    for (auto &[s, owner] : (*c)->streams)
      streams.push_back(owner);
  }
  for (auto &s : streams)
    if (capturing(s.get()))
      return error(CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED,
                   "cuCtxWaitEvent: a stream of the context is capturing");
  for (auto &s : streams)
    if (CUresult r = api::cuStreamWaitEvent(reinterpret_cast<CUstream>(s.get()), hEvent, 0);
        r != CUDA_SUCCESS)
      return r;
  return CUDA_SUCCESS;
}

} // namespace api
} // namespace cuvirt
