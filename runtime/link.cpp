// The driver's JIT linker (cuLinkCreate/AddData/AddFile/Complete/Destroy):
// every input becomes PTX units (runtime/link_ptx.cpp links them), and
// cuLinkComplete hands out the linked PTX, which cuModuleLoadData accepts.
#include "runtime/link.h"
#include "cuvirt_api.h"
#include "runtime/handles.h"
#include "runtime/log.h"
#include "runtime/runtime.h"
#include "translate/ptx/ptx.h"
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>

namespace cuvirt::link {
namespace {

/// Every PTX entry of the best architecture for `arch`.
std::vector<const image::Entry *> bestPtx(const image::Image &img, int arch) {
  int best = -1;
  for (const auto &e : img.entries) {
    if (e.kind != image::EntryKind::Ptx)
      continue;
    bool fits = e.arch <= arch, bestFits = best >= 0 && best <= arch;
    if (best < 0 || (fits && (!bestFits || e.arch > best)) || (!fits && !bestFits && e.arch < best))
      best = e.arch;
  }
  std::vector<const image::Entry *> out;
  for (const auto &e : img.entries)
    if (e.kind == image::EntryKind::Ptx && e.arch == best)
      out.push_back(&e);
  return out;
}

template <class T> std::optional<T> load(std::span<const std::uint8_t> b, std::uint64_t off) {
  if (off > b.size() || b.size() - off < sizeof(T))
    return std::nullopt;
  T v;
  std::memcpy(&v, b.data() + off, sizeof v);
  return v;
}

/// The device code sections of a host ELF object: .nv_fatbin (whole-program
/// compilation) and __nv_relfatbin (nvcc -rdc=true).
std::vector<std::span<const std::uint8_t>> fatbinSections(std::span<const std::uint8_t> elf) {
  std::vector<std::span<const std::uint8_t>> out;
  auto shoff = load<std::uint64_t>(elf, 40);
  auto shentsize = load<std::uint16_t>(elf, 58);
  auto shnum = load<std::uint16_t>(elf, 60);
  auto shstrndx = load<std::uint16_t>(elf, 62);
  if (!shoff || !shentsize || !shnum || !shstrndx || *shentsize < 64 || *shstrndx >= *shnum)
    return out;
  auto field = [&](std::uint64_t i, std::uint64_t at) {
    return load<std::uint64_t>(elf, *shoff + i * *shentsize + at);
  };
  auto strOff = field(*shstrndx, 24), strSize = field(*shstrndx, 32);
  if (!strOff || !strSize || *strOff > elf.size() || elf.size() - *strOff < *strSize)
    return out;
  auto names = elf.subspan(*strOff, *strSize);
  for (std::uint64_t i = 0; i < *shnum; ++i) {
    auto name = load<std::uint32_t>(elf, *shoff + i * *shentsize);
    auto type = load<std::uint32_t>(elf, *shoff + i * *shentsize + 4);
    auto off = field(i, 24), size = field(i, 32);
    if (!name || !type || !off || !size || *type == 8 /*SHT_NOBITS*/ || *name >= names.size() || *size == 0 ||
        *off > elf.size() || elf.size() - *off < *size)
      continue;
    const char *n = reinterpret_cast<const char *>(names.data() + *name);
    std::string_view sv(n, strnlen(n, names.size() - *name));
    if (sv == ".nv_fatbin" || sv == "__nv_relfatbin")
      out.push_back(elf.subspan(*off, *size));
  }
  return out;
}

bool isHostElf(std::span<const std::uint8_t> b) {
  auto machine = load<std::uint16_t>(b, 18);
  return b.size() >= 64 &&
         std::memcmp(b.data(),
                     "\x7f"
                     "ELF",
                     4) == 0 &&
         machine && *machine != 190;
}

/// A host object's PTX units; none (with a note in `log`) if it has no
/// device code the CPU device can use.
Expected<std::vector<PtxUnit>> objectUnits(std::span<const std::uint8_t> bytes, const std::string &name,
                                           int arch, bool lazy, std::string &log) {
  if (!isHostElf(bytes)) {
    log += fmt::format("error   : '{}' is not a host ELF object\n", name);
    return error(CUDA_ERROR_INVALID_IMAGE, "link input {} is not a host object", name);
  }
  std::vector<PtxUnit> out;
  bool anyCode = false;
  for (auto section : fatbinSections(bytes)) {
    auto img = image::parse(section);
    if (!img) {
      log += fmt::format("error   : '{}': {}\n", name, lastErrorMessage());
      return img.status();
    }
    anyCode = true;
    std::string sub;
    auto units = ptxUnits(*img, arch, name, sub);
    if (!units) {
      if (lazy) { // an archive member nobody may need: a note, not an error
        log += fmt::format("info    : {}", sub);
        continue;
      }
      log += sub;
      return units.status();
    }
    for (auto &u : *units) {
      u.lazy = lazy;
      out.push_back(std::move(u));
    }
  }
  if (!anyCode && !lazy) {
    log += fmt::format("error   : '{}' holds no device code (.nv_fatbin or __nv_relfatbin section)\n", name);
    return error(CUDA_ERROR_INVALID_IMAGE, "link input {} holds no device code", name);
  }
  return out;
}

/// The members of a Unix `ar` archive that hold device code, as lazy units.
Expected<std::vector<PtxUnit>> archiveUnits(std::span<const std::uint8_t> bytes, const std::string &name,
                                            int arch, std::string &log) {
  constexpr std::string_view kMagic = "!<arch>\n";
  if (bytes.size() < kMagic.size() || std::memcmp(bytes.data(), kMagic.data(), kMagic.size()) != 0) {
    log += fmt::format("error   : '{}' is not an archive (no !<arch> header)\n", name);
    return error(CUDA_ERROR_INVALID_IMAGE, "link input {} is not an archive", name);
  }
  std::vector<PtxUnit> out;
  std::string_view longNames;
  for (std::size_t at = kMagic.size(); at + 60 <= bytes.size();) {
    std::string_view hdr(reinterpret_cast<const char *>(bytes.data() + at), 60);
    std::size_t size = std::strtoull(std::string(hdr.substr(48, 10)).c_str(), nullptr, 10);
    std::size_t data = at + 60;
    if (hdr.substr(58, 2) != "`\n" || size > bytes.size() - data) {
      log += fmt::format("error   : '{}': corrupt archive member header at byte {}\n", name, at);
      return error(CUDA_ERROR_INVALID_IMAGE, "link input {}: corrupt archive", name);
    }
    std::string_view member = hdr.substr(0, 16);
    member = member.substr(0, member.find_last_not_of(' ') + 1);
    auto body = bytes.subspan(data, size);
    at = data + size + (size & 1);
    if (member == "//") {
      longNames = {reinterpret_cast<const char *>(body.data()), body.size()};
      continue;
    }
    if (member == "/" || member == "/SYM64/")
      continue; // the host symbol index
    std::string memberName(member);
    if (member.size() > 1 && member[0] == '/') {
      std::size_t off = std::strtoull(std::string(member.substr(1)).c_str(), nullptr, 10);
      if (off < longNames.size())
        memberName = std::string(longNames.substr(off, longNames.find('\n', off) - off));
    }
    if (!memberName.empty() && memberName.back() == '/')
      memberName.pop_back();
    if (!isHostElf(body))
      continue;
    auto units = objectUnits(body, fmt::format("{}({})", name, memberName), arch, true, log);
    if (!units)
      return units.status();
    for (auto &u : *units)
      out.push_back(std::move(u));
  }
  return out;
}

struct LinkState {
  std::mutex mutex;
  int arch = 0;
  bool verbose = false;
  std::vector<PtxUnit> units;
  std::string output;
  std::string infoLog, errorLog;
  double millis = 0;
  // The caller's option arrays: output options are written back at
  // cuLinkComplete (CUDA requires them to outlive the link state).
  unsigned numOptions = 0;
  CUjit_option *options = nullptr;
  void **values = nullptr;
  char *infoBuffer = nullptr, *errorBuffer = nullptr;
  std::size_t infoSize = 0, errorSize = 0;
};

HandleSet<LinkState> g_links;

void fill(char *buffer, std::size_t size, const std::string &text, unsigned n, CUjit_option *options,
          void **values, CUjit_option sizeOpt) {
  if (buffer == nullptr || size == 0)
    return;
  std::size_t count = std::min(text.size(), size - 1);
  std::memcpy(buffer, text.data(), count);
  buffer[count] = '\0';
  for (unsigned i = 0; i < n; ++i)
    if (options[i] == sizeOpt)
      values[i] = reinterpret_cast<void *>(static_cast<std::uintptr_t>(count));
}

/// Writes the logs and the wall time into the caller's option values.
void report(LinkState &s) {
  fill(s.infoBuffer, s.infoSize, s.infoLog, s.numOptions, s.options, s.values,
       CU_JIT_INFO_LOG_BUFFER_SIZE_BYTES);
  fill(s.errorBuffer, s.errorSize, s.errorLog, s.numOptions, s.options, s.values,
       CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES);
  for (unsigned i = 0; i < s.numOptions; ++i)
    if (s.options[i] == CU_JIT_WALL_TIME) {
      float ms = static_cast<float>(s.millis);
      s.values[i] = nullptr;
      std::memcpy(&s.values[i], &ms, sizeof ms);
    }
}

Status checkOptions(unsigned n, CUjit_option *options, void **values) {
  if (n != 0 && (options == nullptr || values == nullptr))
    return error(CUDA_ERROR_INVALID_VALUE, "{} JIT options but no option or value array", n);
  for (unsigned i = 0; i < n; ++i)
    if (static_cast<unsigned>(options[i]) >= CU_JIT_NUM_OPTIONS)
      return error(CUDA_ERROR_INVALID_VALUE, "unknown JIT option {}", static_cast<int>(options[i]));
  return {};
}

const char *inputName(CUjitInputType type) {
  switch (type) {
  case CU_JIT_INPUT_CUBIN:
    return "cubin";
  case CU_JIT_INPUT_PTX:
    return "ptx";
  case CU_JIT_INPUT_FATBINARY:
    return "fatbin";
  case CU_JIT_INPUT_OBJECT:
    return "object";
  case CU_JIT_INPUT_LIBRARY:
    return "library";
  default:
    return "input";
  }
}

Expected<std::vector<PtxUnit>> unitsOf(LinkState &s, CUjitInputType type, std::span<const std::uint8_t> bytes,
                                       const std::string &name) {
  switch (type) {
  case CU_JIT_INPUT_PTX: {
    const void *nul = std::memchr(bytes.data(), 0, bytes.size());
    std::size_t n = nul != nullptr ? static_cast<const std::uint8_t *>(nul) - bytes.data() : bytes.size();
    PtxUnit u{name, std::string(reinterpret_cast<const char *>(bytes.data()), n), false};
    return std::vector<PtxUnit>{std::move(u)};
  }
  case CU_JIT_INPUT_CUBIN:
  case CU_JIT_INPUT_FATBINARY: {
    auto img = image::parse(bytes);
    if (!img) {
      s.errorLog += fmt::format("error   : '{}': {}\n", name, lastErrorMessage());
      return img.status();
    }
    return ptxUnits(*img, s.arch, name, s.errorLog);
  }
  case CU_JIT_INPUT_OBJECT:
    return objectUnits(bytes, name, s.arch, false, s.errorLog);
  case CU_JIT_INPUT_LIBRARY:
    return archiveUnits(bytes, name, s.arch, s.infoLog);
  case CU_JIT_INPUT_NVVM:
    s.errorLog += fmt::format("error   : '{}': NVVM IR (LTO) input needs nvJitLink's optimiser; cuvirt links "
                              "PTX (compile to PTX instead)\n",
                              name);
    return error(CUDA_ERROR_NOT_SUPPORTED, "link input {}: NVVM IR is not supported", name);
  default:
    return error(CUDA_ERROR_INVALID_VALUE, "unknown JIT input type {}", static_cast<int>(type));
  }
}

Expected<LinkState *> checkState(CUlinkState state) {
  LinkState *s = g_links.find(state);
  if (s == nullptr)
    return error(CUDA_ERROR_INVALID_HANDLE, "invalid link state {}", static_cast<void *>(state));
  return s;
}

Status addInput(CUlinkState state, CUjitInputType type, std::span<const std::uint8_t> bytes,
                const std::string &name, unsigned n, CUjit_option *options, void **values) {
  auto s = checkState(state);
  if (!s)
    return s.status();
  CUVIRT_TRY(checkOptions(n, options, values));
  std::lock_guard lock((*s)->mutex);
  auto start = std::chrono::steady_clock::now();
  auto units = unitsOf(**s, type, bytes, name);
  (*s)->millis += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  // Each module is checked now, as the driver's ptxas run in cuLinkAddData
  // would; cross-module references are resolved at cuLinkComplete.
  for (std::size_t i = 0; units && i < units->size(); ++i) {
    if ((*units)[i].lazy)
      continue; // an archive member: checked if the link needs it
    std::string checkLog;
    if (auto info = ptx::moduleInfo((*units)[i].ptx, checkLog); !info) {
      for (std::size_t at = 0; at < checkLog.size();) {
        auto nl = std::min(checkLog.find('\n', at), checkLog.size());
        (*s)->errorLog += fmt::format("error   : {}, {}\n", (*units)[i].name, checkLog.substr(at, nl - at));
        at = nl + 1;
      }
      units = info.status();
    }
  }
  if (!units) {
    report(**s);
    return units.status();
  }
  if ((*s)->verbose)
    (*s)->infoLog +=
        fmt::format("info    : added {} '{}': {} PTX module(s)\n", inputName(type), name, units->size());
  for (auto &u : *units)
    (*s)->units.push_back(std::move(u));
  return {};
}

Expected<std::vector<std::uint8_t>> readFile(const char *path) {
  std::unique_ptr<std::FILE, decltype(&std::fclose)> f(std::fopen(path, "rb"), std::fclose);
  if (!f)
    return error(CUDA_ERROR_FILE_NOT_FOUND, "cannot open link input '{}': {}", path, std::strerror(errno));
  std::vector<std::uint8_t> bytes;
  std::uint8_t buf[1 << 16];
  for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, f.get())) > 0;)
    bytes.insert(bytes.end(), buf, buf + n);
  if (std::ferror(f.get()))
    return error(CUDA_ERROR_FILE_NOT_FOUND, "cannot read link input '{}'", path);
  return bytes;
}

} // namespace

Expected<std::vector<PtxUnit>> ptxUnits(const image::Image &img, int arch, const std::string &name,
                                        std::string &log) {
  auto entries = bestPtx(img, arch);
  if (entries.empty()) {
    int sass = 0;
    for (const auto &e : img.entries)
      if (e.kind == image::EntryKind::Cubin)
        sass = e.arch;
    log +=
        fmt::format("error   : '{}' holds machine code (sm_{}) but no PTX; the CPU device links and runs PTX "
                    "only (build it with PTX, e.g. -gencode arch=compute_{},code=compute_{})\n",
                    name, sass, sass, sass);
    return error(CUDA_ERROR_NO_BINARY_FOR_GPU, "link input {} holds no PTX", name);
  }
  std::vector<PtxUnit> out;
  for (std::size_t i = 0; i < entries.size(); ++i)
    out.push_back({entries.size() == 1 ? name : fmt::format("{}#{}", name, i), entries[i]->data, false});
  return out;
}

Expected<std::string> linkPrelinked(const std::vector<image::Image> &objects, int arch, std::string &log) {
  std::vector<PtxUnit> units;
  for (std::size_t i = 0; i < objects.size(); ++i) {
    auto u = ptxUnits(objects[i], arch, fmt::format("object {}", i), log);
    if (!u)
      return u.status();
    for (auto &x : *u)
      units.push_back(std::move(x));
  }
  return linkPtx(units, log);
}

namespace {

Status create(unsigned n, CUjit_option *options, void **values, CUlinkState *out) {
  if (out == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  auto c = requireContext();
  if (!c)
    return c.status();
  CUVIRT_TRY(checkOptions(n, options, values));
  auto s = std::make_unique<LinkState>();
  const auto &a = (*c)->device->props().attributes;
  s->arch =
      a[CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR] * 10 + a[CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR];
  s->numOptions = n;
  s->options = options;
  s->values = values;
  for (unsigned i = 0; i < n; ++i) {
    auto value = reinterpret_cast<std::uintptr_t>(values[i]);
    switch (options[i]) {
    case CU_JIT_INFO_LOG_BUFFER:
      s->infoBuffer = static_cast<char *>(values[i]);
      break;
    case CU_JIT_INFO_LOG_BUFFER_SIZE_BYTES:
      s->infoSize = value;
      break;
    case CU_JIT_ERROR_LOG_BUFFER:
      s->errorBuffer = static_cast<char *>(values[i]);
      break;
    case CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES:
      s->errorSize = value;
      break;
    case CU_JIT_LOG_VERBOSE:
      s->verbose = value != 0;
      break;
    case CU_JIT_TARGET:
      // CU_TARGET_COMPUTE_NN is NN (+ 0x10000 / 0x20000 for the a/f variants)
      s->arch = static_cast<int>(value & 0xffff);
      break;
    default:
      break; // optimisation level, cache mode, wall time (an output) ...: accepted
    }
  }
  if (s->infoBuffer != nullptr && s->infoSize != 0)
    s->infoBuffer[0] = '\0';
  if (s->errorBuffer != nullptr && s->errorSize != 0)
    s->errorBuffer[0] = '\0';
  *out = reinterpret_cast<CUlinkState>(s.get());
  g_links.add(s.release());
  return {};
}

} // namespace
} // namespace cuvirt::link

namespace cuvirt::api {

CUresult cuLinkCreate_v2(unsigned int numOptions, CUjit_option *options, void **optionValues,
                         CUlinkState *stateOut) {
  return link::create(numOptions, options, optionValues, stateOut);
}

CUresult cuLinkCreate(unsigned int numOptions, CUjit_option *options, void **optionValues,
                      CUlinkState *stateOut) {
  return link::create(numOptions, options, optionValues, stateOut);
}

CUresult cuLinkAddData_v2(CUlinkState state, CUjitInputType type, void *data, size_t size, const char *name,
                          unsigned int numOptions, CUjit_option *options, void **optionValues) {
  if (data == nullptr || size == 0)
    return CUDA_ERROR_INVALID_VALUE;
  std::string label =
      name != nullptr && *name != '\0' ? name : fmt::format("<{} input>", link::inputName(type));
  return link::addInput(state, type, {static_cast<const std::uint8_t *>(data), size}, label, numOptions,
                        options, optionValues);
}

CUresult cuLinkAddData(CUlinkState state, CUjitInputType type, void *data, size_t size, const char *name,
                       unsigned int numOptions, CUjit_option *options, void **optionValues) {
  return api::cuLinkAddData_v2(state, type, data, size, name, numOptions, options, optionValues);
}

CUresult cuLinkAddFile_v2(CUlinkState state, CUjitInputType type, const char *path, unsigned int numOptions,
                          CUjit_option *options, void **optionValues) {
  if (path == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  if (auto s = link::checkState(state); !s)
    return s.status();
  auto bytes = link::readFile(path);
  if (!bytes)
    return bytes.status();
  if (bytes->empty())
    return error(CUDA_ERROR_INVALID_IMAGE, "link input '{}' is empty", path);
  return link::addInput(state, type, *bytes, path, numOptions, options, optionValues);
}

CUresult cuLinkAddFile(CUlinkState state, CUjitInputType type, const char *path, unsigned int numOptions,
                       CUjit_option *options, void **optionValues) {
  return api::cuLinkAddFile_v2(state, type, path, numOptions, options, optionValues);
}

CUresult cuLinkComplete(CUlinkState state, void **cubinOut, size_t *sizeOut) {
  if (cubinOut == nullptr || sizeOut == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  auto s = link::checkState(state);
  if (!s)
    return s.status();
  link::LinkState &ls = **s;
  std::lock_guard lock(ls.mutex);
  auto start = std::chrono::steady_clock::now();
  std::string log;
  auto linked = link::linkPtx(ls.units, log);
  ls.millis += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  if (!linked) {
    ls.errorLog += log;
    link::report(ls);
    return linked.status();
  }
  ls.output = linked.take();
  ls.infoLog += log;
  ls.infoLog += fmt::format("info    : {} bytes of PTX in {:.3f} ms\n", ls.output.size(), ls.millis);
  link::report(ls);
  // PTX text with its NUL: what cuModuleLoadData(Ex) and cuLibraryLoadData take.
  *cubinOut = ls.output.data();
  *sizeOut = ls.output.size() + 1;
  return CUDA_SUCCESS;
}

CUresult cuLinkDestroy(CUlinkState state) {
  auto s = link::checkState(state);
  if (!s)
    return s.status();
  link::g_links.remove(*s);
  {
    std::lock_guard lock((*s)->mutex);
  } // a racing call on it has finished
  delete *s;
  return CUDA_SUCCESS;
}

} // namespace cuvirt::api
