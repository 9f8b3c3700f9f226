// The trace layer: installation, the terminal (cuvirt or NVIDIA's driver),
// the hand-written wrappers (proc lookups, hidden tables), decoding, output
// and the summary.
#include "intercept/trace/trace.h"
#include "intercept/export_tables.h"
#include "intercept/image/image.h"
#include "intercept/proc_table.h"
#include "intercept/trace/traced.h"
#include "runtime/backend.h"
#include "shims/preload.h"
#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <cxxabi.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <fnmatch.h>
#include <map>
#include <mutex>
#include <pthread.h>
#include <sstream>
#include <sys/stat.h>
#include <unistd.h>
#include <unordered_map>

namespace cuvirt::trace {

extern const unsigned kTraceProcCount;
AnyFn g_next[kApiCount + 1024];

namespace {

// Heap-held, built on first use: the library's constructor that installs
// the layer may run before this file's static initialisers.
struct Labels {
  Options options;
  std::string proc[1024];
};
Labels &labels() {
  static auto *l = new Labels;
  return *l;
}
#define g_options (labels().options)
#define g_procLabels (labels().proc)
bool g_traced[kApiCount]; // by symbol: passes --only/--exclude
Clock::time_point g_start;
bool g_installed = false;
std::atomic<bool> g_finished{false};
void *g_nativeDriver = nullptr; // NVIDIA's libcuda.so.1 when passthrough

// --- Output --------------------------------------------------------------------

/// Buffered output: one lock, one write(2) per 64 KiB, flushed at exit and
/// on fatal signals so a crashing program still leaves its trace.
struct Sink {
  std::mutex mutex;
  std::string buffer;
  int fd = 2;
  bool first = true; ///< no Chrome event written yet
  void write(std::string_view text) {
    std::lock_guard lock(mutex);
    buffer.append(text);
    if (buffer.size() > (64u << 10))
      flushLocked();
  }
  void flushLocked() {
    std::size_t done = 0;
    while (done < buffer.size()) {
      ssize_t n = ::write(fd, buffer.data() + done, buffer.size() - done);
      if (n <= 0)
        break;
      done += static_cast<std::size_t>(n);
    }
    buffer.clear();
  }
  void flush() {
    std::lock_guard lock(mutex);
    flushLocked();
  }
};
Sink &sink() {
  static auto *s = new Sink; // never destroyed: used from exit handlers
  return *s;
}

unsigned threadNumber() {
  static std::atomic<unsigned> next{1};
  thread_local unsigned mine = next++;
  return mine;
}

double micros(Clock::time_point t) { return std::chrono::duration<double, std::micro>(t - g_start).count(); }

std::string jsonEscape(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  for (char c : s) {
    switch (c) {
    case '"':
      out += "\\\"";
      break;
    case '\\':
      out += "\\\\";
      break;
    case '\n':
      out += "\\n";
      break;
    case '\t':
      out += "\\t";
      break;
    default:
      if (static_cast<unsigned char>(c) < 0x20)
        out += fmt::format("\\u{:04x}", c);
      else
        out += c;
    }
  }
  return out;
}

// --- Statistics ------------------------------------------------------------------

struct CallStats {
  std::uint64_t count = 0;
  double total = 0, min = 1e300, max = 0; // microseconds
};
struct Stats {
  std::mutex mutex;
  std::map<std::string, CallStats> calls;
  std::map<std::string, std::uint64_t> errors; // "api: CUDA_ERROR_X"
  std::map<std::string, std::uint64_t> bytes;  // by direction
  std::map<std::string, CallStats> kernels;    // real execution, where reported
};
Stats &stats() {
  static auto *s = new Stats;
  return *s;
}

// --- Decoding ---------------------------------------------------------------------

std::string demangle(const char *name) {
  int status = 0;
  char *d = abi::__cxa_demangle(name, nullptr, nullptr, &status);
  std::string out = status == 0 && d != nullptr ? d : name;
  std::free(d);
  return out;
}

std::string kernelName(const void *handle) {
  static std::mutex mutex;
  static auto *names = new std::unordered_map<const void *, std::string>;
  std::lock_guard lock(mutex);
  if (auto it = names->find(handle); it != names->end())
    return it->second;
  const char *name = nullptr;
  auto getName = reinterpret_cast<CUresult (*)(const char **, const void *)>(
      g_next[static_cast<unsigned>(ApiId::cuFuncGetName)]);
  auto getKernelName = reinterpret_cast<CUresult (*)(const char **, const void *)>(
      g_next[static_cast<unsigned>(ApiId::cuKernelGetName)]);
  if ((getName == nullptr || getName(&name, handle) != CUDA_SUCCESS) &&
      (getKernelName == nullptr || getKernelName(&name, handle) != CUDA_SUCCESS))
    name = nullptr;
  std::string out = name != nullptr ? demangle(name) : "?";
  (*names)[handle] = out;
  return out;
}

int argIndex(const Record &rec, std::string_view name) {
  for (std::size_t i = 0; i < rec.args.size(); ++i)
    if (rec.args[i].first == name)
      return static_cast<int>(i);
  return -1;
}

template <class T> T argAs(const void *const *argv, int i) { return *static_cast<const T *>(argv[i]); }

void countBytes(const std::string &direction, std::uint64_t n) {
  std::lock_guard lock(stats().mutex);
  stats().bytes[direction] += n;
}

const char *memoryKind(CUmemorytype t) {
  switch (t) {
  case CU_MEMORYTYPE_HOST:
    return "H";
  case CU_MEMORYTYPE_DEVICE:
    return "D";
  case CU_MEMORYTYPE_ARRAY:
    return "A";
  default:
    return "U";
  }
}

void dumpImage(const void *image, const std::string &api) {
  static std::atomic<unsigned> sequence{0};
  auto parsed = image::parseFromMemory(image);
  if (!parsed)
    return;
  unsigned n = sequence++;
  for (const auto &e : parsed->entries) {
    // Named by the kernel set: the first kernel and how many more.
    std::vector<std::string> kernels;
    if (e.kind == image::EntryKind::Ptx) {
      for (std::size_t at = e.data.find(".entry"); at != std::string::npos;
           at = e.data.find(".entry", at + 6)) {
        std::size_t b = e.data.find_first_not_of(" \t", at + 6);
        std::size_t end = e.data.find_first_of(" \t(\n", b);
        if (b != std::string::npos && end != std::string::npos)
          kernels.push_back(e.data.substr(b, end - b));
      }
    }
    std::string stem = kernels.empty() ? api : kernels.front();
    if (stem.size() > 80)
      stem.resize(80);
    if (kernels.size() > 1)
      stem += fmt::format("+{}", kernels.size() - 1);
    std::string path = fmt::format("{}/{:03}-{}-sm{}.{}", g_options.dumpImages, n, stem, e.arch,
                                   e.kind == image::EntryKind::Ptx ? "ptx" : "cubin");
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      ssize_t ignored = ::write(fd, e.data.data(), e.data.size());
      (void)ignored;
      ::close(fd);
    }
  }
}

/// What the argument types alone cannot say.
void annotate(Record &rec, ApiId id, const void *const *argv) {
  const std::string_view name = kApiNames[static_cast<unsigned>(id)];
  const bool ok = rec.result == CUDA_SUCCESS;
  if (name.rfind("cuLaunchKernel", 0) == 0 || name.rfind("cuLaunchCooperativeKernel", 0) == 0) {
    if (name.rfind("cuLaunchKernelEx", 0) == 0) {
      const auto *cfg = argAs<const CUlaunchConfig *>(argv, 0);
      if (cfg != nullptr)
        rec.note =
            fmt::format("{}<<<({},{},{}), ({},{},{}), {}, {}>>>", kernelName(argAs<const void *>(argv, 1)),
                        cfg->gridDimX, cfg->gridDimY, cfg->gridDimZ, cfg->blockDimX, cfg->blockDimY,
                        cfg->blockDimZ, cfg->sharedMemBytes, showStream(cfg->hStream));
    } else {
      rec.note =
          fmt::format("{}<<<({},{},{}), ({},{},{}), {}, {}>>>", kernelName(argAs<const void *>(argv, 0)),
                      argAs<unsigned>(argv, 1), argAs<unsigned>(argv, 2), argAs<unsigned>(argv, 3),
                      argAs<unsigned>(argv, 4), argAs<unsigned>(argv, 5), argAs<unsigned>(argv, 6),
                      argAs<unsigned>(argv, 7), showStream(argAs<CUstream>(argv, 8)));
    }
    return;
  }
  if (name.rfind("cuMemcpy", 0) == 0 && ok) {
    int bytes = argIndex(rec, "ByteCount");
    int copy = argIndex(rec, "pCopy");
    std::string direction;
    std::uint64_t n = 0;
    if (bytes >= 0) {
      n = argAs<std::size_t>(argv, bytes);
      direction = name.find("HtoD") != std::string_view::npos   ? "HtoD"
                  : name.find("DtoH") != std::string_view::npos ? "DtoH"
                  : name.find("DtoD") != std::string_view::npos || name.find("Peer") != std::string_view::npos
                      ? "DtoD"
                  : name.find("AtoH") != std::string_view::npos ? "AtoH"
                  : name.find("HtoA") != std::string_view::npos ? "HtoA"
                                                                : "default";
    } else if (copy >= 0 && name.rfind("cuMemcpy2D", 0) == 0) {
      const auto *p = argAs<const CUDA_MEMCPY2D *>(argv, copy);
      n = std::uint64_t(p->WidthInBytes) * p->Height;
      direction = fmt::format("{}to{}", memoryKind(p->srcMemoryType), memoryKind(p->dstMemoryType));
    } else if (copy >= 0 && name.rfind("cuMemcpy3D", 0) == 0 && name.find("Peer") == std::string_view::npos) {
      const auto *p = argAs<const CUDA_MEMCPY3D *>(argv, copy);
      n = std::uint64_t(p->WidthInBytes) * p->Height * std::max<std::size_t>(p->Depth, 1);
      direction = fmt::format("{}to{}", memoryKind(p->srcMemoryType), memoryKind(p->dstMemoryType));
    }
    if (!direction.empty()) {
      countBytes(direction, n);
      rec.note = fmt::format("{} bytes {}", n, direction);
    }
    return;
  }
  if (!g_options.dumpImages.empty() && ok &&
      (name == "cuModuleLoadData" || name == "cuModuleLoadDataEx" || name == "cuModuleLoadFatBinary" ||
       name == "cuLibraryLoadData"))
    dumpImage(argAs<const void *>(argv, 1), std::string(name));
}

std::string siteName(unsigned site) {
  return site < kApiCount ? std::string(kApiNames[site]) : g_procLabels[site - kApiCount];
}

void writeRecord(const Record &rec) {
  const double t0 = micros(rec.start), dur = micros(rec.end) - t0;
  const std::string api = siteName(rec.site);
  {
    std::lock_guard lock(stats().mutex);
    auto &s = stats().calls[api];
    ++s.count;
    s.total += dur;
    s.min = std::min(s.min, dur);
    s.max = std::max(s.max, dur);
    if (rec.result != CUDA_SUCCESS)
      ++stats().errors[fmt::format("{}: {}", api, show(rec.result))];
  }
  if (g_options.summaryOnly || g_finished.load(std::memory_order_relaxed))
    return;
  std::string line;
  switch (g_options.format) {
  case Options::Format::Text: {
    line = fmt::format("{:12.3f} T{} {}(", t0, threadNumber(), api);
    for (std::size_t i = 0; i < rec.args.size(); ++i)
      line += fmt::format("{}{}={}", i ? ", " : "", rec.args[i].first, rec.args[i].second);
    line += fmt::format(") = {} ({:.1f} µs)", show(rec.result), dur);
    if (!rec.note.empty())
      line += "  " + rec.note;
    line += '\n';
    break;
  }
  case Options::Format::JsonLines:
  case Options::Format::Chrome: {
    std::string args;
    for (std::size_t i = 0; i < rec.args.size(); ++i)
      args += fmt::format("{}\"{}\":\"{}\"", i ? "," : "", rec.args[i].first, jsonEscape(rec.args[i].second));
    if (!rec.note.empty())
      args += fmt::format("{}\"decoded\":\"{}\"", args.empty() ? "" : ",", jsonEscape(rec.note));
    if (g_options.format == Options::Format::JsonLines) {
      line = fmt::format("{{\"ts_us\":{:.3f},\"tid\":{},\"api\":\"{}\",\"args\":{{{}}},\"result\":\"{}\","
                         "\"dur_us\":{:.3f}}}\n",
                         t0, threadNumber(), api, args, show(rec.result), dur);
    } else {
      args += fmt::format("{}\"result\":\"{}\"", args.empty() ? "" : ",", show(rec.result));
      line =
          fmt::format("{{\"name\":\"{}\",\"cat\":\"api\",\"ph\":\"X\",\"ts\":{:.3f},\"dur\":{:.3f},\"pid\":1,"
                      "\"tid\":{},\"args\":{{{}}}}},\n",
                      api, t0, dur, threadNumber(), args);
    }
    break;
  }
  }
  sink().write(line);
}

/// Execution spans reported by the backend: on stream tracks (Chrome), and
/// kernel times for the summary.
void onSpan(std::uint64_t stream, const char *kind, const std::string &name, Clock::time_point start,
            Clock::time_point end) {
  const double t0 = micros(start), dur = micros(end) - t0;
  const std::string label = std::strcmp(kind, "kernel") == 0 ? demangle(name.c_str()) : name;
  if (std::strcmp(kind, "kernel") == 0) {
    std::lock_guard lock(stats().mutex);
    auto &s = stats().kernels[label];
    ++s.count;
    s.total += dur;
    s.min = std::min(s.min, dur);
    s.max = std::max(s.max, dur);
  }
  if (g_options.summaryOnly)
    return;
  if (g_options.format == Options::Format::Chrome) {
    sink().write(
        fmt::format("{{\"name\":\"{}\",\"cat\":\"{}\",\"ph\":\"X\",\"ts\":{:.3f},\"dur\":{:.3f},\"pid\":2,"
                    "\"tid\":{},\"args\":{{}}}},\n",
                    jsonEscape(label), kind, t0, dur, stream));
  } else if (g_options.format == Options::Format::JsonLines) {
    sink().write(fmt::format("{{\"ts_us\":{:.3f},\"stream\":{},\"{}\":\"{}\",\"dur_us\":{:.3f}}}\n", t0,
                             stream, kind, jsonEscape(label), dur));
  } else {
    sink().write(fmt::format("{:12.3f} stream#{} {} {} ran {:.1f} µs\n", t0, stream, kind, label, dur));
  }
}

void writeSummary() {
  auto &st = stats();
  std::lock_guard lock(st.mutex);
  std::string out = "\n== cuvirt-trace summary ==\n";
  std::vector<std::pair<std::string, CallStats>> calls(st.calls.begin(), st.calls.end());
  std::sort(calls.begin(), calls.end(), [](auto &a, auto &b) { return a.second.total > b.second.total; });
  out += fmt::format("{:<40} {:>9} {:>12} {:>10} {:>10} {:>10}\n", "API call", "count", "total µs", "mean µs",
                     "min µs", "max µs");
  for (auto &[name, s] : calls)
    out += fmt::format("{:<40} {:>9} {:>12.1f} {:>10.2f} {:>10.2f} {:>10.2f}\n", name, s.count, s.total,
                       s.total / static_cast<double>(s.count), s.min, s.max);
  if (!st.bytes.empty()) {
    out += "bytes copied:";
    for (auto &[dir, n] : st.bytes)
      out += fmt::format(" {} {}", dir, n);
    out += '\n';
  }
  if (!st.kernels.empty()) {
    std::vector<std::pair<std::string, CallStats>> k(st.kernels.begin(), st.kernels.end());
    std::sort(k.begin(), k.end(), [](auto &a, auto &b) { return a.second.total > b.second.total; });
    out += "kernels by total time:\n";
    for (auto &[name, s] : k)
      out += fmt::format("  {:>10.1f} µs  {:>6} launches  {}\n", s.total, s.count, name);
  }
  if (!st.errors.empty()) {
    out += "errors returned:\n";
    for (auto &[what, n] : st.errors)
      out += fmt::format("  {:>6}  {}\n", n, what);
  }
  if (g_options.format == Options::Format::Text) {
    sink().write(out);
  } else {
    ssize_t ignored = ::write(2, out.data(), out.size());
    (void)ignored;
  }
}

void finish() {
  if (g_installed == false || g_finished.exchange(true))
    return;
  setSpanHook(nullptr);
  if (g_options.summary)
    writeSummary();
  if (g_options.format == Options::Format::Chrome && !g_options.summaryOnly)
    sink().write("{}]\n"); // closes the array (the empty object absorbs the last comma)
  sink().flush();
}

struct sigaction g_previous[32];

void onFatalSignal(int sig) {
  // Best effort: what was traced until now reaches the output.
  Sink &s = sink();
  if (s.mutex.try_lock()) {
    s.flushLocked();
    s.mutex.unlock();
  }
  sigaction(sig, &g_previous[sig], nullptr);
  raise(sig);
}

// --- The hand-written wrappers ------------------------------------------------------

using ProcV2 = CUresult (*)(const char *, void **, int, cuuint64_t, CUdriverProcAddressQueryResult *);
using ProcV1 = CUresult (*)(const char *, void **, int, cuuint64_t);

/// Hands out the traced wrapper of what the next layer resolved.
void wrapResolved(const char *symbol, void **pfn, int version, cuuint64_t flags) {
  if (*pfn == nullptr)
    return;
  const bool perThread = (flags & CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM) != 0;
  std::size_t index = 0;
  if (!procIndex(symbol, version, perThread, &index))
    return; // unknown to the table: the untraced pointer
  const ApiId id = kProcTable[index].id;
  if (id == ApiId::cuGetProcAddress || id == ApiId::cuGetProcAddress_v2 || id == ApiId::cuGetExportTable) {
    // Lookups and tables found through a lookup must stay in the layer too.
    *pfn = reinterpret_cast<void *>(g_dispatch[static_cast<unsigned>(id)]);
    return;
  }
  // cuvirt's own lookups answer with the dispatch slot (our wrapper); the
  // real implementation is what that wrapper calls.
  AnyFn resolved = reinterpret_cast<AnyFn>(*pfn);
  if (g_nativeDriver == nullptr)
    resolved = g_next[static_cast<unsigned>(id)];
  if (!g_traced[static_cast<unsigned>(id)]) {
    *pfn = reinterpret_cast<void *>(resolved);
    return;
  }
  g_next[kApiCount + index] = resolved;
  *pfn = reinterpret_cast<void *>(kTraceProcWrappers[index]);
}

template <ApiId Id>
void record(Clock::time_point start, CUresult r,
            std::initializer_list<std::pair<const char *, std::string>> args) {
  if (!g_traced[static_cast<unsigned>(Id)])
    return;
  Record &rec = threadRecord();
  rec.clear();
  rec.site = static_cast<unsigned>(Id);
  rec.start = start;
  rec.end = Clock::now();
  rec.result = r;
  rec.args.assign(args.begin(), args.end());
  writeRecord(rec);
}

CUresult procAddressV2(const char *symbol, void **pfn, int version, cuuint64_t flags,
                       CUdriverProcAddressQueryResult *status) {
  auto start = Clock::now();
  auto next = reinterpret_cast<ProcV2>(g_next[static_cast<unsigned>(ApiId::cuGetProcAddress_v2)]);
  CUresult r = next(symbol, pfn, version, flags, status);
  if (r == CUDA_SUCCESS && pfn != nullptr && symbol != nullptr)
    wrapResolved(symbol, pfn, version, flags);
  record<ApiId::cuGetProcAddress_v2>(start, r,
                                     {{"symbol", show(symbol)},
                                      {"version", show(version)},
                                      {"flags", show(flags)},
                                      {"pfn", showArg(pfn, r == CUDA_SUCCESS)}});
  return r;
}

CUresult procAddressV1(const char *symbol, void **pfn, int version, cuuint64_t flags) {
  auto start = Clock::now();
  auto next = reinterpret_cast<ProcV1>(g_next[static_cast<unsigned>(ApiId::cuGetProcAddress)]);
  CUresult r = next(symbol, pfn, version, flags);
  if (r == CUDA_SUCCESS && pfn != nullptr && symbol != nullptr)
    wrapResolved(symbol, pfn, version, flags);
  record<ApiId::cuGetProcAddress>(start, r,
                                  {{"symbol", show(symbol)},
                                   {"version", show(version)},
                                   {"flags", show(flags)},
                                   {"pfn", showArg(pfn, r == CUDA_SUCCESS)}});
  return r;
}

// Hidden tables: each is handed out as a copy whose known slots are traced
// wrappers of the originals ("TABLE[slot]" in the trace).
struct WrappedTable {
  const char *name;
  const void *const *original = nullptr;
  std::vector<void *> slots;
  /// Where the copy lives: inside this library, as the original table did.
  /// cudart notices tables outside the driver's image (it then calls tool
  /// hooks a plain driver never sees called).
  void **storage = nullptr;
};

constexpr int kMaxTableSlots = 160;
void *g_tableStorage[6][kMaxTableSlots];

struct Tables {
  WrappedTable cudart{"CUDART_INTERFACE", nullptr, {}, g_tableStorage[0]},
      hooks{"TOOLS_RUNTIME_CALLBACK_HOOKS", nullptr, {}, g_tableStorage[1]},
      tls{"TOOLS_TLS", nullptr, {}, g_tableStorage[2]},
      cls{"CONTEXT_LOCAL_STORAGE", nullptr, {}, g_tableStorage[3]},
      checks{"CONTEXT_CHECKS", nullptr, {}, g_tableStorage[4]},
      integrity{"INTEGRITY_CHECK", nullptr, {}, g_tableStorage[5]};
};
Tables &tables() {
  static auto *t = new Tables;
  return *t;
}
#define g_cudart (tables().cudart)
#define g_hooks (tables().hooks)
#define g_tls (tables().tls)
#define g_cls (tables().cls)
#define g_checks (tables().checks)
#define g_integrity (tables().integrity)

bool matchesAny(const std::string &patterns, const char *name);

void recordSlot(const WrappedTable &t, int slot, Clock::time_point start, CUresult r,
                std::initializer_list<std::pair<const char *, std::string>> args) {
  const std::string label = fmt::format("{}[{}]", t.name, slot);
  if ((!g_options.only.empty() && !matchesAny(g_options.only, label.c_str())) ||
      matchesAny(g_options.exclude, label.c_str()))
    return;
  static std::mutex mutex;
  static auto *slotSites = new std::map<std::pair<const void *, int>, unsigned>;
  unsigned site;
  {
    // Hidden-table calls get sites after the proc entries.
    std::lock_guard lock(mutex);
    auto key = std::make_pair(static_cast<const void *>(&t), slot);
    auto it = slotSites->find(key);
    if (it == slotSites->end()) {
      site = kTraceProcCount + static_cast<unsigned>(slotSites->size());
      g_procLabels[site] = label;
      it = slotSites->emplace(key, site).first;
    }
    site = it->second;
  }
  Record rec;
  rec.site = kApiCount + site;
  rec.start = start;
  rec.end = Clock::now();
  rec.result = r;
  rec.args.assign(args.begin(), args.end());
  writeRecord(rec);
}

template <class F> F original(const WrappedTable &t, int slot) {
  return reinterpret_cast<F>(t.original[slot]);
}

CUresult cudartPrimaryContext(CUcontext *out, CUdevice dev) {
  auto start = Clock::now();
  CUresult r = original<CUresult (*)(CUcontext *, CUdevice)>(g_cudart, 2)(out, dev);
  recordSlot(g_cudart, 2, start, r, {{"ctx", showArg(out, r == CUDA_SUCCESS)}, {"dev", show(dev)}});
  return r;
}
CUresult clsPut(CUcontext ctx, void *key, void *value, void *dtor) {
  auto start = Clock::now();
  CUresult r = original<CUresult (*)(CUcontext, void *, void *, void *)>(g_cls, 0)(ctx, key, value, dtor);
  recordSlot(g_cls, 0, start, r, {{"ctx", show(ctx)}, {"key", show(key)}, {"value", show(value)}});
  return r;
}
CUresult clsDelete(CUcontext ctx, void *key) {
  auto start = Clock::now();
  CUresult r = original<CUresult (*)(CUcontext, void *)>(g_cls, 1)(ctx, key);
  recordSlot(g_cls, 1, start, r, {{"ctx", show(ctx)}, {"key", show(key)}});
  return r;
}
CUresult clsGet(void **out, CUcontext ctx, void *key) {
  auto start = Clock::now();
  CUresult r = original<CUresult (*)(void **, CUcontext, void *)>(g_cls, 2)(out, ctx, key);
  recordSlot(g_cls, 2, start, r,
             {{"value", showArg(out, r == CUDA_SUCCESS)}, {"ctx", show(ctx)}, {"key", show(key)}});
  return r;
}
CUresult contextCheck(CUcontext ctx, std::uint32_t *out, void **out2) {
  auto start = Clock::now();
  CUresult r = original<CUresult (*)(CUcontext, std::uint32_t *, void **)>(g_checks, 2)(ctx, out, out2);
  recordSlot(g_checks, 2, start, r, {{"ctx", show(ctx)}});
  return r;
}

/// Our own answer, computed over the wrapped tables' addresses: cudart
/// checks it against the pointers it was handed, which are the wrapped ones.
CUresult integritySlot(std::uint32_t version, std::uint64_t seconds, std::uint64_t out[2]) {
  auto start = Clock::now();
  CUresult r = CUDA_SUCCESS;
  if (out == nullptr) {
    r = CUDA_ERROR_INVALID_VALUE;
  } else if (!integrityConstant(version, out)) {
    IntegrityInputs in;
    auto call = [](ApiId id) { return g_next[static_cast<unsigned>(id)]; };
    int driverVersion = 0, count = 0;
    reinterpret_cast<CUresult (*)(int *)>(call(ApiId::cuDriverGetVersion))(&driverVersion);
    reinterpret_cast<CUresult (*)(int *)>(call(ApiId::cuDeviceGetCount))(&count);
    in.driverVersion = static_cast<std::uint32_t>(driverVersion);
    in.version = version;
    in.pid = static_cast<std::uint32_t>(getpid());
    in.thread = static_cast<std::uint32_t>(pthread_self());
    in.cudartInterfaceTable = reinterpret_cast<std::uint64_t>(g_cudart.storage);
    in.integrityTable = reinterpret_cast<std::uint64_t>(g_integrity.storage);
    in.integritySlot = reinterpret_cast<std::uint64_t>(g_integrity.storage[1]);
    in.unixSeconds = seconds;
    auto getAttr = reinterpret_cast<CUresult (*)(int *, CUdevice_attribute, CUdevice)>(
        call(ApiId::cuDeviceGetAttribute));
    auto getUuid = reinterpret_cast<CUresult (*)(CUuuid *, CUdevice)>(call(ApiId::cuDeviceGetUuid));
    for (int d = 0; d < count; ++d) {
      IntegrityInputs::DeviceId id{};
      getUuid(&id.uuid, d);
      getAttr(&id.pciDomain, CU_DEVICE_ATTRIBUTE_PCI_DOMAIN_ID, d);
      getAttr(&id.pciBus, CU_DEVICE_ATTRIBUTE_PCI_BUS_ID, d);
      getAttr(&id.pciDevice, CU_DEVICE_ATTRIBUTE_PCI_DEVICE_ID, d);
      in.devices.push_back(id);
    }
    Md2Digest digest = integrityDigest(in);
    std::memcpy(out, digest.data(), 16);
  }
  recordSlot(g_integrity, 1, start, r, {{"version", show(version)}, {"seconds", show(seconds)}});
  return r;
}

/// Copies the table and swaps the slots we know how to trace.
const void *wrapTable(WrappedTable &t, const void *table, int slots,
                      std::initializer_list<std::pair<int, void *>> replacements) {
  static std::mutex mutex;
  std::lock_guard lock(mutex);
  if (t.original == table && !t.slots.empty())
    return t.storage;
  t.original = static_cast<const void *const *>(table);
  // cudart reads past the slots it calls (flags after a table tell it
  // whether tools are attached), so the copy carries what follows the
  // original too, read without risking a fault.
  const int kTrailing = std::min(64, kMaxTableSlots - slots);
  t.slots.assign(static_cast<std::size_t>(slots) + static_cast<std::size_t>(kTrailing), nullptr);
  for (int i = 0; i < slots + kTrailing; ++i)
    if (!image::safeCopy(&t.slots[i], t.original + i, sizeof(void *)))
      break;
  for (auto [slot, fn] : replacements)
    if (slot < slots)
      t.slots[slot] = fn;
  std::copy_n(t.slots.begin(), std::min<std::size_t>(t.slots.size(), kMaxTableSlots), t.storage);
  return t.storage;
}

int sizedSlots(const void *table) {
  auto size = reinterpret_cast<std::uintptr_t>(static_cast<const void *const *>(table)[0]);
  return size >= sizeof(void *) && size < 4096 ? static_cast<int>(size / sizeof(void *)) : 1;
}

CUresult exportTable(const void **out, const CUuuid *id) {
  auto start = Clock::now();
  auto next = reinterpret_cast<CUresult (*)(const void **, const CUuuid *)>(
      g_next[static_cast<unsigned>(ApiId::cuGetExportTable)]);
  CUresult r = next(out, id);
  if (r == CUDA_SUCCESS && out != nullptr && *out != nullptr && id != nullptr) {
    auto is = [&](const CUuuid &u) { return std::memcmp(u.bytes, id->bytes, 16) == 0; };
    const void *t = *out;
    if (is(kCudartInterfaceId))
      *out = wrapTable(g_cudart, t, sizedSlots(t), {{2, reinterpret_cast<void *>(&cudartPrimaryContext)}});
    else if (is(kToolsRuntimeCallbackHooksId))
      *out = wrapTable(g_hooks, t, sizedSlots(t), {});
    else if (is(kToolsTlsId))
      *out = wrapTable(g_tls, t, sizedSlots(t), {});
    else if (is(kContextLocalStorageId)) // no size in slot 0: the three known slots and a spare
      *out = wrapTable(g_cls, t, 4,
                       {{0, reinterpret_cast<void *>(&clsPut)},
                        {1, reinterpret_cast<void *>(&clsDelete)},
                        {2, reinterpret_cast<void *>(&clsGet)}});
    else if (is(kContextChecksId))
      *out = wrapTable(g_checks, t, sizedSlots(t), {{2, reinterpret_cast<void *>(&contextCheck)}});
    else if (is(kIntegrityCheckId))
      *out = wrapTable(g_integrity, t, sizedSlots(t), {{1, reinterpret_cast<void *>(&integritySlot)}});
  }
  std::string uuid;
  if (id != nullptr)
    uuid = show(*id);
  record<ApiId::cuGetExportTable>(start, r, {{"table", showArg(out, r == CUDA_SUCCESS)}, {"id", uuid}});
  return r;
}

CUresult missingInDriver() { return CUDA_ERROR_NOT_FOUND; }

bool matchesAny(const std::string &patterns, const char *name) {
  std::stringstream in(patterns);
  for (std::string p; std::getline(in, p, ',');)
    if (!p.empty() && fnmatch(p.c_str(), name, 0) == 0)
      return true;
  return false;
}

bool sameFile(const std::string &a, const char *b) {
  struct stat sa{}, sb{};
  return b != nullptr && stat(a.c_str(), &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
         sa.st_ino == sb.st_ino;
}

const char *ownPath() {
  static std::string path = [] {
    Dl_info info{};
    dladdr(reinterpret_cast<void *>(&missingInDriver), &info);
    return std::string(info.dli_fname ? info.dli_fname : "");
  }();
  return path.c_str();
}

} // namespace

Record &threadRecord() {
  // Never destroyed: cudart calls the driver from exit handlers, after
  // thread-local destructors would have run.
  thread_local Record *rec = new Record;
  return *rec;
}

void emit(Record &rec, ApiId id, const void *const *argv) {
  annotate(rec, id, argv);
  writeRecord(rec);
}

std::string handleId(const char *kind, const void *handle) {
  static std::mutex mutex;
  static auto *ids = new std::unordered_map<const void *, unsigned>;
  static auto *counters = new std::map<std::string, unsigned>;
  std::lock_guard lock(mutex);
  auto it = ids->find(handle);
  if (it == ids->end())
    it = ids->emplace(handle, ++(*counters)[kind]).first;
  return fmt::format("{}#{}", kind, it->second);
}

Options optionsFromEnvironment() {
  Options o;
  auto env = [](const char *n) -> std::string {
    const char *v = std::getenv(n);
    return v ? v : "";
  };
  std::string format = env("CUVIRT_TRACE_FORMAT");
  o.format = format == "jsonl"    ? Options::Format::JsonLines
             : format == "chrome" ? Options::Format::Chrome
                                  : Options::Format::Text;
  o.output = env("CUVIRT_TRACE_OUTPUT");
  o.only = env("CUVIRT_TRACE_ONLY");
  o.exclude = env("CUVIRT_TRACE_EXCLUDE");
  std::string summary = env("CUVIRT_TRACE_SUMMARY");
  o.summaryOnly = summary == "only";
  o.summary = summary != "off";
  o.dumpImages = env("CUVIRT_TRACE_DUMP_IMAGES");
  o.native = env("CUVIRT_TRACE_NATIVE");
  return o;
}

std::string findNativeDriver() {
  for (const char *candidate :
       {"/usr/lib/x86_64-linux-gnu/libcuda.so.1", "/usr/lib64/libcuda.so.1", "/usr/lib/libcuda.so.1",
        "/usr/local/nvidia/lib64/libcuda.so.1", "/usr/lib/wsl/lib/libcuda.so.1"}) {
    if (access(candidate, R_OK) != 0 || sameFile(candidate, ownPath()))
      continue;
    return candidate;
  }
  return "";
}

bool install(const Options &options) {
  g_options = options;
  g_start = Clock::now();
  if (!g_options.output.empty()) {
    int fd = ::open(g_options.output.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
      std::fprintf(stderr, "cuvirt-trace: cannot write %s: %s\n", g_options.output.c_str(),
                   std::strerror(errno));
      return false;
    }
    sink().fd = fd;
  }
  // "prefer": NVIDIA's driver if there is one, else cuvirt's runtime.
  if (g_options.native == "prefer")
    g_options.native = findNativeDriver();
  if (!g_options.native.empty()) {
    std::string path = g_options.native == "auto" ? findNativeDriver() : g_options.native;
    g_options.native = path;
    if (path.empty() || sameFile(path, ownPath())) {
      std::fprintf(stderr, "cuvirt-trace: no NVIDIA driver to pass through to (%s)\n",
                   path.empty() ? "none found" : "that is cuvirt's own library");
      return false;
    }
    g_nativeDriver = realDlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (g_nativeDriver == nullptr) {
      std::fprintf(stderr, "cuvirt-trace: cannot load %s: %s\n", path.c_str(), dlerror());
      return false;
    }
  }
  for (unsigned i = 0; i < kApiCount; ++i) {
    AnyFn next = g_dispatch[i];
    if (g_nativeDriver != nullptr) {
      void *sym = dlsym(g_nativeDriver, kApiNames[i]);
      next = sym != nullptr ? reinterpret_cast<AnyFn>(sym) : reinterpret_cast<AnyFn>(&missingInDriver);
    }
    g_next[i] = next;
    g_traced[i] = (g_options.only.empty() || matchesAny(g_options.only, kApiNames[i])) &&
                  !matchesAny(g_options.exclude, kApiNames[i]);
  }
  for (unsigned j = 0; j < kTraceProcCount; ++j) {
    g_next[kApiCount + j] = g_next[static_cast<unsigned>(kProcTable[j].id)];
    g_procLabels[j] = fmt::format("{}@{}{}", kProcTable[j].name, kProcTable[j].version,
                                  kProcTable[j].perThread ? "+ptds" : "");
  }
  for (unsigned i = 0; i < kApiCount; ++i)
    g_dispatch[i] = g_traced[i] ? kTraceWrappers[i] : g_next[i];
  // Lookups and hidden tables always go through us: what they hand out
  // must lead back into the trace layer.
  g_dispatch[static_cast<unsigned>(ApiId::cuGetProcAddress_v2)] = reinterpret_cast<AnyFn>(&procAddressV2);
  g_dispatch[static_cast<unsigned>(ApiId::cuGetProcAddress)] = reinterpret_cast<AnyFn>(&procAddressV1);
  g_dispatch[static_cast<unsigned>(ApiId::cuGetExportTable)] = reinterpret_cast<AnyFn>(&exportTable);
  setSpanHook(&onSpan);
  // First, what the calls end in: cuvirt's runtime or NVIDIA's driver.
  const std::string terminal = g_nativeDriver != nullptr ? g_options.native : "cuvirt";
  if (!g_options.summaryOnly) {
    switch (g_options.format) {
    case Options::Format::Text:
      sink().write(fmt::format("# cuvirt-trace: calls end in {}\n", terminal));
      break;
    case Options::Format::JsonLines:
      sink().write(fmt::format("{{\"terminal\":\"{}\"}}\n", jsonEscape(terminal)));
      break;
    case Options::Format::Chrome:
      sink().write(
          fmt::format("[\n{{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":1,\"args\":{{\"name\":\"API calls "
                      "({})\"}}}},\n{{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":2,\"args\":{{\"name\":"
                      "\"streams\"}}}},\n",
                      jsonEscape(terminal)));
      break;
    }
  }
  g_installed = true;
  for (int sig : {SIGSEGV, SIGBUS, SIGABRT, SIGFPE, SIGILL, SIGTERM, SIGINT}) {
    struct sigaction sa{};
    sa.sa_handler = onFatalSignal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESETHAND;
    sigaction(sig, &sa, &g_previous[sig]);
  }
  return true;
}

namespace {
/// Tracing starts with the library when CUVIRT_TRACE is set.
__attribute__((constructor)) void autoInstall() {
  const char *on = std::getenv("CUVIRT_TRACE");
  if (on == nullptr || *on == '\0' || std::strcmp(on, "0") == 0)
    return;
  if (!install(optionsFromEnvironment()))
    std::fprintf(stderr, "cuvirt-trace: tracing is off\n");
}
/// The summary and the last buffered lines go out when the library is
/// finalised: after the program's own exit handlers (cudart's teardown calls
/// included), which atexit() would not see.
__attribute__((destructor)) void finishAtUnload() { finish(); }
} // namespace

} // namespace cuvirt::trace
