// Per-kernel PTX slices (see ptx_slice.h).
#include "translate/cpu/jit/ptx_slice.h"
#include "translate/ptx/lexer.h"

namespace cuvirt::cpu::jit {

using ptx::Tok;
using ptx::Token;

PtxIndex::PtxIndex(std::string_view ptx) : text_(ptx) {
  // Top-level statements, as the PTX parser's module grammar (and the
  // linker, runtime/link_ptx.cpp) sees them. The tokens are dropped after.
  const std::vector<Token> t = ptx::lex(ptx);
  auto offset = [&](const Token &x) { return static_cast<std::size_t>(x.text.data() - ptx.data()); };
  for (std::size_t i = 0; t[i].kind != Tok::End;) {
    const std::size_t first = i;
    int fnAt = -1; // token index of .entry/.func at depth 0
    i = ptx::topLevelStatementEnd(t, first, &fnAt);
    Stmt s;
    s.begin = offset(t[first]);
    s.end = offset(t[i - 1]) + t[i - 1].text.size();
    s.line = t[first].loc.line;
    s.col = t[first].loc.col;
    if (fnAt >= 0) {
      // .entry NAME ... / .func [(returns)] NAME ...
      std::size_t k = std::size_t(fnAt) + 1;
      if (k < i && t[k].is('(')) {
        int depth = 0;
        for (; k < i; ++k) {
          if (t[k].is('('))
            ++depth;
          else if (t[k].is(')') && --depth == 0) {
            ++k;
            break;
          }
        }
      }
      if (k < i && t[k].kind == Tok::Ident) {
        auto [it, fresh] = nameIndex_.try_emplace(t[k].text, int(names_.size()));
        if (fresh) {
          names_.push_back(t[k].text);
          isEntry_.push_back(false);
          hasBody_.push_back(false);
        }
        s.function = it->second;
        if (t[std::size_t(fnAt)].isDir(".entry"))
          isEntry_[std::size_t(it->second)] = true;
        if (t[i - 1].is('}'))
          hasBody_[std::size_t(it->second)] = true;
      }
    }
    stmts_.push_back(std::move(s));
  }
}

const std::vector<int> &PtxIndex::refsOf(Stmt &s) {
  if (s.refsKnown)
    return s.refs;
  s.refsKnown = true;
  for (const Token &x : ptx::lex(text_.substr(s.begin, s.end - s.begin))) {
    if (x.kind != Tok::Ident)
      continue;
    auto it = nameIndex_.find(x.text);
    if (it != nameIndex_.end() && it->second != s.function)
      s.refs.push_back(it->second);
  }
  return s.refs;
}

std::string PtxIndex::slice(std::string_view kernel) {
  auto root = nameIndex_.find(kernel);
  if (root == nameIndex_.end() || !isEntry_[std::size_t(root->second)])
    return {};
  return sliceFrom({root->second});
}

bool PtxIndex::isDeviceFunction(std::string_view name) const {
  auto it = nameIndex_.find(name);
  return it != nameIndex_.end() && !isEntry_[std::size_t(it->second)] && hasBody_[std::size_t(it->second)];
}

std::string PtxIndex::sliceFunctions(const std::vector<std::string> &roots) {
  std::vector<int> work;
  for (const std::string &r : roots) {
    if (!isDeviceFunction(r))
      return {};
    work.push_back(nameIndex_.at(r));
  }
  return sliceFrom(std::move(work));
}

std::string PtxIndex::sliceFrom(std::vector<int> work) {
  // Functions reached from the roots and from module-scope statements (a
  // variable may hold a function's address), transitively.
  std::vector<bool> reached(names_.size(), false);
  for (Stmt &s : stmts_)
    if (s.function < 0)
      for (int r : refsOf(s))
        work.push_back(r);
  std::vector<std::vector<std::size_t>> stmtsOf(names_.size());
  for (std::size_t i = 0; i < stmts_.size(); ++i)
    if (stmts_[i].function >= 0)
      stmtsOf[std::size_t(stmts_[i].function)].push_back(i);
  while (!work.empty()) {
    int f = work.back();
    work.pop_back();
    if (reached[std::size_t(f)])
      continue;
    reached[std::size_t(f)] = true;
    for (std::size_t si : stmtsOf[std::size_t(f)])
      for (int r : refsOf(stmts_[si]))
        if (!reached[std::size_t(r)])
          work.push_back(r);
  }
  // Kept statements at their original line and column: the gaps become
  // newlines, so the parser's "line:column" messages match the module.
  std::string out;
  std::uint32_t line = 1;
  for (const Stmt &s : stmts_) {
    if (s.function >= 0 && !reached[std::size_t(s.function)])
      continue;
    if (s.line > line) {
      out.append(s.line - line, '\n');
      out.append(s.col - 1, ' ');
      line = s.line;
    } else {
      out += ' ';
    }
    std::string_view body = text_.substr(s.begin, s.end - s.begin);
    out.append(body);
    for (char c : body)
      line += c == '\n';
  }
  out += '\n';
  return out;
}

} // namespace cuvirt::cpu::jit
