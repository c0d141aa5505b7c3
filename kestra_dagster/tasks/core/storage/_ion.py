"""Reading Amazon ION text, one value per line: the items of Kestra's ``.ion`` files.

Kestra's serdes tasks write one ION value per line (``{id:1,name:"a",at:2024-01-01T00:00:00Z}``),
and the item tasks (FilterItems, DeduplicateItems…) hand each line's struct to an expression.
This reader covers the text form those files use: structs, lists, s-expressions, strings (short,
long ``'''…'''`` and quoted symbols), symbols, ``null``/``null.<type>``, booleans, ints (decimal,
hex, binary, with ``_``), decimals and floats (as ``float``), ``nan``/``±inf``, timestamps (kept as
their ISO text), blobs (``bytes``), clobs (``str``), annotations (dropped) and comments.
"""

from __future__ import annotations

import base64
import re
from typing import Any

_TIMESTAMP = re.compile(
    r"\d{4}T|\d{4}-\d{2}T|\d{4}-\d{2}-\d{2}(?:T(?:\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2}))?)?")
_NUMBER = re.compile(
    r"[+-]?(?:0[xX][0-9a-fA-F_]+|0[bB][01_]+|(?:\d[\d_]*)(?:\.[\d_]*)?(?:[eEdD][+-]?\d+)?|\.\d[\d_]*(?:[eEdD][+-]?\d+)?)")
_IDENT = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")
_OPERATOR = re.compile(r"[!#%&*+\-./;<=>?@^`|~]+")
_END_OF_ATOM = set(" \t\r\n\f\v,]})/\"'") | {":"}
_ESCAPES = {"a": "\a", "b": "\b", "t": "\t", "n": "\n", "f": "\f", "r": "\r", "v": "\v", "?": "?",
            "0": "\0", "'": "'", '"': '"', "/": "/", "\\": "\\"}


class IonError(ValueError):
    """The text is not one ION value; the message says where."""


def loads(text: str) -> Any:
    """The single ION value in ``text`` (a line of an ``.ion`` file)."""
    parser = _Parser(text)
    parser.skip()
    value = parser.value()
    parser.skip()
    if parser.pos != len(text):
        parser.fail("more than one value on the line")
    return value


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.pos = 0

    def fail(self, what: str) -> None:
        raise IonError(f"{what} at column {self.pos + 1}")

    def peek(self, n: int = 1) -> str:
        return self.text[self.pos:self.pos + n]

    def skip(self) -> None:
        """Skip white space and comments."""
        while self.pos < len(self.text):
            ch = self.text[self.pos]
            if ch.isspace():
                self.pos += 1
            elif self.peek(2) == "//":
                end = self.text.find("\n", self.pos)
                self.pos = len(self.text) if end < 0 else end + 1
            elif self.peek(2) == "/*":
                end = self.text.find("*/", self.pos + 2)
                if end < 0:
                    self.fail("unterminated comment")
                self.pos = end + 2
            else:
                return

    def expect(self, ch: str) -> None:
        self.skip()
        if self.peek() != ch:
            self.fail(f"expected {ch!r}")
        self.pos += 1

    # ------------------------------------------------------------------ values
    def value(self, in_sexp: bool = False) -> Any:
        while True:  # annotations: `symbol::` before the value, dropped
            start = self.pos
            name = self.symbol_text()
            if name is not None:
                self.skip()
                if self.peek(2) == "::":
                    self.pos += 2
                    self.skip()
                    continue
            self.pos = start
            break
        ch = self.peek()
        if not ch:
            self.fail("missing value")
        if self.peek(2) == "{{":
            return self.lob()
        if ch == "{":
            return self.struct()
        if ch == "[":
            return self.sequence("]", in_sexp=False)
        if ch == "(":
            return self.sequence(")", in_sexp=True)
        if ch == '"':
            return self.string()
        if self.peek(3) == "'''":
            return self.long_string()
        if ch == "'":
            return self.quoted_symbol()
        for word, special in (("+inf", float("inf")), ("-inf", float("-inf"))):
            if self.text.startswith(word, self.pos) and self.at_end_of_atom(self.pos + len(word)):
                self.pos += len(word)
                return special
        if ch.isdigit() or (ch in "+-." and self.peek(2)[1:].isdigit()):
            return self.number_or_timestamp()
        ident = _IDENT.match(self.text, self.pos)
        if ident:
            return self.keyword_or_symbol(ident.group(0))
        if in_sexp:
            op = _OPERATOR.match(self.text, self.pos)
            if op:
                self.pos = op.end()
                return op.group(0)
        self.fail(f"unexpected {ch!r}")

    def at_end_of_atom(self, pos: int) -> bool:
        return pos >= len(self.text) or self.text[pos] in _END_OF_ATOM

    def keyword_or_symbol(self, word: str) -> Any:
        self.pos += len(word)
        if word == "null":
            if self.peek() == "." and _IDENT.match(self.text, self.pos + 1):
                self.pos = _IDENT.match(self.text, self.pos + 1).end()  # null.string, null.int…
            return None
        return {"true": True, "false": False, "nan": float("nan")}.get(word, word)

    def number_or_timestamp(self) -> Any:
        stamp = _TIMESTAMP.match(self.text, self.pos)
        if stamp and self.at_end_of_atom(stamp.end()):
            self.pos = stamp.end()
            return stamp.group(0)
        number = _NUMBER.match(self.text, self.pos)
        if not number or not self.at_end_of_atom(number.end()):
            self.fail("malformed number or timestamp")
        self.pos = number.end()
        text = number.group(0).replace("_", "")
        low = text.lower()
        if "0x" in low:
            return int(low.replace("0x", ""), 16)
        if "0b" in low:
            return int(low.replace("0b", ""), 2)
        if any(c in low for c in ".de"):
            return float(low.replace("d", "e"))
        return int(text)

    def symbol_text(self) -> str | None:
        """A field name or annotation: identifier or 'quoted symbol'; None when neither."""
        if self.peek() == "'" and self.peek(3) != "'''":
            return self.quoted_symbol()
        ident = _IDENT.match(self.text, self.pos)
        if ident:
            self.pos = ident.end()
            return ident.group(0)
        return None

    def struct(self) -> dict[str, Any]:
        self.pos += 1
        out: dict[str, Any] = {}
        while True:
            self.skip()
            if self.peek() == "}":
                self.pos += 1
                return out
            if self.peek() == '"':
                name = self.string()
            elif self.peek(3) == "'''":
                name = self.long_string()
            else:
                name = self.symbol_text()
                if name is None:
                    self.fail("expected a field name")
            self.expect(":")
            self.skip()
            out[name] = self.value()
            self.skip()
            if self.peek() == ",":
                self.pos += 1
            elif self.peek() != "}":
                self.fail("expected ',' or '}' in struct")

    def sequence(self, close: str, in_sexp: bool) -> list[Any]:
        self.pos += 1
        out: list[Any] = []
        while True:
            self.skip()
            if self.peek() == close:
                self.pos += 1
                return out
            out.append(self.value(in_sexp=in_sexp))
            self.skip()
            if not in_sexp:
                if self.peek() == ",":
                    self.pos += 1
                elif self.peek() != close:
                    self.fail(f"expected ',' or {close!r} in list")

    def escaped(self, quote: str) -> str:
        """Characters up to the closing ``quote`` (one char), with ION's escapes."""
        self.pos += 1
        parts: list[str] = []
        while True:
            if self.pos >= len(self.text):
                self.fail("unterminated string")
            ch = self.text[self.pos]
            if ch == quote:
                self.pos += 1
                return "".join(parts)
            if ch == "\\":
                parts.append(self.escape())
            else:
                parts.append(ch)
                self.pos += 1

    def escape(self) -> str:
        code = self.text[self.pos + 1:self.pos + 2]
        self.pos += 2
        if code in _ESCAPES:
            return _ESCAPES[code]
        if code == "\n":  # an escaped new line joins the lines
            return ""
        width = {"x": 2, "u": 4, "U": 8}.get(code)
        digits = self.text[self.pos:self.pos + width] if width else ""
        if not width or not re.fullmatch(r"[0-9a-fA-F]+", digits) or len(digits) != width:
            self.fail("invalid escape in string")
        self.pos += width
        return chr(int(digits, 16))

    def string(self) -> str:
        return self.escaped('"')

    def quoted_symbol(self) -> str:
        return self.escaped("'")

    def long_string(self) -> str:
        """One or more adjacent ``'''…'''`` parts, concatenated."""
        parts: list[str] = []
        while self.peek(3) == "'''":
            self.pos += 3
            while not self.text.startswith("'''", self.pos):
                if self.pos >= len(self.text):
                    self.fail("unterminated long string")
                if self.text[self.pos] == "\\":
                    parts.append(self.escape())
                else:
                    parts.append(self.text[self.pos])
                    self.pos += 1
            self.pos += 3
            saved = self.pos
            self.skip()
            if self.peek(3) != "'''":
                self.pos = saved
        return "".join(parts)

    def lob(self) -> bytes | str:
        self.pos += 2
        self.skip()
        if self.peek() == '"' or self.peek(3) == "'''":  # clob: text
            text = self.string() if self.peek() == '"' else self.long_string()
            self.skip()
            if self.peek(2) != "}}":
                self.fail("expected '}}' after clob")
            self.pos += 2
            return text
        end = self.text.find("}}", self.pos)
        if end < 0:
            self.fail("unterminated blob")
        data = "".join(self.text[self.pos:end].split())
        self.pos = end + 2
        try:
            return base64.b64decode(data, validate=True)
        except ValueError:
            self.fail("invalid base64 in blob")
        raise AssertionError("unreachable")
