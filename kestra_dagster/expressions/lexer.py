"""Tokenizer for Kestra's Pebble dialect.

Mirrors Pebble's ``LexerImpl`` where it matters for compatibility:

* text is split on ``{{ }}`` (print), ``{% %}`` (tag) and ``{# #}`` (comment);
* ``{{-`` / ``-}}`` (and the tag/comment forms) trim all whitespace on that side;
* a closing ``}}`` only ends a print block outside brackets and strings, so
  ``{{ {'a': {'b': 1}} }}`` works;
* word operators (``and``, ``or``, ``not``, ``is``, ``contains``, ``equals``) win over names
  unless a word character follows them (``organization`` is a name);
* string literals only unescape ``\\\\`` and the quote character; ``'\\n'`` stays two
  characters, as in Pebble (the ``split`` filter then reads it as a regex newline);
* double-quoted strings may interpolate ``#{expr}``;
* ``{% raw %}…{% endraw %}`` and ``{% verbatim %}…{% endverbatim %}`` are copied verbatim.

The lexer never evaluates anything and runs in linear time: every regex is anchored and
free of nested quantifiers, so hostile input cannot make it backtrack.
"""

from __future__ import annotations

import re

from kestra_dagster.errors import ExpressionError

# Token kinds
TEXT = "TEXT"
PRINT_START = "PRINT_START"
PRINT_END = "PRINT_END"
TAG_START = "TAG_START"
TAG_END = "TAG_END"
NAME = "NAME"
NUMBER = "NUMBER"  # value is an int or a float
STRING = "STRING"
OP = "OP"
PUNCT = "PUNCT"
INTERP_START = "INTERP_START"  # "#{" inside a double-quoted string
INTERP_END = "INTERP_END"
EOF = "EOF"

WORD_OPERATORS = frozenset({"and", "or", "not", "is", "contains", "equals"})

_START = re.compile(r"\{[{%#]")
_WS = re.compile(r"\s+")
_SYMBOL_OPS = ("???", "??", "==", "!=", "<=", ">=", "..", "<", ">", "+", "-", "*", "/", "%", "~", "|")
_OP = re.compile("|".join(re.escape(op) for op in _SYMBOL_OPS))
_WORD_OP = re.compile(r"(?:and|or|not|is|contains|equals)(?![A-Za-z0-9_])")
_NAME = re.compile(r"[^\W\d]\w*")
_NUMBER = re.compile(r"(\d+)(L|\.\d+)?")
_PUNCT = "()[]{}?:.,="
_SQ_STRING = re.compile(r"'[^'\\]*(?:\\.[^'\\]*)*'", re.S)
_RAW_START = re.compile(r"-?\s*(raw|verbatim)\s*(-?)%\}")
_RAW_END = {
    "raw": re.compile(r"\{%(-?)\s*endraw\s*(-?)%\}"),
    "verbatim": re.compile(r"\{%(-?)\s*endverbatim\s*(-?)%\}"),
}
_COMMENT_END = re.compile(r"#\}")

MAX_INT = 2**63 - 1  # Pebble literals are Java longs


class Token:
    """One lexical unit; ``pos`` is the offset in the template, for error messages."""

    __slots__ = ("kind", "value", "pos")

    def __init__(self, kind: str, value, pos: int):
        self.kind = kind
        self.value = value
        self.pos = pos

    def is_(self, kind: str, value=None) -> bool:
        return self.kind == kind and (value is None or self.value == value)

    def describe(self) -> str:
        if self.kind == EOF:
            return "end of template"
        if self.kind in (PRINT_END, TAG_END, PRINT_START, TAG_START):
            return f"'{self.value}'"
        if self.kind == STRING:
            return f"string {_short(self.value)!r}"
        if self.kind == TEXT:
            return "text"
        return f"'{self.value}'"

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return f"Token({self.kind}, {self.value!r}, {self.pos})"


def _short(text: str, limit: int = 30) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def location(source: str, pos: int) -> str:
    """``column N`` for one-line templates, ``line L, column C`` otherwise (1-based)."""
    pos = max(0, min(pos, len(source)))
    line = source.count("\n", 0, pos) + 1
    col = pos - (source.rfind("\n", 0, pos) + 1) + 1
    if "\n" not in source:
        return f"column {col}"
    return f"line {line}, column {col}"


def snippet(source: str, pos: int, width: int = 160) -> str:
    """The template itself when short, else the line around ``pos`` cut to ``width``."""
    if len(source) <= width and "\n" not in source:
        return source
    start = source.rfind("\n", 0, pos) + 1
    end = source.find("\n", pos)
    end = len(source) if end < 0 else end
    if end - start > width:
        start = max(start, pos - width // 2)
        end = min(end, start + width)
    text = source[start:end]
    return ("…" if start > 0 else "") + text + ("…" if end < len(source) else "")


def syntax_error(source: str, message: str, pos: int) -> ExpressionError:
    return ExpressionError(f"{message} at {location(source, pos)}", expression=snippet(source, pos))


def _unescape(body: str, quote: str) -> str:
    """Pebble's rule: only ``\\\\`` and the escaped quote are unescaped; other escapes stay."""
    if "\\" not in body:
        return body
    out = []
    i = 0
    n = len(body)
    while i < n:
        ch = body[i]
        if ch == "\\" and i + 1 < n and body[i + 1] in ("\\", quote):
            out.append(body[i + 1])
            i += 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)


class Lexer:
    """Turns a template into a flat token list (text, delimiters and expression tokens)."""

    def __init__(self, source: str):
        self.src = source
        self.pos = 0
        self.tokens: list[Token] = []
        self.trim_next = False  # a "-}}" asked to strip the next text's leading whitespace

    # ------------------------------------------------------------------ driver
    def tokenize(self) -> list[Token]:
        src = self.src
        n = len(src)
        while self.pos < n:
            m = _START.search(src, self.pos)
            end = m.start() if m else n
            self._text(src[self.pos:end])
            if not m:
                self.pos = n
                break
            opener = m.group()
            self.pos = m.end()
            trim_left = src.startswith("-", self.pos)
            if opener == "{#":
                if trim_left:
                    self._rtrim_last_text()
                self._comment(m.start())
            elif opener == "{{":
                if trim_left:
                    self._rtrim_last_text()
                    self.pos += 1
                self.tokens.append(Token(PRINT_START, "{{", m.start()))
                self._expression("}}", PRINT_END, m.start())
            else:
                raw = _RAW_START.match(src, self.pos)
                if raw:
                    if trim_left:
                        self._rtrim_last_text()
                    self._raw(raw, m.start())
                    continue
                if trim_left:
                    self._rtrim_last_text()
                    self.pos += 1
                self.tokens.append(Token(TAG_START, "{%", m.start()))
                self._expression("%}", TAG_END, m.start())
        self.tokens.append(Token(EOF, None, n))
        return self.tokens

    # ------------------------------------------------------------------ text
    def _text(self, text: str) -> None:
        if self.trim_next:
            text = text.lstrip()
            self.trim_next = False
        if text:
            self.tokens.append(Token(TEXT, text, self.pos))

    def _rtrim_last_text(self) -> None:
        if self.tokens and self.tokens[-1].kind == TEXT:
            last = self.tokens[-1]
            last.value = last.value.rstrip()
            if not last.value:
                self.tokens.pop()

    def _comment(self, start: int) -> None:
        m = _COMMENT_END.search(self.src, self.pos)
        if not m:
            raise syntax_error(self.src, "unclosed comment '{#'", start)
        if m.start() > 0 and self.src[m.start() - 1] == "-" and m.start() - 1 >= self.pos:
            self.trim_next = True
        self.pos = m.end()

    def _raw(self, start_match: re.Match, start: int) -> None:
        kind = start_match.group(1)
        self.pos = start_match.end()
        end = _RAW_END[kind].search(self.src, self.pos)
        if not end:
            raise syntax_error(self.src, f"unclosed '{{% {kind} %}}' (missing '{{% end{kind} %}}')", start)
        text = self.src[self.pos:end.start()]
        if start_match.group(2):
            text = text.lstrip()
        if end.group(1):
            text = text.rstrip()
        if text:
            self.tokens.append(Token(TEXT, text, self.pos))
        self.pos = end.end()
        if end.group(2):
            self.trim_next = True

    # ------------------------------------------------------------------ expressions
    def _expression(self, closer: str, end_kind: str, start: int) -> None:
        """Tokens up to ``closer`` (``}}`` or ``%}``) at bracket depth zero."""
        src = self.src
        n = len(src)
        brackets: list[tuple[str, int]] = []
        while True:
            ws = _WS.match(src, self.pos)
            if ws:
                self.pos = ws.end()
            if self.pos >= n:
                if brackets:
                    ch, at = brackets[-1]
                    raise syntax_error(src, f"unclosed '{ch}'", at)
                opener = "{{" if closer == "}}" else "{%"
                raise syntax_error(src, f"unclosed '{opener}' (missing '{closer}')", start)
            if not brackets:
                if src.startswith(closer, self.pos):
                    self.tokens.append(Token(end_kind, closer, self.pos))
                    self.pos += len(closer)
                    return
                if src.startswith("-" + closer, self.pos):
                    self.tokens.append(Token(end_kind, closer, self.pos))
                    self.pos += len(closer) + 1
                    self.trim_next = True
                    return
            self._one_token(brackets)

    def _one_token(self, brackets: list[tuple[str, int]]) -> None:
        src = self.src
        pos = self.pos
        ch = src[pos]
        m = _OP.match(src, pos)
        if m:
            self.tokens.append(Token(OP, m.group(), pos))
            self.pos = m.end()
            return
        if ch.isalpha() or ch == "_":
            m = _WORD_OP.match(src, pos)
            if m:
                self.tokens.append(Token(OP, m.group(), pos))
                self.pos = m.end()
                return
            m = _NAME.match(src, pos)
            if m:
                self.tokens.append(Token(NAME, m.group(), pos))
                self.pos = m.end()
                return
        if ch.isdigit():
            m = _NUMBER.match(src, pos)
            if m and m.group(1).isascii():
                self.tokens.append(Token(NUMBER, self._number(m, pos), pos))
                self.pos = m.end()
                return
        if ch in _PUNCT:
            if ch in "([{":
                brackets.append((ch, pos))
            elif ch in ")]}":
                if not brackets:
                    raise syntax_error(src, f"unexpected token '{ch}'", pos)
                opener, _ = brackets.pop()
                expected = {"(": ")", "[": "]", "{": "}"}[opener]
                if ch != expected:
                    raise syntax_error(src, f"unexpected token '{ch}' (expected '{expected}')", pos)
            self.tokens.append(Token(PUNCT, ch, pos))
            self.pos = pos + 1
            return
        if ch == "'":
            m = _SQ_STRING.match(src, pos)
            if not m:
                raise syntax_error(src, "unclosed string literal", pos)
            self.tokens.append(Token(STRING, _unescape(m.group()[1:-1], "'"), pos))
            self.pos = m.end()
            return
        if ch == '"':
            self._double_quoted()
            return
        raise syntax_error(src, f"unexpected character {ch!r}", pos)

    def _number(self, m: re.Match, pos: int):
        digits, suffix = m.group(1), m.group(2)
        if suffix and suffix != "L":
            return float(digits + suffix)
        if len(digits) > 19 or int(digits) > MAX_INT:
            raise syntax_error(self.src, "number literal out of range", pos)
        return int(digits)

    def _double_quoted(self) -> None:
        """A "..." string; ``#{expr}`` parts become INTERP_START … INTERP_END token runs."""
        src = self.src
        n = len(src)
        start = self.pos
        i = start + 1
        chunk: list[str] = []
        chunk_start = i
        parts = 0
        while True:
            if i >= n:
                raise syntax_error(src, "unclosed string literal", start)
            ch = src[i]
            if ch == "\\" and i + 1 < n:
                nxt = src[i + 1]
                chunk.append(nxt if nxt in ('"', "\\") else ch + nxt)
                i += 2
                continue
            if ch == '"':
                if chunk or parts == 0:
                    self.tokens.append(Token(STRING, "".join(chunk), chunk_start))
                self.pos = i + 1
                return
            if ch == "#" and src.startswith("#{", i):
                if chunk:
                    self.tokens.append(Token(STRING, "".join(chunk), chunk_start))
                    chunk = []
                elif parts == 0:
                    self.tokens.append(Token(STRING, "", chunk_start))
                parts += 1
                self.tokens.append(Token(INTERP_START, "#{", i))
                self.pos = i + 2
                self._interpolation(i)
                i = self.pos
                chunk_start = i
                continue
            chunk.append(ch)
            i += 1

    def _interpolation(self, start: int) -> None:
        src = self.src
        n = len(src)
        brackets: list[tuple[str, int]] = []
        while True:
            ws = _WS.match(src, self.pos)
            if ws:
                self.pos = ws.end()
            if self.pos >= n:
                raise syntax_error(src, "unclosed '#{' in string", start)
            if not brackets and src[self.pos] == "}":
                self.tokens.append(Token(INTERP_END, "}", self.pos))
                self.pos += 1
                return
            self._one_token(brackets)


def tokenize(source: str) -> list[Token]:
    return Lexer(source).tokenize()
