// Device-side printf, malloc and free for CPU kernels.
#include "translate/cpu/jit/kernel_output.h"
#include "translate/cpu/kernel_abi.h"
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

// Reads the next argument of `size` bytes from CUDA's vprintf buffer, where
// each argument sits at its natural alignment.
struct ArgReader {
  const unsigned char *base;
  std::size_t off = 0;
  template <class T> T next() {
    T v{};
    if (!base)
      return v;
    off = (off + sizeof(T) - 1) / sizeof(T) * sizeof(T);
    std::memcpy(&v, base + off, sizeof(T));
    off += sizeof(T);
    return v;
  }
};

void appendf(std::string &out, const char *spec, auto value) {
  char small[128];
  int n = std::snprintf(small, sizeof small, spec, value);
  if (n < 0)
    return;
  if (std::size_t(n) < sizeof small) {
    out.append(small, std::size_t(n));
    return;
  }
  std::string big(std::size_t(n) + 1, '\0');
  std::snprintf(big.data(), big.size(), spec, value);
  out.append(big.data(), std::size_t(n));
}

thread_local cuvirt::OutputSink *t_output = nullptr;

} // namespace

namespace cuvirt::cpu {

KernelOutputScope::KernelOutputScope(OutputSink *sink) : outer_(t_output) { t_output = sink; }
KernelOutputScope::~KernelOutputScope() { t_output = outer_; }

void writeKernelOutput(int fd, std::string_view text) {
  if (t_output != nullptr) {
    t_output->write(fd, text);
    return;
  }
  std::FILE *f = fd == 2 ? stderr : stdout;
  std::fwrite(text.data(), 1, text.size(), f);
  if (fd == 2)
    std::fflush(f);
}

} // namespace cuvirt::cpu

extern "C" __attribute__((visibility("default"))) int cuvirt_cpu_vprintf(const char *format,
                                                                         const void *args) {
  if (!format)
    return -1;
  ArgReader in{static_cast<const unsigned char *>(args)};
  std::string out;
  int count = 0;
  for (const char *p = format; *p;) {
    if (*p != '%') {
      out.push_back(*p++);
      continue;
    }
    if (p[1] == '%') {
      out.push_back('%');
      p += 2;
      continue;
    }
    // %[flags][width][.precision][length]conversion
    std::string spec = "%";
    const char *q = p + 1;
    while (*q && std::strchr("-+ #0'", *q))
      spec.push_back(*q++);
    auto number = [&] {
      if (*q == '*') {
        spec += std::to_string(in.next<std::int32_t>());
        ++count;
        ++q;
      } else {
        while (*q >= '0' && *q <= '9')
          spec.push_back(*q++);
      }
    };
    number();
    if (*q == '.') {
      spec.push_back(*q++);
      number();
    }
    int longs = 0;
    bool half = false;
    while (*q && std::strchr("hlLqjzt", *q)) {
      if (*q == 'h')
        half = true;
      else
        longs += (*q == 'l') ? 1 : 2;
      ++q;
    }
    char conv = *q;
    if (!conv) { // a dangling '%': print it as written
      out.append(p);
      break;
    }
    ++q;
    ++count;
    switch (conv) {
    case 'd':
    case 'i':
      if (longs)
        appendf(out, (spec + "lld").c_str(), static_cast<long long>(in.next<std::int64_t>()));
      else
        appendf(out, (spec + (half ? "hd" : "d")).c_str(), in.next<std::int32_t>());
      break;
    case 'u':
    case 'x':
    case 'X':
    case 'o':
      if (longs)
        appendf(out, (spec + "ll" + conv).c_str(), static_cast<unsigned long long>(in.next<std::uint64_t>()));
      else
        appendf(out, (spec + conv).c_str(), in.next<std::uint32_t>());
      break;
    case 'c':
      appendf(out, (spec + "c").c_str(), in.next<std::int32_t>());
      break;
    case 'f':
    case 'F':
    case 'e':
    case 'E':
    case 'g':
    case 'G':
    case 'a':
    case 'A':
      appendf(out, (spec + conv).c_str(), in.next<double>());
      break;
    case 's': {
      auto *s = reinterpret_cast<const char *>(in.next<std::uintptr_t>());
      appendf(out, (spec + "s").c_str(), s ? s : "(null)");
      break;
    }
    case 'p':
      appendf(out, (spec + "p").c_str(), reinterpret_cast<void *>(in.next<std::uintptr_t>()));
      break;
    case 'n':
      (void)in.next<std::uintptr_t>(); // never written through, as on the GPU
      break;
    default: // unknown conversion: print it as written
      out.append(p, std::size_t(q - p));
      --count;
      break;
    }
    p = q;
  }
  // One write per call, so lines of concurrent blocks do not interleave.
  cuvirt::cpu::writeKernelOutput(1, out);
  return count;
}

extern "C" __attribute__((visibility("default"))) void *cuvirt_cpu_malloc(std::uint64_t size) {
  // CUDA's device malloc returns 16-byte aligned memory; malloc(0) may be null.
  return std::aligned_alloc(16, std::size_t((size + 15) / 16 * 16));
}

extern "C" __attribute__((visibility("default"))) void cuvirt_cpu_free(void *ptr) { std::free(ptr); }
