#include "translate/ptx/parser.h"
#include <charconv>
#include <cstring>
#include <fmt/format.h>

namespace cuvirt::ptx {

Status invalidPtx(std::string &log, SrcLoc loc, std::string_view message) {
  log += fmt::format("{}:{}: {}\n", loc.line, loc.col, message);
  return error(CUDA_ERROR_INVALID_PTX, "PTX {}:{}: {}", loc.line, loc.col, message);
}

namespace {

constexpr std::uint64_t kMaxVarBytes = std::uint64_t(1) << 40;

Space parseSpace(std::string_view d) {
  if (d == ".reg")
    return Space::Reg;
  if (d == ".sreg")
    return Space::Sreg;
  if (d == ".const")
    return Space::Const;
  if (d == ".global")
    return Space::Global;
  if (d == ".local")
    return Space::Local;
  if (d == ".param")
    return Space::Param;
  if (d == ".shared")
    return Space::Shared;
  if (d == ".tex")
    return Space::Tex;
  return Space::None;
}

class Parser {
public:
  Parser(std::string_view text, std::string &log) : toks_(lex(text)), log_(log) {}

  Expected<Module> run() {
    Module m;
    // a module starts with .version then .target (comments and blank lines aside)
    if (!at().isDir(".version")) {
      failAt(at(), "'.version' at the start of the module");
      return status_;
    }
    while (ok_ && at().kind != Tok::End) {
      topLevel(m);
    }
    if (ok_ && m.target.empty())
      fail(at().loc, "missing .target directive");
    if (!ok_)
      return status_;
    return m;
  }

private:
  std::vector<Token> toks_;
  std::size_t pos_ = 0;
  std::string &log_;
  bool ok_ = true;
  Status status_;

  const Token &at(std::size_t k = 0) const {
    std::size_t i = pos_ + k;
    return i < toks_.size() ? toks_[i] : toks_.back();
  }
  const Token &next() {
    const Token &t = at();
    if (pos_ + 1 < toks_.size())
      ++pos_;
    return t;
  }
  bool fail(SrcLoc loc, std::string_view msg) {
    if (ok_) {
      ok_ = false;
      status_ = invalidPtx(log_, loc, msg);
    }
    return false;
  }
  bool failAt(const Token &t, std::string_view what) {
    if (t.kind == Tok::End)
      return fail(t.loc, fmt::format("unexpected end of file, expected {}", what));
    if (t.kind == Tok::Invalid) {
      if (t.text.size() == 1 && (t.text[0] < 0x20 || t.text[0] >= 0x7f))
        return fail(t.loc, fmt::format("invalid character 0x{:02x}", unsigned(std::uint8_t(t.text[0]))));
      return fail(t.loc, fmt::format("invalid token '{}'", t.text));
    }
    return fail(t.loc, fmt::format("expected {}, found '{}'", what, t.text));
  }
  bool expect(char c) {
    if (!ok_)
      return false;
    if (at().is(c)) {
      next();
      return true;
    }
    return failAt(at(), fmt::format("'{}'", c));
  }
  /// elem (',' elem)* then `close`: the body of a braced or parenthesised list.
  template <class T, class ParseOne> bool listUntil(char close, std::vector<T> &out, ParseOne parseOne) {
    do {
      T e;
      if (!parseOne(e))
        return false;
      out.push_back(std::move(e));
    } while (accept(','));
    return expect(close);
  }

  bool accept(char c) {
    if (at().is(c)) {
      next();
      return true;
    }
    return false;
  }
  bool acceptDir(std::string_view d) {
    if (at().isDir(d)) {
      next();
      return true;
    }
    return false;
  }

  bool parseUInt(const Token &t, std::uint64_t &v) {
    std::string_view s = t.text;
    if (!s.empty() && (s.back() == 'U' || s.back() == 'u'))
      s.remove_suffix(1);
    int base = 10;
    if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
      base = 16;
      s.remove_prefix(2);
    } else if (s.size() > 2 && s[0] == '0' && (s[1] == 'b' || s[1] == 'B')) {
      base = 2;
      s.remove_prefix(2);
    } else if (s.size() > 1 && s[0] == '0') {
      base = 8;
      s.remove_prefix(1);
    }
    auto r = std::from_chars(s.data(), s.data() + s.size(), v, base);
    if (s.empty() || r.ec != std::errc() || r.ptr != s.data() + s.size())
      return fail(t.loc, fmt::format("invalid integer literal '{}'", t.text));
    return true;
  }
  bool parseFloat(const Token &t, std::uint64_t &bits, bool &isDouble) {
    std::string_view s = t.text;
    if (s.size() > 2 && s[0] == '0' && (s[1] == 'f' || s[1] == 'F' || s[1] == 'd' || s[1] == 'D')) {
      isDouble = s[1] == 'd' || s[1] == 'D';
      std::string_view h = s.substr(2);
      if (h.size() != (isDouble ? 16u : 8u))
        return fail(t.loc, fmt::format("invalid {} hex literal '{}'", isDouble ? "double" : "float", s));
      auto r = std::from_chars(h.data(), h.data() + h.size(), bits, 16);
      if (r.ec != std::errc() || r.ptr != h.data() + h.size())
        return fail(t.loc, fmt::format("invalid float literal '{}'", s));
      return true;
    }
    std::string tmp(s);
    char *end = nullptr;
    double d = std::strtod(tmp.c_str(), &end);
    if (end != tmp.c_str() + tmp.size())
      return fail(t.loc, fmt::format("invalid float literal '{}'", s));
    std::memcpy(&bits, &d, 8);
    isDouble = true;
    return true;
  }
  /// Integer constant expression: [-]int, used for .align, dims, .maxntid ...
  bool constInt(std::uint64_t &v) {
    bool neg = accept('-');
    const Token &t = at();
    if (t.kind != Tok::Int)
      return failAt(t, "an integer");
    next();
    if (!parseUInt(t, v))
      return false;
    if (neg)
      v = 0 - v; // unsigned wrap-around: no overflow for -2^63
    return true;
  }

  void skipBalancedBraces() {
    // .section bodies and similar debug blobs: skip {...} entirely
    int depth = 0;
    do {
      const Token &t = next();
      if (t.kind == Tok::End) {
        fail(t.loc, "unexpected end of file in braces");
        return;
      }
      if (t.is('{'))
        ++depth;
      else if (t.is('}'))
        --depth;
    } while (depth > 0);
  }
  void skipToSemicolon() {
    while (ok_ && !at().is(';')) {
      if (at().kind == Tok::End) {
        failAt(at(), "';'");
        return;
      }
      next();
    }
    next();
  }

  // --- module level ----------------------------------------------------------------------------
  void topLevel(Module &m) {
    const Token &t = at();
    if (t.isDir(".version")) {
      next();
      const Token &v = next();
      if (v.kind != Tok::Float && v.kind != Tok::Int) {
        failAt(v, "a version number");
        return;
      }
      std::string_view s = v.text;
      auto dot = s.find('.');
      unsigned maj = 0, min = 0;
      std::from_chars(s.data(), s.data() + (dot == s.npos ? s.size() : dot), maj);
      if (dot != s.npos)
        std::from_chars(s.data() + dot + 1, s.data() + s.size(), min);
      m.versionMajor = maj;
      m.versionMinor = min;
      if (maj < 1 || maj > 9) {
        // a newer ISA than this front end knows: the driver's own error for it
        ok_ = false;
        log_ += fmt::format("{}:{}: unsupported PTX version {}\n", v.loc.line, v.loc.col, s);
        status_ = error(CUDA_ERROR_UNSUPPORTED_PTX_VERSION, "PTX {}:{}: unsupported PTX version {}",
                        v.loc.line, v.loc.col, s);
      }
      return;
    }
    if (t.isDir(".target")) {
      next();
      do {
        const Token &n = next();
        if (n.kind != Tok::Ident) {
          failAt(n, "a target name");
          return;
        }
        m.target.emplace_back(n.text);
      } while (accept(','));
      return;
    }
    if (t.isDir(".address_size")) {
      next();
      std::uint64_t v = 0;
      if (constInt(v) && v != 32 && v != 64)
        fail(t.loc, "address size must be 32 or 64");
      m.addressSize = unsigned(v);
      return;
    }
    if (t.isDir(".file")) {
      next();
      skipToSemicolonOrLine(t.loc.line);
      return;
    }
    if (t.isDir(".loc")) {
      next();
      skipToSemicolonOrLine(t.loc.line);
      return;
    }
    if (t.isDir(".section")) {
      next();
      while (ok_ && !at().is('{') && at().kind != Tok::End)
        next();
      skipBalancedBraces();
      return;
    }
    if (t.isDir(".pragma") || t.isDir(".alias")) {
      next();
      skipToSemicolon();
      return;
    }
    if (t.is(';')) {
      next();
      return;
    }
    // linkage and declarations
    bool isExtern = false, isVisible = false, isWeak = false, isCommon = false;
    for (;;) {
      if (acceptDir(".extern"))
        isExtern = true;
      else if (acceptDir(".visible"))
        isVisible = true;
      else if (acceptDir(".weak"))
        isWeak = true;
      else if (acceptDir(".common"))
        isCommon = true;
      else
        break;
    }
    const Token &d = at();
    if (d.isDir(".entry") || d.isDir(".func")) {
      Function f;
      f.isExtern = isExtern;
      f.isVisible = isVisible;
      f.isWeak = isWeak;
      function(f);
      if (ok_)
        m.functions.push_back(std::move(f));
      return;
    }
    Space sp = d.kind == Tok::Dir ? parseSpace(d.text) : Space::None;
    if (sp == Space::Global || sp == Space::Const || sp == Space::Shared || sp == Space::Tex ||
        sp == Space::Local) {
      VarDecl v;
      v.isExtern = isExtern;
      v.isVisible = isVisible;
      v.isWeak = isWeak;
      v.isCommon = isCommon;
      std::vector<VarDecl> vs;
      varDecl(vs, v, true);
      for (auto &x : vs)
        m.globals.push_back(std::move(x));
      return;
    }
    if (d.isDir(".texref") || d.isDir(".surfref") || d.isDir(".samplerref")) {
      // module-level texture references: kept as opaque 8-byte globals
      next();
      const Token &n = next();
      if (n.kind != Tok::Ident) {
        failAt(n, "a name");
        return;
      }
      VarDecl v;
      v.loc = n.loc;
      v.space = Space::Global;
      v.type = Type::B64;
      v.name = std::string(n.text);
      v.isExtern = isExtern;
      skipToSemicolon();
      m.globals.push_back(std::move(v));
      return;
    }
    if (d.kind == Tok::Dir)
      fail(d.loc, fmt::format("unknown directive '{}'", d.text));
    else
      failAt(d, "a directive");
  }

  void skipToSemicolonOrLine(std::uint32_t line) {
    // .loc/.file end at the line's end (no ';'); tolerate both
    while (ok_ && at().kind != Tok::End && at().loc.line == line && !at().is(';'))
      next();
    accept(';');
  }

  /// `.space [.align N] [.vN] .type name[dims] [= init] [, name2 ...];` starting at the space.
  /// `proto` carries linkage flags.
  void varDecl(std::vector<VarDecl> &out, const VarDecl &proto, bool allowInit) {
    VarDecl v = proto;
    const Token &sp = next();
    v.space = parseSpace(sp.text);
    v.loc = sp.loc;
    if (!declAttributes(v))
      return;
    for (;;) {
      VarDecl one = v;
      if (!declName(one))
        return;
      if (accept('=')) {
        if (!allowInit)
          fail(at().loc, "initialiser not allowed here");
        Init init;
        if (!initialiser(init))
          return;
        one.init = std::move(init);
      }
      out.push_back(std::move(one));
      if (accept(','))
        continue;
      expect(';');
      return;
    }
  }

  /// [.align N] [.vN] .type [.ptr[.space][.align N]] ; also .attribute(...)
  bool declAttributes(VarDecl &v) {
    for (;;) {
      const Token &t = at();
      if (t.isDir(".align")) {
        next();
        std::uint64_t a = 0;
        if (!constInt(a))
          return false;
        if (a == 0 || (a & (a - 1)) || a > 65536)
          return fail(t.loc, fmt::format("invalid alignment {}", a));
        v.align = unsigned(a);
      } else if (t.isDir(".v2") || t.isDir(".v4") || t.isDir(".v8")) {
        next();
        v.vec = unsigned(t.text[2] - '0');
      } else if (t.isDir(".attribute")) {
        next();
        if (!expect('('))
          return false;
        while (ok_ && !at().is(')')) {
          if (at().kind == Tok::End)
            return failAt(at(), "')'");
          if (at().isDir(".managed"))
            v.isManaged = true;
          next();
        }
        expect(')');
      } else if (t.isDir(".ptr")) {
        // pointee attributes: .ptr [.space] [.align N]; they don't change the parameter's layout
        next();
        if (at().kind == Tok::Dir && parseSpace(at().text) != Space::None)
          next();
        if (acceptDir(".align")) {
          std::uint64_t a;
          if (!constInt(a))
            return false;
        }
      } else if (t.kind == Tok::Dir && parseType(t.text) != Type::None) {
        if (v.type != Type::None)
          return fail(t.loc, "duplicate type in declaration");
        next();
        v.type = parseType(t.text);
      } else if (t.isDir(".texref") || t.isDir(".samplerref") || t.isDir(".surfref")) {
        next();
        v.type = Type::B64;
      } else {
        break;
      }
      if (!ok_)
        return false;
    }
    if (v.type == Type::None)
      return failAt(at(), "a type");
    if (v.type == Type::Pred && v.space != Space::Reg)
      return fail(v.loc, ".pred is only allowed for registers");
    return ok_;
  }

  bool declName(VarDecl &v) {
    const Token &n = at();
    if (n.kind != Tok::Ident)
      return failAt(n, "a name");
    next();
    v.name = std::string(n.text);
    v.loc = n.loc;
    if (at().is('<') && !at().spaceBefore) {
      next();
      std::uint64_t c = 0;
      if (!constInt(c))
        return false;
      if (c > (1u << 24))
        return fail(n.loc, "register range too large");
      v.rangeCount = unsigned(c);
      if (!expect('>'))
        return false;
    }
    std::uint64_t total = v.elemSize();
    while (at().is('[')) {
      next();
      v.isArray = true;
      if (accept(']')) {
        v.dims.push_back(0);
        continue;
      }
      std::uint64_t d = 0;
      if (!constInt(d))
        return false;
      if (d == 0 || d > kMaxVarBytes || (total && d > kMaxVarBytes / total))
        return fail(n.loc, "array size too large or zero");
      total *= d;
      v.dims.push_back(d);
      if (!expect(']'))
        return false;
    }
    return true;
  }

  bool initialiser(Init &init, int depth = 0) {
    const Token &t = at();
    if (depth > 8)
      return fail(t.loc, "initialiser nesting too deep");
    init.loc = t.loc;
    if (t.is('{')) {
      next();
      init.kind = Init::Kind::List;
      if (accept('}'))
        return true;
      return listUntil('}', init.elems, [&](Init &e) { return initialiser(e, depth + 1); });
    }
    bool neg = false;
    if (accept('-'))
      neg = true;
    else
      accept('+');
    const Token &v = at();
    if (v.kind == Tok::Int) {
      next();
      std::uint64_t x;
      if (!parseUInt(v, x))
        return false;
      if (at().is('(') && !neg) {
        // 0xFF00(generic(sym)+4): one byte of a symbol's address
        next();
        init.kind = Init::Kind::Symbol;
        init.byteMask = x;
        if (!symbolInit(init))
          return false;
        return expect(')');
      }
      init.kind = Init::Kind::Int;
      init.bits = neg ? 0 - x : x;
      return true;
    }
    if (v.kind == Tok::Float) {
      next();
      init.kind = Init::Kind::Float;
      if (!parseFloat(v, init.bits, init.floatIsDouble))
        return false;
      if (neg)
        init.bits ^= init.floatIsDouble ? (std::uint64_t(1) << 63) : (std::uint64_t(1) << 31);
      return true;
    }
    if (neg)
      return failAt(v, "a number");
    init.kind = Init::Kind::Symbol;
    return symbolInit(init);
  }
  bool symbolInit(Init &init) {
    const Token &t = at();
    if (t.kind == Tok::Ident && (t.text == "generic" || t.text == "global") && at(1).is('(')) {
      next();
      next();
      init.isFnOrGeneric = true;
      if (!symbolRef(init) || !expect(')'))
        return false;
      if (at().is('+') || at().is('-')) {
        bool neg = next().is('-');
        std::uint64_t a;
        if (!constInt(a))
          return false;
        init.addend = std::int64_t(std::uint64_t(init.addend) + (neg ? 0 - a : a));
      }
      return true;
    }
    return symbolRef(init);
  }
  bool symbolRef(Init &init) {
    const Token &n = at();
    if (n.kind != Tok::Ident)
      return failAt(n, "a symbol or number");
    next();
    init.symbol = std::string(n.text);
    if (at().is('+') || at().is('-')) {
      bool neg = next().is('-');
      std::uint64_t a;
      if (!constInt(a))
        return false;
      init.addend = std::int64_t(neg ? 0 - a : a);
    }
    return true;
  }

  // --- functions ---------------------------------------------------------------------------------
  void function(Function &f) {
    f.isEntry = next().text == ".entry";
    if (!f.isEntry && at().is('(')) {
      next();
      if (!paramList(f.rets, ')'))
        return;
    }
    const Token &n = at();
    if (n.kind != Tok::Ident) {
      failAt(n, "a function name");
      return;
    }
    next();
    f.name = std::string(n.text);
    f.loc = n.loc;
    if (accept('(')) {
      if (!paramList(f.params, ')'))
        return;
    }
    // performance directives
    for (;;) {
      const Token &t = at();
      if (t.isDir(".maxntid") || t.isDir(".reqntid")) {
        next();
        unsigned *dst = t.isDir(".maxntid") ? f.maxntid : f.reqntid;
        for (int i = 0; i < 3; ++i) {
          std::uint64_t v;
          if (!constInt(v))
            return;
          if (v == 0 || v > 1024) {
            fail(t.loc, fmt::format("invalid {} value {}", t.text, v));
            return;
          }
          dst[i] = unsigned(v);
          if (!accept(','))
            break;
        }
        for (int i = 0; i < 3; ++i)
          if (!dst[i])
            dst[i] = 1;
      } else if (t.isDir(".minnctapersm") || t.isDir(".maxnctapersm") || t.isDir(".maxnreg")) {
        next();
        std::uint64_t v;
        if (!constInt(v))
          return;
        if (t.isDir(".minnctapersm"))
          f.minnctapersm = unsigned(v);
        else if (t.isDir(".maxnreg"))
          f.maxnreg = unsigned(v);
      } else if (t.isDir(".noreturn")) {
        next();
        f.noReturn = true;
      } else if (t.isDir(".explicitcluster")) {
        next();
      } else if (t.isDir(".reqnctapercluster") || t.isDir(".maxclusterrank")) {
        bool required = t.isDir(".reqnctapercluster");
        next();
        int d = 0;
        do {
          std::uint64_t v;
          if (!constInt(v))
            return;
          if (required && d < 3)
            f.reqnctapercluster[d++] = unsigned(v);
        } while (accept(','));
      } else if (t.isDir(".pragma")) {
        next();
        skipToSemicolon();
      } else if (t.isDir(".abi_preserve") || t.isDir(".abi_preserve_control")) {
        next();
        std::uint64_t v;
        if (!constInt(v))
          return;
      } else {
        break;
      }
      if (!ok_)
        return;
    }
    if (accept(';'))
      return; // declaration only
    if (!at().is('{')) {
      failAt(at(), "'{' or ';'");
      return;
    }
    f.hasBody = true;
    next();
    body(f.body, 1);
  }

  bool paramList(std::vector<VarDecl> &out, char close) {
    if (accept(close))
      return true;
    do {
      const Token &t = at();
      Space sp = t.kind == Tok::Dir ? parseSpace(t.text) : Space::None;
      if (sp != Space::Param && sp != Space::Reg)
        return failAt(t, "'.param' or '.reg'");
      next();
      VarDecl v;
      v.space = sp;
      v.loc = t.loc;
      if (!declAttributes(v))
        return false;
      // An unnamed prototype parameter: "_" (an identifier, with array
      // dimensions for aggregates: `.param .align 4 .b8 _[16]`, declName).
      if (at().is('_')) {
        next();
        v.name = "_";
      } else if (!declName(v)) {
        return false;
      }
      out.push_back(std::move(v));
    } while (accept(','));
    return expect(close);
  }

  void body(std::vector<Stmt> &out, int depth) {
    while (ok_) {
      const Token &t = at();
      if (t.kind == Tok::End) {
        failAt(t, "'}'");
        return;
      }
      if (t.is('}')) {
        next();
        if (--depth == 0)
          return;
        out.push_back(ScopeEnd{t.loc});
        continue;
      }
      if (t.is('{')) {
        next();
        ++depth;
        out.push_back(ScopeBegin{t.loc});
        continue;
      }
      if (t.is(';')) {
        next();
        continue;
      }
      if (t.kind == Tok::Dir) {
        bodyDirective(out);
        continue;
      }
      if (t.kind == Tok::Ident && at(1).is(':')) {
        next();
        next();
        if (at().isDir(".branchtargets") || at().isDir(".calltargets")) {
          bool isBranch = at().isDir(".branchtargets");
          next();
          BranchTargets bt{t.loc, std::string(t.text), {}};
          do {
            const Token &l = next();
            if (l.kind != Tok::Ident) {
              failAt(l, "a label");
              return;
            }
            bt.targets.emplace_back(l.text);
          } while (accept(','));
          expect(';');
          if (isBranch)
            out.push_back(std::move(bt));
          continue;
        }
        if (at().isDir(".callprototype")) {
          next();
          CallPrototype cp{t.loc, std::string(t.text), {}, {}};
          if (at().is('(')) {
            next();
            if (!paramList(cp.rets, ')'))
              return;
          }
          const Token &u = next();
          if (u.kind != Tok::Ident || u.text != "_") {
            failAt(u, "'_'");
            return;
          }
          if (accept('(') && !paramList(cp.params, ')'))
            return;
          while (at().isDir(".noreturn") || at().isDir(".abi_preserve"))
            next();
          expect(';');
          out.push_back(std::move(cp));
          continue;
        }
        out.push_back(Label{t.loc, std::string(t.text)});
        continue;
      }
      Instr in;
      if (!instruction(in))
        return;
      out.push_back(std::move(in));
    }
  }

  void bodyDirective(std::vector<Stmt> &out) {
    const Token &t = at();
    if (t.isDir(".loc") || t.isDir(".file")) {
      next();
      skipToSemicolonOrLine(t.loc.line);
      return;
    }
    if (t.isDir(".pragma")) {
      next();
      skipToSemicolon();
      return;
    }
    Space sp = parseSpace(t.text);
    if (sp == Space::Reg || sp == Space::Local || sp == Space::Shared || sp == Space::Param ||
        sp == Space::Const || sp == Space::Global) {
      std::vector<VarDecl> vs;
      varDecl(vs, VarDecl{}, sp == Space::Const || sp == Space::Global);
      for (auto &v : vs)
        out.push_back(std::move(v));
      return;
    }
    fail(t.loc, fmt::format("unexpected directive '{}' in function body", t.text));
  }

  bool instruction(Instr &in) {
    const Token &first = at();
    in.loc = first.loc;
    if (first.is('@')) {
      next();
      if (accept('!'))
        in.guardNegated = true;
      const Token &g = at();
      if (g.kind != Tok::Ident)
        return failAt(g, "a predicate register");
      next();
      in.guard = std::string(g.text);
      in.loc = at().loc;
    }
    const Token &op = at();
    if (op.kind != Tok::Ident)
      return failAt(op, "an instruction");
    next();
    in.opcode = std::string(op.text);
    in.loc = op.loc;
    while (at().kind == Tok::Dir && !at().spaceBefore) {
      in.mods.emplace_back(at().text);
      next();
    }
    if (accept(';'))
      return true;
    do {
      Operand o;
      if (!operand(o, 0))
        return false;
      in.ops.push_back(std::move(o));
    } while (accept(','));
    // call's trailing ", prototype" is covered by the comma loop
    return expect(';');
  }

  /// Register/symbol name with glued components: %tid.x, %r|%p is handled by the caller.
  bool name(Operand &o) {
    const Token &t = at();
    o.kind = Operand::Kind::Reg;
    o.loc = t.loc;
    o.name = std::string(t.text);
    next();
    while (at().kind == Tok::Dir && !at().spaceBefore) {
      o.name += at().text;
      next();
    }
    if (o.name == "WARP_SZ") { // PTX's predefined constant (numba: cuda.warpsize)
      o.kind = Operand::Kind::Int;
      o.imm = 32;
      o.name.clear();
    }
    return true;
  }

  bool immediate(Operand &o, bool neg) {
    const Token &t = at();
    o.loc = t.loc;
    if (t.kind == Tok::Int) {
      next();
      std::uint64_t v;
      if (!parseUInt(t, v))
        return false;
      o.kind = Operand::Kind::Int;
      o.imm = std::int64_t(neg ? 0 - v : v);
      return true;
    }
    if (t.kind == Tok::Float) {
      next();
      std::uint64_t bits;
      if (!parseFloat(t, bits, o.floatIsDouble))
        return false;
      if (neg)
        bits ^= o.floatIsDouble ? (std::uint64_t(1) << 63) : (std::uint64_t(1) << 31);
      o.kind = Operand::Kind::Float;
      o.imm = std::int64_t(bits);
      return true;
    }
    return failAt(t, "an operand");
  }

  bool operand(Operand &o, int depth) {
    if (depth > 4)
      return fail(at().loc, "operand nesting too deep");
    const Token &t = at();
    o.loc = t.loc;
    if (t.is('[')) {
      next();
      o.kind = Operand::Kind::Addr;
      if (at().kind == Tok::Ident) {
        Operand b;
        name(b);
        o.name = b.name;
        if (at().is('+') || at().is('-')) {
          bool neg = next().is('-');
          if (at().is('-')) {
            next();
            neg = !neg;
          }
          Operand imm;
          if (!immediate(imm, neg))
            return false;
          if (imm.kind != Operand::Kind::Int)
            return fail(imm.loc, "address offset must be an integer");
          o.imm = imm.imm;
        }
      } else {
        bool neg = accept('-');
        Operand imm;
        if (!immediate(imm, neg))
          return false;
        if (imm.kind != Operand::Kind::Int)
          return fail(imm.loc, "address must be an integer");
        o.imm = imm.imm;
      }
      // texture/surface operands: [tex, sampler, {coords}]
      while (accept(',')) {
        Operand e;
        if (!operand(e, depth + 1))
          return false;
        o.elems.push_back(std::move(e));
      }
      return expect(']');
    }
    if (t.is('{')) {
      next();
      o.kind = Operand::Kind::Vec;
      return listUntil('}', o.elems, [&](Operand &e) { return operand(e, depth + 1); });
    }
    if (t.is('(')) {
      next();
      o.kind = Operand::Kind::List;
      if (accept(')'))
        return true;
      return listUntil(')', o.elems, [&](Operand &e) { return operand(e, depth + 1); });
    }
    if (t.is('!')) {
      next();
      if (at().kind != Tok::Ident)
        return failAt(at(), "a predicate");
      name(o);
      o.negated = true;
      return true;
    }
    if (t.is('-') || t.is('+')) {
      bool neg = next().is('-');
      return immediate(o, neg);
    }
    if (t.kind == Tok::Ident) {
      if (t.text == "_") {
        next();
        o.kind = Operand::Kind::Sink;
        return true;
      }
      name(o);
      if (at().is('|')) {
        next();
        if (at().kind != Tok::Ident)
          return failAt(at(), "a predicate register");
        Operand p;
        name(p);
        o.pairedPred = p.name;
      } else if (at().is('+') && at(1).kind == Tok::Int) {
        // sym+imm (mov.u64 %rd, arr+8)
        next();
        Operand imm;
        if (!immediate(imm, false))
          return false;
        o.imm = imm.imm;
      }
      return true;
    }
    if (t.kind == Tok::Int || t.kind == Tok::Float)
      return immediate(o, false);
    return failAt(t, "an operand");
  }
};

} // namespace

Expected<Module> parse(std::string_view text, std::string &log) {
  Parser p(text, log);
  return p.run();
}

} // namespace cuvirt::ptx
