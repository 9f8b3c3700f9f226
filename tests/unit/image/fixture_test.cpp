// Images built by nvcc 13 at build time (see meson.build): every form, every
// compression mode, and cubinInfo against what the sources declare.
#include "runtime/status.h"
#include "test_util.h"
#include <algorithm>
#include <map>

using namespace cuvirt;
using namespace imgtest;

namespace {

const image::Entry *find(const image::Image &img, image::EntryKind kind, int arch) {
  for (const auto &e : img.entries)
    if (e.kind == kind && e.arch == arch)
      return &e;
  return nullptr;
}

const KernelInfo *kernel(const ModuleInfo &m, const std::string &name) {
  for (const auto &k : m.kernels)
    if (k.name == name)
      return &k;
  return nullptr;
}

const GlobalInfo *global(const ModuleInfo &m, const std::string &name) {
  for (const auto &g : m.globals)
    if (g.name == name)
      return &g;
  return nullptr;
}

template <class T> Bytes bytesOf(std::initializer_list<T> vals) {
  Bytes b;
  for (T v : vals)
    put<T>(b, b.size(), v);
  return b;
}

void checkKernelsPtx(const std::string &ptx, const std::string &target) {
  // The first line that is not blank or a // comment starts the header.
  std::string body = trimLeft(ptx);
  while (body.rfind("//", 0) == 0)
    body = trimLeft(body.substr(std::min(body.size(), body.find('\n'))));
  CHECK(body.rfind(".version 9.0\n.target " + target + "\n.address_size 64\n", 0) == 0);
  CHECK(ptx.find(".visible .entry saxpy(") != std::string::npos);
  CHECK(ptx.find(".visible .entry structArgs(") != std::string::npos);
  CHECK(ptx.find(".entry _Z12sharedReducePKfPf(") != std::string::npos);
  CHECK(ptx.find('\0') == std::string::npos);
  CHECK(ptx.back() != '\0');
}

using Params = std::vector<std::pair<std::uint32_t, std::uint32_t>>; // offset, size

Params params(const KernelInfo &k) {
  Params p;
  for (const auto &x : k.params)
    p.emplace_back(x.offset, x.size);
  return p;
}

/// The kernels.cu module, whichever arch it was built for.
void checkKernelsModule(const ModuleInfo &m) {
  std::vector<std::string> names;
  for (const auto &k : m.kernels)
    names.push_back(k.name);
  std::sort(names.begin(), names.end());
  CHECK(names == std::vector<std::string>{"_Z12sharedReducePKfPf", "_Z8noParamsv", "_Z9templatedIdEvPT_S0_",
                                          "saxpy", "structArgs"});

  const KernelInfo *saxpy = kernel(m, "saxpy");
  REQUIRE(saxpy);
  CHECK(params(*saxpy) == Params{{0, 4}, {4, 4}, {8, 8}, {16, 8}});
  CHECK(saxpy->paramBytes() == 24);
  CHECK(saxpy->staticSharedBytes == 0);
  CHECK(saxpy->numRegs > 0);

  // structArgs(char, Pair8 (align 8, 16 B), short, Quad16 (align 16, 32 B), int*)
  const KernelInfo *sa = kernel(m, "structArgs");
  REQUIRE(sa);
  CHECK(params(*sa) == Params{{0, 1}, {8, 16}, {24, 2}, {32, 32}, {64, 8}});
  REQUIRE(sa->params.size() == 5);
  CHECK(sa->params[0].align == 1);
  CHECK(sa->params[1].align == 8);
  CHECK(sa->params[2].align == 2);
  CHECK(sa->params[3].align == 16);
  CHECK(sa->params[4].align == 8);
  CHECK(sa->paramBytes() == 72);

  const KernelInfo *red = kernel(m, "_Z12sharedReducePKfPf");
  REQUIRE(red);
  CHECK(params(*red) == Params{{0, 8}, {8, 8}});
  CHECK(red->staticSharedBytes == 256 * 4);

  const KernelInfo *np = kernel(m, "_Z8noParamsv");
  REQUIRE(np);
  CHECK(np->params.empty());
  CHECK(np->maxThreadsPerBlock == 128);
  CHECK(saxpy->maxThreadsPerBlock == 0);

  const KernelInfo *tpl = kernel(m, "_Z9templatedIdEvPT_S0_");
  REQUIRE(tpl);
  CHECK(params(*tpl) == Params{{0, 8}, {8, 8}});

  CHECK(m.globals.size() == 5);
  const GlobalInfo *counter = global(m, "devCounter");
  REQUIRE(counter);
  CHECK(counter->space == GlobalInfo::Space::Global);
  CHECK(counter->size == 4);
  CHECK(counter->init == bytesOf<std::uint32_t>({0x12345678}));
  const GlobalInfo *table = global(m, "devTable");
  REQUIRE(table);
  CHECK(table->size == 16);
  CHECK(table->init == bytesOf<float>({1.0f, 2.0f, 3.0f, 4.0f}));
  CHECK(table->align == 4);
  const GlobalInfo *zero = global(m, "devZero");
  REQUIRE(zero);
  CHECK(zero->space == GlobalInfo::Space::Global);
  CHECK(zero->size == 32);
  CHECK(zero->init.empty());
  const GlobalInfo *coeffs = global(m, "constCoeffs");
  REQUIRE(coeffs);
  CHECK(coeffs->space == GlobalInfo::Space::Const);
  CHECK(coeffs->init == bytesOf<std::int32_t>({7, 11, 13, 17}));
  const GlobalInfo *scale = global(m, "constScale");
  REQUIRE(scale);
  CHECK(scale->space == GlobalInfo::Space::Const);
  CHECK(scale->size == 4);
  CHECK(std::all_of(scale->init.begin(), scale->init.end(), [](std::uint8_t b) { return b == 0; }));
  for (const auto &g : m.globals) {
    CHECK(g.relocations.empty());
    CHECK_FALSE(g.isExtern);
  }
  CHECK(m.functions.empty());
}

} // namespace

TEST_CASE("fixture: bare cubin parses as one sm_75 entry") {
  if (!haveFixtures())
    return;
  Bytes cubin = fixture("kernels_sm75.cubin");
  auto img = image::parse(cubin);
  REQUIRE(img.ok());
  REQUIRE(img->entries.size() == 1);
  CHECK(img->entries[0].kind == image::EntryKind::Cubin);
  CHECK(img->entries[0].arch == 75);
  CHECK(img->entries[0].data == str(cubin));
  auto fromMem = image::parseFromMemory(cubin.data());
  REQUIRE(fromMem.ok());
  CHECK(fromMem->entries[0].data == str(cubin)); // size derived from the headers
  auto fromFile = image::parseFile(fixturePath("kernels_sm75.cubin"));
  REQUIRE(fromFile.ok());
  CHECK(fromFile->entries[0].data == str(cubin));
}

TEST_CASE("fixture: PTX file parses, in memory and from the file") {
  if (!haveFixtures())
    return;
  Bytes ptx = fixture("kernels_compute75.ptx");
  auto img = image::parse(ptx);
  REQUIRE(img.ok());
  REQUIRE(img->entries.size() == 1);
  CHECK(img->entries[0].kind == image::EntryKind::Ptx);
  CHECK(img->entries[0].arch == 75);
  CHECK(img->entries[0].data.rfind("//\n// Generated by NVIDIA NVVM Compiler", 0) == 0);
  checkKernelsPtx(img->entries[0].data, "sm_75");
  Bytes terminated = ptx;
  terminated.push_back(0);
  auto fromMem = image::parseFromMemory(terminated.data());
  REQUIRE(fromMem.ok());
  CHECK(fromMem->entries[0].data == img->entries[0].data);
  auto fromFile = image::parseFile(fixturePath("kernels_compute75.ptx"));
  REQUIRE(fromFile.ok());
  CHECK(fromFile->entries[0].data == img->entries[0].data);
}

TEST_CASE("fixture: default fatbin holds an sm_75 cubin and zstd-compressed compute_75 PTX") {
  if (!haveFixtures())
    return;
  auto img = image::parseFile(fixturePath("kernels_default.fatbin"));
  REQUIRE(img.ok());
  REQUIRE(img->entries.size() == 2);
  CHECK(img->entries[0].kind == image::EntryKind::Cubin);
  CHECK(img->entries[1].kind == image::EntryKind::Ptx);
  CHECK(img->entries[0].arch == 75);
  CHECK(img->entries[1].arch == 75);
  CHECK((img->entries[1].flags & 0x8000) != 0);
  CHECK(img->entries[0].data == str(fixture("kernels_sm75.cubin")));
  checkKernelsPtx(img->entries[1].data, "sm_75");
}

TEST_CASE("fixture: every compression mode gives the same PTX and cubin") {
  if (!haveFixtures())
    return;
  auto none = image::parseFile(fixturePath("kernels_none.fatbin"));
  REQUIRE(none.ok());
  const image::Entry *ptx = find(*none, image::EntryKind::Ptx, 75);
  const image::Entry *cubin = find(*none, image::EntryKind::Cubin, 75);
  REQUIRE(ptx);
  REQUIRE(cubin);
  CHECK((ptx->flags & 0xa000) == 0);
  checkKernelsPtx(ptx->data, "sm_75");
  // flag each mode sets on the PTX entry, and on the cubin entry
  for (auto [file, ptxFlag, cubinFlag] :
       {std::tuple{"kernels_default.fatbin", 0x8000, 0}, std::tuple{"kernels_speed.fatbin", 0x2000, 0},
        std::tuple{"kernels_all.fatbin", 0x8000, 0x8000}}) {
    CAPTURE(file);
    auto img = image::parseFile(fixturePath(file));
#if !CUVIRT_HAVE_LZ4
    if (ptxFlag == 0x2000) {
      CHECK(img.status().code() == CUDA_ERROR_NOT_SUPPORTED);
      continue;
    }
#endif
    REQUIRE(img.ok());
    const image::Entry *p = find(*img, image::EntryKind::Ptx, 75);
    const image::Entry *c = find(*img, image::EntryKind::Cubin, 75);
    REQUIRE(p);
    REQUIRE(c);
    CHECK((p->flags & 0xa000) == static_cast<std::uint64_t>(ptxFlag));
    CHECK((c->flags & 0xa000) == static_cast<std::uint64_t>(cubinFlag));
    CHECK(p->data == ptx->data);
    CHECK(c->data == cubin->data);
  }
}

TEST_CASE("fixture: -gencode compute_80 + sm_80 gives PTX and a cubin for 80") {
  if (!haveFixtures())
    return;
  auto img = image::parseFile(fixturePath("kernels_80.fatbin"));
  REQUIRE(img.ok());
  REQUIRE(img->entries.size() == 2);
  const image::Entry *ptx = find(*img, image::EntryKind::Ptx, 80);
  const image::Entry *cubin = find(*img, image::EntryKind::Cubin, 80);
  REQUIRE(ptx);
  REQUIRE(cubin);
  checkKernelsPtx(ptx->data, "sm_80");
  auto info = image::cubinInfo(
      std::span(reinterpret_cast<const std::uint8_t *>(cubin->data.data()), cubin->data.size()));
  REQUIRE(info.ok());
  checkKernelsModule(*info);
}

TEST_CASE("fixture: executable .nv_fatbin holds two containers; the executable itself parses too") {
  if (!haveFixtures())
    return;
  Bytes section = fixture("fixture_main.nv_fatbin");
  auto img = image::parse(section);
  REQUIRE(img.ok());
  // link stub (cubin) + program (cubin + PTX)
  REQUIRE(img->entries.size() == 3);
  CHECK(img->entries[0].kind == image::EntryKind::Cubin);
  CHECK(img->entries[1].kind == image::EntryKind::Cubin);
  CHECK(img->entries[2].kind == image::EntryKind::Ptx);
  CHECK(img->entries[2].data.find(".entry _Z6addOnePi(") != std::string::npos);
  auto exe = image::parseFile(fixturePath("fixture_main"));
  REQUIRE(exe.ok());
  REQUIRE(exe->entries.size() == 3);
  CHECK(exe->entries[2].data == img->entries[2].data);
  // A wrapper, as cudart hands it over, pointing at the second container.
  std::uint64_t first = 16;
  std::memcpy(&first, section.data() + 8, 8);
  Wrapper w;
  w.data = section.data() + 16 + first;
  auto wrapped = image::parseFromMemory(&w);
  REQUIRE(wrapped.ok());
  REQUIRE(wrapped->entries.size() == 2);
  CHECK(wrapped->entries[1].data == img->entries[2].data);
}

TEST_CASE("fixture: cubinInfo of the sm_75 kernels cubin") {
  if (!haveFixtures())
    return;
  auto info = image::cubinInfo(fixture("kernels_sm75.cubin"));
  REQUIRE(info.ok());
  checkKernelsModule(*info);
}

TEST_CASE("fixture: cubinInfo: relocated pointer, launch bounds, local frame, double constants") {
  if (!haveFixtures())
    return;
  for (const char *file : {"extra_sm75.cubin", "extra_sm90.cubin"}) {
    CAPTURE(file);
    auto info = image::cubinInfo(fixture(file));
    REQUIRE(info.ok());
    const KernelInfo *b = kernel(*info, "_Z7boundedPii");
    REQUIRE(b);
    CHECK(params(*b) == Params{{0, 8}, {8, 4}});
    CHECK(b->maxThreadsPerBlock == 256);
    CHECK(b->localBytes == 256);
    CHECK(b->reqntid[0] == 0);
    const KernelInfo *u = kernel(*info, "_Z8useConstPd");
    REQUIRE(u);
    CHECK(u->localBytes == 0);
    const GlobalInfo *target = global(*info, "target");
    REQUIRE(target);
    CHECK(target->init == bytesOf<std::int32_t>({5}));
    const GlobalInfo *ptr = global(*info, "ptrToTarget");
    REQUIRE(ptr);
    CHECK(ptr->size == 8);
    CHECK(ptr->align == 8);
    REQUIRE(ptr->relocations.size() == 1);
    CHECK(ptr->relocations[0].offset == 0);
    CHECK(ptr->relocations[0].symbol == "target");
    CHECK(ptr->relocations[0].addend == 0);
    const GlobalInfo *cd = global(*info, "cd");
    REQUIRE(cd);
    CHECK(cd->space == GlobalInfo::Space::Const);
    CHECK(cd->init == bytesOf<double>({1.5, 2.5}));
    CHECK(cd->align == 8);
    CHECK(info->functions.empty()); // helper is internal without -rdc
  }
}

TEST_CASE("fixture: cubinInfo of a relocatable (-rdc) cubin: visible device functions and variables") {
  if (!haveFixtures())
    return;
  auto info = image::cubinInfo(fixture("extra_rdc.cubin"));
  REQUIRE(info.ok());
  CHECK(info->functions == std::vector<std::string>{"_Z6helperi"});
  CHECK(info->kernels.size() == 2);
  REQUIRE(global(*info, "target"));
  CHECK(global(*info, "target")->init == bytesOf<std::int32_t>({5}));
  REQUIRE(global(*info, "cd"));
  CHECK(global(*info, "cd")->space == GlobalInfo::Space::Const);
  REQUIRE(global(*info, "ptrToTarget"));
  REQUIRE(global(*info, "ptrToTarget")->relocations.size() == 1);
  CHECK(global(*info, "ptrToTarget")->relocations[0].symbol == "target");
}

TEST_CASE("fixture: cubinInfo reports extern variables of an -rdc cubin with their space") {
  if (!haveFixtures())
    return;
  auto info = image::cubinInfo(fixture("externs_rdc.cubin"));
  REQUIRE(info.ok());
  REQUIRE(info->kernels.size() == 1);
  CHECK(info->kernels[0].name == "_Z6useExtPi");
  REQUIRE(info->globals.size() == 2);
  const GlobalInfo *g = global(*info, "extG");
  const GlobalInfo *c = global(*info, "extC");
  REQUIRE(g);
  REQUIRE(c);
  CHECK(g->isExtern);
  CHECK(c->isExtern);
  CHECK(g->space == GlobalInfo::Space::Global);
  CHECK(c->space == GlobalInfo::Space::Const);
  CHECK(g->size == 4);
  CHECK(c->size == 16);
  CHECK(g->init.empty());
}

TEST_CASE("fixture: cubinInfo walks .nv.info past 4-byte no-value (format 0x01) records") {
  if (!haveFixtures())
    return;
  Bytes cubin = fixture("cluster_sm90.cubin");
  // The record is there: 01 3e 00 00 (EXPLICIT_CLUSTER), then 04 3d 0c 00 (CTA_PER_CLUSTER 2,1,1).
  const std::uint8_t nval[] = {0x01, 0x3e, 0x00, 0x00, 0x04, 0x3d, 0x0c, 0x00, 0x02};
  CHECK(std::search(cubin.begin(), cubin.end(), std::begin(nval), std::end(nval)) != cubin.end());
  auto info = image::cubinInfo(cubin);
  REQUIRE(info.ok());
  REQUIRE(info->kernels.size() == 1);
  CHECK(info->kernels[0].name == "_Z9clusteredPii");
  CHECK(params(info->kernels[0]) == Params{{0, 8}, {8, 4}});
}

TEST_CASE("fixture: cubinInfo reads .reqntid from a ptxas-built cubin") {
  if (!haveFixtures())
    return;
  auto info = image::cubinInfo(fixture("reqntid_sm75.cubin"));
  REQUIRE(info.ok());
  REQUIRE(info->kernels.size() == 1);
  const KernelInfo &k = info->kernels[0];
  CHECK(k.name == "req");
  CHECK(k.reqntid[0] == 64);
  CHECK(k.reqntid[1] == 2);
  CHECK(k.reqntid[2] == 1);
  CHECK(params(k) == Params{{0, 8}});
  CHECK(info->globals.empty());
}

TEST_CASE("fixture: every prefix of a real fatbin is INVALID_IMAGE") {
  if (!haveFixtures())
    return;
  for (const char *file : {"kernels_default.fatbin", "fixture_main.nv_fatbin"}) {
    CAPTURE(file);
    Bytes fb = fixture(file);
    REQUIRE(image::parse(fb).ok());
    int wrong = 0;
    for (std::size_t n = 0; n < fb.size(); ++n) {
      auto img = image::parse(std::span<const std::uint8_t>(fb.data(), n));
      // Cutting exactly between the two containers of .nv_fatbin leaves a whole fatbin.
      bool boundary = img.ok() && n > 16;
      if (!isInvalidImage(img.status()) && !boundary)
        ++wrong;
    }
    CHECK(wrong == 0);
  }
}

TEST_CASE("fixture: flipped bytes in a real fatbin never crash") {
  if (!haveFixtures())
    return;
  Bytes fb = fixture("kernels_all.fatbin"); // both entries zstd-compressed: flips hit the decoder
  int failures = 0, runs = 0;
  for (std::size_t i = 0; i < fb.size(); i += (i < 256 ? 1 : 5)) {
    for (std::uint8_t mask : {0x01, 0xff}) {
      Bytes bad = fb;
      bad[i] ^= mask;
      auto img = image::parse(bad);
      ++runs;
      if (!img.ok()) {
        ++failures;
        CHECK_MESSAGE(isInvalidImage(img.status()), "byte " << i << ": " << lastErrorMessage());
      }
    }
  }
  CHECK(failures > runs / 4);
}

TEST_CASE("fixture: truncated and corrupted cubins give INVALID_IMAGE from cubinInfo, never a crash") {
  if (!haveFixtures())
    return;
  Bytes cubin = fixture("reqntid_sm75.cubin");
  REQUIRE(image::cubinInfo(cubin).ok());
  for (std::size_t n = 0; n < cubin.size(); n += 3) {
    auto info = image::cubinInfo(std::span<const std::uint8_t>(cubin.data(), n));
    // Section/segment tables end the file, so every cut loses part of one.
    CHECK_MESSAGE(isInvalidImage(info.status()), "prefix " << n);
  }
  int failures = 0;
  for (std::size_t i = 0; i < cubin.size(); ++i) {
    for (std::uint8_t mask : {0x01, 0xff}) {
      Bytes bad = cubin;
      bad[i] ^= mask;
      auto info = image::cubinInfo(bad);
      if (!info.ok()) {
        ++failures;
        CHECK_MESSAGE(isInvalidImage(info.status()), "byte " << i << ": " << lastErrorMessage());
      }
    }
  }
  CHECK(failures > 0);
  Bytes big = fixture("kernels_sm75.cubin");
  for (std::size_t i = 0; i < big.size(); i += 7) {
    Bytes bad = big;
    bad[i] ^= 0xff;
    auto info = image::cubinInfo(bad);
    if (!info.ok())
      CHECK(isInvalidImage(info.status()));
  }
}
