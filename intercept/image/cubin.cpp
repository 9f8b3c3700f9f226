// What a cubin ELF says about its kernels and variables, for images that
// carry no PTX: entries from the symbol table, parameter layouts and limits
// from the .nv.info attribute records, variables from .nv.global(.init) and
// the constant banks.
#include "intercept/image/image_internal.h"
#include <algorithm>
#include <gelf.h>
#include <libelf.h>
#include <map>
#include <memory>
#include <mutex>

namespace cuvirt::image {
namespace {

using detail::load;
using detail::slice;

// st_other bit nvcc sets on kernel entry points (STO_CUDA_ENTRY).
constexpr unsigned char kStoCudaEntry = 0x10;
// Symbol type of variables in relocatable (-rdc) cubins (STT_LOPROC).
constexpr unsigned char kSttCudaObject = 13;
// st_other bits giving the space of a variable in -rdc cubins; an undefined
// one is an extern defined by another module.
constexpr unsigned char kStoCudaGlobal = 0x20;
constexpr unsigned char kStoCudaConstant = 0x80;

// .nv.info record formats and the attributes we read. Every record has a
// 4-byte header (u8 format, u8 attribute, u16 value-or-size); format 0x04
// carries `size` more bytes.
constexpr std::uint8_t kFmtSized = 0x04;
constexpr std::uint8_t kAttrMaxThreads = 0x05;
constexpr std::uint8_t kAttrReqntid = 0x10;
constexpr std::uint8_t kAttrFrameSize = 0x11;
constexpr std::uint8_t kAttrKparamInfo = 0x17;
constexpr std::uint8_t kAttrRegcount = 0x2f;

struct Record {
  std::uint8_t format;
  std::uint8_t attr;
  std::uint16_t small; ///< the header's value (formats other than 0x04)
  std::span<const std::uint8_t> value;
};

Expected<std::vector<Record>> parseNvInfo(std::span<const std::uint8_t> s, const std::string &section) {
  std::vector<Record> out;
  std::uint64_t at = 0;
  while (at < s.size()) {
    auto format = load<std::uint8_t>(s, at);
    auto attr = load<std::uint8_t>(s, at + 1);
    auto word = load<std::uint16_t>(s, at + 2);
    if (!word)
      return error(CUDA_ERROR_INVALID_IMAGE, "cubin section {}: record at {} truncated", section, at);
    Record r{*format, *attr, *word, {}};
    at += 4;
    if (*format == kFmtSized) {
      auto v = slice(s, at, *word);
      if (!v)
        return error(CUDA_ERROR_INVALID_IMAGE, "cubin section {}: record at {} claims {} bytes, {} left",
                     section, at - 4, *word, s.size() - at);
      r.value = *v;
      at += *word;
    } else if (*format < 0x01 || *format > 0x03) {
      return error(CUDA_ERROR_INVALID_IMAGE, "cubin section {}: record at {} has unknown format {:#x}",
                   section, at - 4, *format);
    }
    out.push_back(r);
  }
  return out;
}

std::uint32_t u32At(std::span<const std::uint8_t> v, std::size_t i) {
  return load<std::uint32_t>(v, i * 4).value_or(0);
}

std::uint32_t lowBit(std::uint64_t v) { return v == 0 ? 0 : static_cast<std::uint32_t>(v & (~v + 1)); }

/// The cubin does not record a parameter's own alignment (KPARAM_INFO's
/// alignment field is the pointee's); infer the largest one the layout allows.
std::uint32_t inferAlign(std::uint32_t offset, std::uint32_t size) {
  std::uint32_t a = std::min<std::uint32_t>(std::max<std::uint32_t>(lowBit(size), 1), 16);
  if (offset != 0)
    a = std::min(a, lowBit(offset));
  return a;
}

struct Section {
  std::string name;
  GElf_Shdr hdr{};
  std::span<const std::uint8_t> bytes; ///< empty for NOBITS
};

struct ElfCloser {
  void operator()(Elf *e) const { elf_end(e); }
};

bool startsWith(const std::string &s, std::string_view p) {
  return s.size() >= p.size() && s.compare(0, p.size(), p) == 0;
}

/// ".nv.constantN" with N != 0: a module-scope constant bank (bank 0 holds
/// kernel parameters and comes per kernel as ".nv.constant0.<kernel>").
bool isConstantBank(const std::string &name) {
  constexpr std::string_view p = ".nv.constant";
  if (!startsWith(name, p) || name.size() == p.size())
    return false;
  for (std::size_t i = p.size(); i < name.size(); ++i)
    if (name[i] < '0' || name[i] > '9')
      return false;
  return name != ".nv.constant0";
}

} // namespace

Expected<ModuleInfo> cubinInfo(std::span<const std::uint8_t> elf) {
  auto machine = load<std::uint16_t>(elf, 18);
  if (elf.size() < 64 || std::memcmp(elf.data(), detail::kElfMagic, 4) != 0 || !machine)
    return error(CUDA_ERROR_INVALID_IMAGE, "cubin is not an ELF image ({} bytes)", elf.size());
  if (elf[4] != 2 || elf[5] != 1 || *machine != detail::kEmCuda)
    return error(CUDA_ERROR_INVALID_IMAGE, "ELF image is not a 64-bit little-endian CUDA cubin (machine {})",
                 *machine);

  CUVIRT_TRY(detail::checkElfExtent(elf, "cubin"));

  static std::once_flag once;
  std::call_once(once, [] { elf_version(EV_CURRENT); });
  // libelf wants a mutable buffer it may keep pointers into: give it a copy.
  std::vector<char> buf(elf.begin(), elf.end());
  std::unique_ptr<Elf, ElfCloser> e(elf_memory(buf.data(), buf.size()));
  if (!e || elf_kind(e.get()) != ELF_K_ELF)
    return error(CUDA_ERROR_INVALID_IMAGE, "cubin: libelf rejects the image ({})", elf_errmsg(-1));
  const std::span<const std::uint8_t> bytes(reinterpret_cast<const std::uint8_t *>(buf.data()), buf.size());

  std::size_t shnum = 0, shstrndx = 0;
  if (elf_getshdrnum(e.get(), &shnum) != 0 || elf_getshdrstrndx(e.get(), &shstrndx) != 0)
    return error(CUDA_ERROR_INVALID_IMAGE, "cubin: unreadable section table ({})", elf_errmsg(-1));
  if (shnum > bytes.size() / 64 + 1)
    return error(CUDA_ERROR_INVALID_IMAGE, "cubin: {} sections cannot fit in {} bytes", shnum, bytes.size());

  std::vector<Section> secs(shnum);
  std::map<std::string, std::size_t> byName;
  std::size_t symtab = 0;
  for (std::size_t i = 1; i < shnum; ++i) {
    Elf_Scn *scn = elf_getscn(e.get(), i);
    Section &s = secs[i];
    if (!scn || !gelf_getshdr(scn, &s.hdr))
      return error(CUDA_ERROR_INVALID_IMAGE, "cubin: section {} header unreadable ({})", i, elf_errmsg(-1));
    const char *name = elf_strptr(e.get(), shstrndx, s.hdr.sh_name);
    if (!name)
      return error(CUDA_ERROR_INVALID_IMAGE, "cubin: section {} has no valid name", i);
    s.name = name;
    if (s.hdr.sh_type != SHT_NOBITS && s.hdr.sh_type != SHT_NULL) {
      auto b = slice(bytes, s.hdr.sh_offset, s.hdr.sh_size);
      if (!b)
        return error(CUDA_ERROR_INVALID_IMAGE,
                     "cubin: section {} ({} bytes at {}) runs past the {} byte image", s.name, s.hdr.sh_size,
                     s.hdr.sh_offset, bytes.size());
      s.bytes = *b;
    }
    byName.emplace(s.name, i);
    if (s.hdr.sh_type == SHT_SYMTAB)
      symtab = i;
  }
  ModuleInfo info;
  if (symtab == 0)
    return info; // nothing named, nothing to report

  // Symbols, read by hand from the validated section bytes.
  const Section &st = secs[symtab];
  if (st.hdr.sh_entsize != sizeof(Elf64_Sym) || st.hdr.sh_link == 0 || st.hdr.sh_link >= shnum)
    return error(CUDA_ERROR_INVALID_IMAGE, "cubin: malformed symbol table (entsize {}, link {})",
                 st.hdr.sh_entsize, st.hdr.sh_link);
  const std::size_t nsyms = st.bytes.size() / sizeof(Elf64_Sym);
  std::vector<Elf64_Sym> syms(nsyms);
  std::vector<std::string> symNames(nsyms);
  for (std::size_t i = 0; i < nsyms; ++i) {
    std::memcpy(&syms[i], st.bytes.data() + i * sizeof(Elf64_Sym), sizeof(Elf64_Sym));
    const char *n = elf_strptr(e.get(), st.hdr.sh_link, syms[i].st_name);
    if (!n)
      return error(CUDA_ERROR_INVALID_IMAGE, "cubin: symbol {} has no valid name", i);
    symNames[i] = n;
  }
  auto sectionOf = [&](const Elf64_Sym &s) -> const Section * {
    if (s.st_shndx == SHN_UNDEF || s.st_shndx >= SHN_LORESERVE || s.st_shndx >= shnum)
      return nullptr;
    return &secs[s.st_shndx];
  };

  // Module-wide .nv.info: per-function register counts and frame sizes,
  // keyed by symbol index.
  std::map<std::uint32_t, std::uint32_t> regs, frames;
  if (auto it = byName.find(".nv.info"); it != byName.end()) {
    auto recs = parseNvInfo(secs[it->second].bytes, ".nv.info");
    if (!recs)
      return recs.status();
    for (const Record &r : *recs) {
      if (r.format != kFmtSized || r.value.size() < 8)
        continue;
      if (r.attr == kAttrRegcount)
        regs[u32At(r.value, 0)] = u32At(r.value, 1);
      else if (r.attr == kAttrFrameSize)
        frames[u32At(r.value, 0)] = u32At(r.value, 1);
    }
  }

  for (std::size_t i = 0; i < nsyms; ++i) {
    const Elf64_Sym &s = syms[i];
    if (GELF_ST_TYPE(s.st_info) != STT_FUNC || !sectionOf(s) || symNames[i].empty())
      continue;
    if (!(s.st_other & kStoCudaEntry)) {
      if (GELF_ST_BIND(s.st_info) == STB_GLOBAL || GELF_ST_BIND(s.st_info) == STB_WEAK)
        info.functions.push_back(symNames[i]);
      continue;
    }
    KernelInfo k;
    k.name = symNames[i];
    if (auto it = byName.find(".nv.info." + k.name); it != byName.end()) {
      auto recs = parseNvInfo(secs[it->second].bytes, secs[it->second].name);
      if (!recs)
        return recs.status();
      struct P {
        std::uint32_t ordinal, offset, size;
      };
      std::vector<P> ps;
      for (const Record &r : *recs) {
        if (r.attr == kAttrKparamInfo && r.format == kFmtSized) {
          // u32 index; u16 ordinal; u16 offset; u32 packed (size = packed >> 18).
          if (r.value.size() < 12)
            return error(CUDA_ERROR_INVALID_IMAGE, "cubin: {} has a {} byte KPARAM_INFO record", k.name,
                         r.value.size());
          std::uint32_t w1 = u32At(r.value, 1);
          ps.push_back({w1 & 0xffff, w1 >> 16, u32At(r.value, 2) >> 18});
        } else if (r.attr == kAttrMaxThreads && r.format == kFmtSized && r.value.size() >= 12) {
          std::uint64_t n = std::uint64_t{u32At(r.value, 0)} * u32At(r.value, 1) * u32At(r.value, 2);
          k.maxThreadsPerBlock = static_cast<std::uint32_t>(std::min<std::uint64_t>(n, UINT32_MAX));
        } else if (r.attr == kAttrReqntid && r.format == kFmtSized && r.value.size() >= 12) {
          for (int d = 0; d < 3; ++d)
            k.reqntid[d] = u32At(r.value, d);
        }
      }
      // Records come last parameter first; ordinals must be 0..n-1.
      std::sort(ps.begin(), ps.end(), [](const P &a, const P &b) { return a.ordinal < b.ordinal; });
      for (std::size_t j = 0; j < ps.size(); ++j) {
        if (ps[j].ordinal != j)
          return error(CUDA_ERROR_INVALID_IMAGE,
                       "cubin: {} parameter ordinals are not 0..{} (found {} at {})", k.name, ps.size() - 1,
                       ps[j].ordinal, j);
        k.params.push_back({ps[j].offset, ps[j].size, inferAlign(ps[j].offset, ps[j].size)});
      }
    }
    if (auto it = byName.find(".nv.shared." + k.name); it != byName.end())
      k.staticSharedBytes =
          static_cast<std::uint32_t>(std::min<std::uint64_t>(secs[it->second].hdr.sh_size, UINT32_MAX));
    if (auto it = frames.find(static_cast<std::uint32_t>(i)); it != frames.end())
      k.localBytes = it->second;
    if (auto it = regs.find(static_cast<std::uint32_t>(i)); it != regs.end())
      k.numRegs = it->second;
    else // the code section's sh_info carries the count in its top byte too
      k.numRegs = static_cast<std::uint32_t>(sectionOf(s)->hdr.sh_info >> 24);
    info.kernels.push_back(std::move(k));
  }

  // Variables: where each lives decides its space and where its bytes are.
  std::map<std::size_t, std::vector<std::size_t>> globalsBySection; // section -> indexes into info.globals
  std::vector<std::uint64_t> globalStart;
  for (std::size_t i = 0; i < nsyms; ++i) {
    const Elf64_Sym &s = syms[i];
    unsigned type = GELF_ST_TYPE(s.st_info);
    const Section *sec = sectionOf(s);
    if ((type != STT_OBJECT && type != kSttCudaObject) || symNames[i].empty())
      continue;
    GlobalInfo g;
    g.name = symNames[i];
    g.size = s.st_size;
    if (!sec) {
      const unsigned bind = GELF_ST_BIND(s.st_info);
      if (s.st_shndx != SHN_UNDEF || (bind != STB_GLOBAL && bind != STB_WEAK) ||
          !(s.st_other & (kStoCudaGlobal | kStoCudaConstant)))
        continue;
      g.space = (s.st_other & kStoCudaConstant) ? GlobalInfo::Space::Const : GlobalInfo::Space::Global;
      g.isExtern = true;
      globalStart.push_back(0);
      info.globals.push_back(std::move(g));
      continue;
    }
    bool hasData;
    if (sec->name == ".nv.global") {
      g.space = GlobalInfo::Space::Global;
      hasData = false;
    } else if (sec->name == ".nv.global.init") {
      g.space = GlobalInfo::Space::Global;
      hasData = true;
    } else if (isConstantBank(sec->name)) {
      g.space = GlobalInfo::Space::Const;
      hasData = sec->hdr.sh_type != SHT_NOBITS;
    } else {
      continue; // shared, parameter bank, ...
    }
    if (s.st_value > sec->hdr.sh_size || sec->hdr.sh_size - s.st_value < s.st_size)
      return error(CUDA_ERROR_INVALID_IMAGE,
                   "cubin: variable {} ({} bytes at {}) lies outside section {} ({} bytes)", g.name,
                   s.st_size, s.st_value, sec->name, sec->hdr.sh_size);
    if (hasData) {
      auto b = slice(sec->bytes, s.st_value, s.st_size);
      if (!b)
        return error(CUDA_ERROR_INVALID_IMAGE, "cubin: initial data of {} is out of range", g.name);
      g.init.assign(b->begin(), b->end());
    }
    std::uint32_t align =
        static_cast<std::uint32_t>(std::clamp<std::uint64_t>(sec->hdr.sh_addralign, 1, 256));
    if (lowBit(align) != align)
      align = 1;
    if (s.st_value != 0)
      align = std::min(align, lowBit(s.st_value));
    g.align = align;
    globalsBySection[s.st_shndx].push_back(info.globals.size());
    globalStart.push_back(s.st_value);
    info.globals.push_back(std::move(g));
  }

  // Pointers in initial data (`__device__ int *p = &x;`) come as relocations.
  for (std::size_t r = 1; r < shnum; ++r) {
    const Section &rs = secs[r];
    const bool rela = rs.hdr.sh_type == SHT_RELA;
    if (rs.hdr.sh_type != SHT_REL && !rela)
      continue;
    auto target = globalsBySection.find(rs.hdr.sh_info);
    if (target == globalsBySection.end())
      continue;
    const std::size_t entsize = rela ? sizeof(Elf64_Rela) : sizeof(Elf64_Rel);
    for (std::size_t off = 0; off + entsize <= rs.bytes.size(); off += entsize) {
      Elf64_Rela rel{};
      std::memcpy(&rel, rs.bytes.data() + off, entsize);
      const std::size_t symIdx = ELF64_R_SYM(rel.r_info);
      if (symIdx >= nsyms)
        return error(CUDA_ERROR_INVALID_IMAGE, "cubin: relocation in {} names symbol {} of {}", rs.name,
                     symIdx, nsyms);
      for (std::size_t gi : target->second) {
        GlobalInfo &g = info.globals[gi];
        const std::uint64_t start = globalStart[gi];
        if (rel.r_offset < start || rel.r_offset - start >= g.size)
          continue;
        Relocation out;
        out.offset = rel.r_offset - start;
        out.symbol = symNames[symIdx];
        if (GELF_ST_TYPE(syms[symIdx].st_info) == STT_SECTION && sectionOf(syms[symIdx]))
          out.symbol = sectionOf(syms[symIdx])->name;
        out.addend = rela ? rel.r_addend : 0;
        if (!rela) // REL: the addend is the 64-bit value in place
          if (auto v = load<std::int64_t>(std::span<const std::uint8_t>(g.init), out.offset))
            out.addend = *v;
        g.relocations.push_back(std::move(out));
        break;
      }
    }
  }
  return info;
}

} // namespace cuvirt::image
