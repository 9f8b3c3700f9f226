// Per-kernel PTX: the text of one kernel with only what it needs (the module
// header, every module-scope variable and declaration, the functions it
// reaches), so that lowering, blockify and LLVM see one kernel instead of a
// library's hundreds. Lines and columns stay those of the whole module, so a
// lowering error points at the original text.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace cuvirt::cpu::jit {

class PtxIndex {
public:
  /// Splits `ptx` (which must outlive the index) into top-level statements.
  explicit PtxIndex(std::string_view ptx);

  /// The slice for kernel `kernel`; "" when the module has no such entry.
  /// Not thread-safe (it fills the reference lists lazily).
  std::string slice(std::string_view kernel);

  /// The slice for the device functions `roots` (the targets of function
  /// addresses in module variables) and what they call, without kernels;
  /// "" when one of them is not a function defined here.
  std::string sliceFunctions(const std::vector<std::string> &roots);

  /// Whether `name` is a .func with a body in the module (not an .entry).
  [[nodiscard]] bool isDeviceFunction(std::string_view name) const;

  [[nodiscard]] std::size_t statements() const { return stmts_.size(); }

private:
  struct Stmt {
    std::size_t begin = 0, end = 0; ///< byte range in the text
    std::uint32_t line = 1, col = 1;
    int function = -1;      ///< index into names_ when it declares/defines a function
    bool refsKnown = false; ///< refs filled
    std::vector<int> refs;  ///< functions it names
  };
  const std::vector<int> &refsOf(Stmt &s);
  /// The module-scope statements and the functions reached from `work`.
  std::string sliceFrom(std::vector<int> work);

  std::string_view text_;
  std::vector<Stmt> stmts_;
  std::vector<std::string_view> names_;
  std::unordered_map<std::string_view, int> nameIndex_;
  std::vector<bool> isEntry_;
  std::vector<bool> hasBody_; ///< a definition, not only a declaration
};

} // namespace cuvirt::cpu::jit
