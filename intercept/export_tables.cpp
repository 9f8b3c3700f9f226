// cuGetExportTable: the undocumented tables NVIDIA's cudart needs from the
// driver. shared/design/cudart-contract.md has the facts for cudart 13;
// the names follow the ones the ZLUDA project gave them.
#include "intercept/export_tables.h"
#include "cuvirt_api.h"
#include "intercept/image/image.h"
#include "intercept/md2.h"
#include "runtime/api_support.h"
#include "runtime/log.h"
#include "runtime/module.h"
#include "runtime/runtime.h"
#include <array>
#include <cstring>
#include <ctime>
#include <fmt/ranges.h>
#include <map>
#include <mutex>
#include <pthread.h>
#include <unistd.h>
#include <utility>

namespace cuvirt {
namespace {

using Slot = void *;

/// A slot cudart is not known to call: says so once and fails cleanly.
template <int Table, int Index> CUresult unexpectedSlot() {
  static std::once_flag once;
  std::call_once(once, [] { log().warn("unexpected call of hidden export table {} slot {}", Table, Index); });
  return CUDA_ERROR_NOT_SUPPORTED;
}

/// Tool-support slots cudart calls when it believes a tool may be attached
/// (seen under cuvirt-trace): with no tool to notify, they succeed and do
/// nothing, as a driver without tools does.
CUresult noToolAttached() { return CUDA_SUCCESS; }

// --- CUDART_INTERFACE -------------------------------------------------------

CUresult primaryContextFor(CUcontext *out, CUdevice dev) {
  if (out == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  auto d = deviceByOrdinal(dev);
  if (!d)
    return d.status();
  std::lock_guard lock((*d)->primaryMutex);
  if ((*d)->primary == nullptr) {
    // Creating it here does not retain it; cudart retains it separately.
    CUcontext c = nullptr;
    (*d)->primaryMutex.unlock();
    CUresult r = api::cuDevicePrimaryCtxRetain(&c, dev);
    (*d)->primaryMutex.lock();
    if (r != CUDA_SUCCESS)
      return r;
    --(*d)->primaryRefs;
  }
  *out = reinterpret_cast<CUcontext>((*d)->primary);
  return CUDA_SUCCESS;
}

CUresult moduleFromFatbin(CUmodule *out, const void *wrapper) {
  if (out == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  auto c = requireContext();
  if (!c)
    return c.status();
  auto img = image::parseFromMemory(wrapper);
  if (!img)
    return img.status();
  std::string log;
  auto m = loadModule((*c)->device, *c, *img, false, log);
  if (!m)
    return m.status();
  *out = reinterpret_cast<CUmodule>(*m);
  return CUDA_SUCCESS;
}

CUresult moduleFromFatbinExt(CUmodule *out, const void *wrapper, void *, void *, unsigned) {
  return moduleFromFatbin(out, wrapper);
}

Slot g_cudartInterface[] = {
    reinterpret_cast<Slot>(std::uintptr_t(12 * sizeof(Slot))),
    reinterpret_cast<Slot>(&moduleFromFatbin),
    reinterpret_cast<Slot>(&primaryContextFor),
    reinterpret_cast<Slot>(&unexpectedSlot<1, 3>),
    reinterpret_cast<Slot>(&unexpectedSlot<1, 4>),
    reinterpret_cast<Slot>(&unexpectedSlot<1, 5>),
    reinterpret_cast<Slot>(&moduleFromFatbin),
    reinterpret_cast<Slot>(&unexpectedSlot<1, 7>),
    reinterpret_cast<Slot>(&moduleFromFatbinExt),
    reinterpret_cast<Slot>(&unexpectedSlot<1, 9>),
    reinterpret_cast<Slot>(&unexpectedSlot<1, 10>),
    reinterpret_cast<Slot>(&unexpectedSlot<1, 11>),
};

// --- TOOLS_RUNTIME_CALLBACK_HOOKS -------------------------------------------

std::uint8_t g_hookBuffer1[1024];
std::uint8_t g_hookBuffer2[14];

void hookBuffer1(void **buffer, std::size_t *size) {
  *buffer = g_hookBuffer1;
  *size = sizeof g_hookBuffer1;
}
void hookBuffer2(void **buffer, std::size_t *size) {
  *buffer = g_hookBuffer2;
  *size = sizeof g_hookBuffer2;
}

Slot g_toolsHooks[] = {
    reinterpret_cast<Slot>(std::uintptr_t(8 * sizeof(Slot))),
    reinterpret_cast<Slot>(&noToolAttached),
    reinterpret_cast<Slot>(&hookBuffer1),
    reinterpret_cast<Slot>(&unexpectedSlot<2, 3>),
    reinterpret_cast<Slot>(&noToolAttached),
    reinterpret_cast<Slot>(&unexpectedSlot<2, 5>),
    reinterpret_cast<Slot>(&hookBuffer2),
    reinterpret_cast<Slot>(&unexpectedSlot<2, 7>),
};

// --- TOOLS_TLS ----------------------------------------------------------------

Slot g_toolsTls[] = {
    reinterpret_cast<Slot>(std::uintptr_t(4 * sizeof(Slot))),
    reinterpret_cast<Slot>(&unexpectedSlot<3, 1>),
    reinterpret_cast<Slot>(&noToolAttached),
    reinterpret_cast<Slot>(&unexpectedSlot<3, 3>),
};

// --- CONTEXT_LOCAL_STORAGE ----------------------------------------------------

struct LocalValue {
  void *value;
  void *destructor;
};
// Never destroyed: cudart deletes its values from atexit handlers, which
// may run after this library's static destructors.
struct LocalStorage {
  std::mutex mutex;
  std::map<std::pair<void *, void *>, LocalValue> values;
};
LocalStorage &cls() {
  static auto *storage = new LocalStorage;
  return *storage;
}

void *clsContext(CUcontext ctx) { return ctx != nullptr ? static_cast<void *>(ctx) : currentContext(); }

CUresult clsPut(CUcontext ctx, void *key, void *value, void *destructor) {
  void *c = clsContext(ctx);
  if (c == nullptr)
    return CUDA_ERROR_INVALID_CONTEXT;
  std::lock_guard lock(cls().mutex);
  cls().values[{c, key}] = {value, destructor};
  return CUDA_SUCCESS;
}

CUresult clsDelete(CUcontext ctx, void *key) {
  void *c = clsContext(ctx);
  std::lock_guard lock(cls().mutex);
  return cls().values.erase({c, key}) != 0 ? CUDA_SUCCESS : CUDA_ERROR_INVALID_HANDLE;
}

CUresult clsGet(void **out, CUcontext ctx, void *key) {
  if (out == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  void *c = clsContext(ctx);
  std::lock_guard lock(cls().mutex);
  auto it = cls().values.find({c, key});
  if (it == cls().values.end())
    return CUDA_ERROR_INVALID_HANDLE; // a miss must be an error
  *out = it->second.value;
  return CUDA_SUCCESS;
}

Slot g_contextLocalStorage[] = {
    reinterpret_cast<Slot>(&clsPut),
    reinterpret_cast<Slot>(&clsDelete),
    reinterpret_cast<Slot>(&clsGet),
    reinterpret_cast<Slot>(&unexpectedSlot<4, 3>),
};

// --- CONTEXT_CHECKS -------------------------------------------------------------

CUresult contextCheck(CUcontext ctx, std::uint32_t *out, void **) {
  if (out != nullptr)
    *out = 0;
  auto *rt = runtimeIfInitialized();
  Context *c = ctx != nullptr && rt != nullptr ? rt->contexts.find(ctx) : currentContext();
  if (c != nullptr && !c->stickyStatus().ok())
    return c->stickyStatus();
  return CUDA_SUCCESS;
}
CUresult contextCheckInit(void *, std::size_t) { return CUDA_SUCCESS; }

Slot g_contextChecks[] = {
    reinterpret_cast<Slot>(std::uintptr_t(5 * sizeof(Slot))),
    reinterpret_cast<Slot>(&unexpectedSlot<5, 1>),
    reinterpret_cast<Slot>(&contextCheck),
    reinterpret_cast<Slot>(&contextCheckInit),
    reinterpret_cast<Slot>(&unexpectedSlot<5, 4>),
};

// --- INTEGRITY_CHECK ----------------------------------------------------------

CUresult integrityCheck(std::uint32_t version, std::uint64_t unixSeconds, std::uint64_t out[2]);

Slot g_integrityCheck[] = {
    reinterpret_cast<Slot>(std::uintptr_t(3 * sizeof(Slot))),
    reinterpret_cast<Slot>(&integrityCheck),
    reinterpret_cast<Slot>(&unexpectedSlot<6, 2>),
};

// --- CONTEXT_STREAM -----------------------------------------------------------
// cuBLAS keys its per-context and per-stream state by these identities and
// fails every call (NOT_SUPPORTED) without them. The slot meanings are from
// public reverse-engineering notes; the other slots are not known to be used.

/// Slot 4: a context's unique id (cuCtxGetId's number).
CUresult contextKey(CUcontext ctx, std::uint64_t *key) {
  if (key == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  unsigned long long id = 0;
  CUresult r = api::cuCtxGetId(ctx, &id);
  if (r == CUDA_SUCCESS)
    *key = id;
  return r;
}

/// Slot 51: the driver's stream for a public handle; the default stream
/// (null) follows the caller's per-thread choice. Handles pass through.
CUresult streamFromPublic(CUcontext, CUstream stream, void **out, int perThread) {
  if (out == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  if (stream == nullptr)
    stream = perThread != 0 ? CU_STREAM_PER_THREAD : CU_STREAM_LEGACY;
  if (auto s = resolveStream(stream); !s)
    return s.status().code();
  *out = stream;
  return CUDA_SUCCESS;
}

/// Slot 39: a stream's unique id (cuStreamGetId's number).
CUresult streamIdentity(CUcontext, void *stream, std::uint64_t *id) {
  if (id == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  unsigned long long v = 0;
  CUresult r = api::cuStreamGetId(static_cast<CUstream>(stream), &v);
  if (r == CUDA_SUCCESS)
    *id = v;
  return r;
}

constexpr std::size_t kContextStreamSlots = 93;
template <std::size_t... I> constexpr auto contextStreamSlots(std::index_sequence<I...>) {
  std::array<Slot, sizeof...(I)> t{reinterpret_cast<Slot>(&unexpectedSlot<7, int(I)>)...};
  t[0] = reinterpret_cast<Slot>(std::uintptr_t(kContextStreamSlots * sizeof(Slot)));
  return t;
}
auto g_contextStream = [] {
  auto t = contextStreamSlots(std::make_index_sequence<kContextStreamSlots>());
  t[4] = reinterpret_cast<Slot>(&contextKey);
  t[39] = reinterpret_cast<Slot>(&streamIdentity);
  t[51] = reinterpret_cast<Slot>(&streamFromPublic);
  return t;
}();

template <class T> void append(std::vector<std::uint8_t> &buf, T value) {
  const auto *p = reinterpret_cast<const std::uint8_t *>(&value);
  buf.insert(buf.end(), p, p + sizeof value);
}

CUresult integrityCheck(std::uint32_t version, std::uint64_t unixSeconds, std::uint64_t out[2]) {
  if (out == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  if (integrityConstant(version, out))
    return CUDA_SUCCESS;
  auto digest = integrityDigest(version, unixSeconds, static_cast<std::uint32_t>(getpid()),
                                static_cast<std::uint32_t>(pthread_self()));
  std::memcpy(out, digest.data(), 16);
  return CUDA_SUCCESS;
}

struct NamedTable {
  CUuuid id;
  const void *table;
};

const NamedTable kTables[] = {
    {kCudartInterfaceId, g_cudartInterface},
    {kToolsRuntimeCallbackHooksId, g_toolsHooks},
    {kToolsTlsId, g_toolsTls},
    {kContextLocalStorageId, g_contextLocalStorage},
    {kContextChecksId, g_contextChecks},
    {kIntegrityCheckId, g_integrityCheck},
    {kContextStreamId, g_contextStream.data()},
};

} // namespace

const void *exportTable(const CUuuid &id) {
  static const bool hooked = (setContextClearedHook(&forgetContextStorage), true);
  (void)hooked;
  for (const auto &t : kTables)
    if (std::memcmp(t.id.bytes, id.bytes, sizeof id.bytes) == 0)
      return t.table;
  return nullptr;
}

Md2Digest integrityDigest(const IntegrityInputs &in) {
  static constexpr std::uint8_t kKey[16] = {0x14, 0x6a, 0xdd, 0xae, 0x53, 0xa9, 0xa7, 0x52,
                                            0xaa, 0x08, 0x41, 0x36, 0x0b, 0xf5, 0x5a, 0x9f};
  std::vector<std::uint8_t> msg;
  append<std::uint32_t>(msg, in.driverVersion);
  append<std::uint32_t>(msg, in.version);
  append<std::uint32_t>(msg, in.pid);
  append<std::uint32_t>(msg, in.thread);
  append<std::uint64_t>(msg, in.cudartInterfaceTable);
  append<std::uint64_t>(msg, in.integrityTable);
  append<std::uint64_t>(msg, in.integritySlot);
  append<std::uint64_t>(msg, in.unixSeconds);
  for (const auto &d : in.devices) {
    const auto *uuid = reinterpret_cast<const std::uint8_t *>(d.uuid.bytes);
    msg.insert(msg.end(), uuid, uuid + 16);
    append<std::int32_t>(msg, d.pciDomain);
    append<std::int32_t>(msg, d.pciBus);
    append<std::int32_t>(msg, d.pciDevice);
  }
  return hmacMd2(std::span<const std::uint8_t, 16>(kKey), msg);
}

Md2Digest integrityDigest(std::uint32_t version, std::uint64_t unixSeconds, std::uint32_t pid,
                          std::uint32_t thread) {
  IntegrityInputs in;
  int driverVersion = 0;
  (void)api::cuDriverGetVersion(&driverVersion);
  in.driverVersion = static_cast<std::uint32_t>(driverVersion);
  in.version = version;
  in.pid = pid;
  in.thread = thread;
  in.cudartInterfaceTable = reinterpret_cast<std::uint64_t>(exportTable(kCudartInterfaceId));
  in.integrityTable = reinterpret_cast<std::uint64_t>(exportTable(kIntegrityCheckId));
  in.integritySlot = reinterpret_cast<std::uint64_t>(g_integrityCheck[1]);
  in.unixSeconds = unixSeconds;
  int count = 0;
  if (api::cuDeviceGetCount(&count) != CUDA_SUCCESS)
    count = 0;
  for (int d = 0; d < count; ++d) {
    IntegrityInputs::DeviceId id{};
    (void)api::cuDeviceGetUuid(&id.uuid, d);
    (void)api::cuDeviceGetAttribute(&id.pciDomain, CU_DEVICE_ATTRIBUTE_PCI_DOMAIN_ID, d);
    (void)api::cuDeviceGetAttribute(&id.pciBus, CU_DEVICE_ATTRIBUTE_PCI_BUS_ID, d);
    (void)api::cuDeviceGetAttribute(&id.pciDevice, CU_DEVICE_ATTRIBUTE_PCI_DEVICE_ID, d);
    in.devices.push_back(id);
  }
  return integrityDigest(in);
}

bool integrityConstant(std::uint32_t version, std::uint64_t out[2]) {
  if (version % 10 >= 2)
    return false;
  out[0] = version % 10 == 0 ? 0x3341181C03CB675CULL : 0x1841181C03CB675CULL;
  out[1] = 0x8ED383AA1F4CD1E8ULL;
  return true;
}

void forgetContextStorage(const void *context) {
  std::lock_guard lock(cls().mutex);
  auto &values = cls().values;
  for (auto it = values.begin(); it != values.end();)
    it = it->first.first == context ? values.erase(it) : std::next(it);
}

namespace api {
CUresult cuGetExportTable(const void **ppExportTable, const CUuuid *pExportTableId) {
  if (ppExportTable == nullptr || pExportTableId == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  const void *t = exportTable(*pExportTableId);
  log().trace("cuGetExportTable({:02x}) -> {}",
              fmt::join(reinterpret_cast<const unsigned char (&)[16]>(pExportTableId->bytes), ""), t);
  if (t == nullptr) {
    *ppExportTable = nullptr;
    return CUDA_ERROR_NOT_FOUND;
  }
  *ppExportTable = t;
  return CUDA_SUCCESS;
}
} // namespace api

} // namespace cuvirt
