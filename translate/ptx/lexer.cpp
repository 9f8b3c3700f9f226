#include "translate/ptx/lexer.h"

namespace cuvirt::ptx {
namespace {
bool isNameStart(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == '$' || c == '%';
}
bool isNameChar(char c) { return isNameStart(c) || (c >= '0' && c <= '9'); }
bool isDigit(char c) { return c >= '0' && c <= '9'; }
bool isHex(char c) { return isDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
} // namespace

std::vector<Token> lex(std::string_view s) {
  std::vector<Token> out;
  std::uint32_t line = 1, col = 1;
  std::size_t i = 0;
  bool space = true;
  auto advance = [&](std::size_t n) {
    for (std::size_t k = 0; k < n && i < s.size(); ++k, ++i) {
      if (s[i] == '\n') {
        ++line;
        col = 1;
      } else {
        ++col;
      }
    }
  };
  while (i < s.size()) {
    char c = s[i];
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v') {
      advance(1);
      space = true;
      continue;
    }
    if (c == '/' && i + 1 < s.size() && s[i + 1] == '/') {
      while (i < s.size() && s[i] != '\n')
        advance(1);
      space = true;
      continue;
    }
    if (c == '/' && i + 1 < s.size() && s[i + 1] == '*') {
      advance(2);
      while (i < s.size() && !(s[i] == '*' && i + 1 < s.size() && s[i + 1] == '/'))
        advance(1);
      advance(2);
      space = true;
      continue;
    }
    Token t;
    t.loc = {line, col};
    t.spaceBefore = space;
    space = false;
    std::size_t start = i, n = 1;
    if (isNameStart(c)) {
      t.kind = Tok::Ident;
      while (start + n < s.size() && isNameChar(s[start + n]))
        ++n;
    } else if (c == '.' && i + 1 < s.size() && isNameChar(s[i + 1])) {
      t.kind = Tok::Dir;
      for (;;) {
        while (start + n < s.size() && isNameChar(s[start + n]))
          ++n;
        // PTX 7.8+ qualifiers: .shared::cta, .L2::cache_hint, .L1::evict_last
        if (start + n + 2 < s.size() && s[start + n] == ':' && s[start + n + 1] == ':' &&
            isNameChar(s[start + n + 2]))
          n += 2;
        else
          break;
      }
    } else if (isDigit(c)) {
      char c1 = i + 1 < s.size() ? s[i + 1] : '\0';
      if (c == '0' && (c1 == 'f' || c1 == 'F' || c1 == 'd' || c1 == 'D') && i + 2 < s.size() &&
          isHex(s[i + 2])) {
        t.kind = Tok::Float;
        n = 2;
        while (start + n < s.size() && isHex(s[start + n]))
          ++n;
      } else if (c == '0' && (c1 == 'x' || c1 == 'X')) {
        t.kind = Tok::Int;
        n = 2;
        while (start + n < s.size() && isHex(s[start + n]))
          ++n;
      } else {
        t.kind = Tok::Int;
        while (start + n < s.size() && isDigit(s[start + n]))
          ++n;
        // 1.5, 1e-3, 2.5e10: decimal floating-point literals
        bool isFloat = false;
        if (start + n + 1 < s.size() && s[start + n] == '.' && isDigit(s[start + n + 1])) {
          isFloat = true;
          ++n;
          while (start + n < s.size() && isDigit(s[start + n]))
            ++n;
        }
        if (start + n < s.size() && (s[start + n] == 'e' || s[start + n] == 'E')) {
          std::size_t m = n + 1;
          if (start + m < s.size() && (s[start + m] == '+' || s[start + m] == '-'))
            ++m;
          if (start + m < s.size() && isDigit(s[start + m])) {
            isFloat = true;
            n = m;
            while (start + n < s.size() && isDigit(s[start + n]))
              ++n;
          }
        }
        if (isFloat)
          t.kind = Tok::Float;
        else if (c == '0' && (c1 == 'b' || c1 == 'B')) {
          n = 2;
          while (start + n < s.size() && (s[start + n] == '0' || s[start + n] == '1'))
            ++n;
        }
      }
      if (t.kind == Tok::Int && start + n < s.size() && (s[start + n] == 'U' || s[start + n] == 'u'))
        ++n;
      // glued garbage such as 12abc stays one token so the parser rejects it
      while (start + n < s.size() && isNameChar(s[start + n])) {
        t.kind = Tok::Invalid;
        ++n;
      }
    } else if (c == '"') {
      t.kind = Tok::String;
      while (start + n < s.size() && s[start + n] != '"' && s[start + n] != '\n') {
        if (s[start + n] == '\\' && start + n + 1 < s.size())
          ++n;
        ++n;
      }
      if (start + n < s.size() && s[start + n] == '"')
        ++n;
      else
        t.kind = Tok::Invalid;
    } else {
      static constexpr std::string_view punct = ",;:[]{}()<>+-!|@=";
      t.kind = punct.find(c) != std::string_view::npos ? Tok::Punct : Tok::Invalid;
    }
    t.text = s.substr(start, n);
    advance(n);
    out.push_back(t);
  }
  Token end;
  end.loc = {line, col};
  out.push_back(end);
  return out;
}

std::size_t topLevelStatementEnd(const std::vector<Token> &t, std::size_t first, int *functionAt) {
  if (functionAt != nullptr)
    *functionAt = -1;
  std::size_t i = first;
  auto atEnd = [&] { return t[i].kind == Tok::End; };
  const Token &a = t[i];
  if (a.isDir(".version") || a.isDir(".address_size")) {
    ++i;
    if (!atEnd())
      ++i;
  } else if (a.isDir(".target")) {
    ++i;
    if (!atEnd())
      ++i;
    while (!atEnd() && t[i].is(',')) {
      ++i;
      if (!atEnd())
        ++i;
    }
  } else if (a.isDir(".file") || a.isDir(".loc")) {
    ++i; // ends at the line's end (no ';'), as the parser does
    while (!atEnd() && t[i].loc.line == a.loc.line && !t[i].is(';'))
      ++i;
    if (!atEnd() && t[i].is(';'))
      ++i;
  } else {
    // a declaration, .pragma or .section: up to ';' at depth 0 or the '}'
    // that closes a function body or a section
    int paren = 0, brace = 0;
    bool block = false;
    for (; !atEnd(); ++i) {
      const Token &x = t[i];
      if (brace == 0 && paren == 0 && (x.isDir(".entry") || x.isDir(".func"))) {
        block = true;
        if (functionAt != nullptr && *functionAt < 0)
          *functionAt = int(i);
      }
      if (brace == 0 && x.isDir(".section"))
        block = true;
      if (x.is('('))
        ++paren;
      else if (x.is(')'))
        --paren;
      else if (x.is('{'))
        ++brace;
      else if (x.is('}')) {
        if (--brace == 0 && block && !t[i + 1].is(';'))
          return i + 1;
      } else if (x.is(';') && brace == 0 && paren == 0) {
        return i + 1;
      }
    }
  }
  return i;
}

} // namespace cuvirt::ptx
