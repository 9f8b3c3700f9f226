// PTX tokens. The lexer never fails: bad characters become Invalid tokens
// that the parser reports with their line and column.
#pragma once
#include <cstdint>
#include <string_view>
#include <vector>

namespace cuvirt::ptx {

struct SrcLoc {
  std::uint32_t line = 0, col = 0;
};

enum class Tok : std::uint8_t {
  End,
  Ident,   ///< %r1, $L__BB0_1, _Z3fooi, add (opcode), _ (sink)
  Dir,     ///< .reg, .u32, .x: a dot followed by name characters
  Int,     ///< 12, 0x1F, 017, 0b101, 12U
  Float,   ///< 0f3F800000, 0d3FF0000000000000, 1.5
  String,  ///< "..." (text keeps the quotes)
  Punct,   ///< one of , ; : [ ] { } ( ) < > + - ! | @ =
  Invalid, ///< anything else
};

struct Token {
  Tok kind = Tok::End;
  bool spaceBefore = true; ///< whitespace (or a comment) precedes it
  std::string_view text;
  SrcLoc loc;
  [[nodiscard]] bool is(char c) const { return kind == Tok::Punct && text.size() == 1 && text[0] == c; }
  [[nodiscard]] bool isDir(std::string_view d) const { return kind == Tok::Dir && text == d; }
};

/// Tokenises all of `text`; the last token is always Tok::End.
std::vector<Token> lex(std::string_view text);

/// The end (one past its last token) of the module-level statement that
/// starts at token `first`, as the parser's module grammar delimits it:
/// header directives, .file/.loc lines, declarations up to ';', and function
/// bodies or sections up to their closing '}'. `t` ends with Tok::End. When
/// `functionAt` is given, it gets the index of the statement's .entry/.func
/// directive, or -1.
std::size_t topLevelStatementEnd(const std::vector<Token> &t, std::size_t first, int *functionAt = nullptr);

} // namespace cuvirt::ptx
