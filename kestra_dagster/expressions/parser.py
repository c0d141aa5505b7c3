"""AST and parser for Kestra's Pebble dialect.

Expressions use Pebble's precedence-climbing rules and numbers (``CoreExtension`` plus
Kestra's ``??``/``???`` at 120), so ``a ~ b | upper`` filters the concatenation and
``x ?? 'd' == 'd'`` compares the coalesced value, exactly as Kestra does:

    or 10 · and 15 · is / is not / contains 20 · == != < > <= >= equals 30 · + - 40
    * / % 60 · | (filter) 100 · ~ 110 · .. ?? ??? 120 · unary not + - 500

The ternary ``c ? a : b`` (and our extra elvis ``a ?: b``) is only recognised at the top of
an expression, as in Pebble. Nesting depth is capped so hostile templates raise
:class:`ExpressionError` instead of exhausting the Python stack.
"""

from __future__ import annotations

from typing import Any

from kestra_dagster.errors import ExpressionError

import kestra_dagster.expressions.lexer as L
from .lexer import Token, syntax_error

#: Nesting budget shared by brackets, tags and operator chains: it bounds both parsing and the
#: evaluator's recursion (an AST can never be deeper than this).
MAX_PARSE_DEPTH = 100

BINARY_PRECEDENCE = {
    "or": 10,
    "and": 15,
    "is": 20,
    "contains": 20,
    "==": 30,
    "equals": 30,
    "!=": 30,
    "<": 30,
    ">": 30,
    "<=": 30,
    ">=": 30,
    "+": 40,
    "-": 40,
    "*": 60,
    "/": 60,
    "%": 60,
    "|": 100,
    "~": 110,
    "..": 120,
    "??": 120,
    "???": 120,
}
UNARY_PRECEDENCE = {"not": 500, "-": 500, "+": 500}
RESERVED_NAMES = frozenset({"true", "false", "null", "none", "TRUE", "FALSE", "NULL", "NONE"})
UNSUPPORTED_TAGS = frozenset(
    {"macro", "import", "from", "include", "extends", "block", "embed", "parallel", "cache", "flush", "autoescape"}
)


# ====================================================================== expression nodes
class Node:
    __slots__ = ("pos",)


class Literal(Node):
    __slots__ = ("value",)

    def __init__(self, value: Any, pos: int):
        self.value, self.pos = value, pos


class ListExpr(Node):
    __slots__ = ("items",)

    def __init__(self, items: list, pos: int):
        self.items, self.pos = items, pos


class MapExpr(Node):
    __slots__ = ("pairs",)

    def __init__(self, pairs: list, pos: int):
        self.pairs, self.pos = pairs, pos


class Name(Node):
    __slots__ = ("name",)

    def __init__(self, name: str, pos: int):
        self.name, self.pos = name, pos


class Attr(Node):
    """``obj.name``: a map key, or one of the few whitelisted properties of other values."""

    __slots__ = ("obj", "name")

    def __init__(self, obj: Node, name: str, pos: int):
        self.obj, self.name, self.pos = obj, name, pos


class Item(Node):
    """``obj[key]``."""

    __slots__ = ("obj", "key")

    def __init__(self, obj: Node, key: Node, pos: int):
        self.obj, self.key, self.pos = obj, key, pos


class Method(Node):
    """``obj.name(args)``: only whitelisted, side-effect-free Java-style methods."""

    __slots__ = ("obj", "name", "args")

    def __init__(self, obj: Node, name: str, args: list, pos: int):
        self.obj, self.name, self.args, self.pos = obj, name, args, pos


class Call(Node):
    __slots__ = ("name", "args", "kwargs")

    def __init__(self, name: str, args: list, kwargs: dict, pos: int):
        self.name, self.args, self.kwargs, self.pos = name, args, kwargs, pos


class FilterCall(Node):
    __slots__ = ("node", "name", "args", "kwargs")

    def __init__(self, node: Node, name: str, args: list, kwargs: dict, pos: int):
        self.node, self.name, self.args, self.kwargs, self.pos = node, name, args, kwargs, pos


class TestCall(Node):
    __slots__ = ("node", "name", "args", "negated")

    def __init__(self, node: Node, name: str, args: list, negated: bool, pos: int):
        self.node, self.name, self.args, self.negated, self.pos = node, name, args, negated, pos


class Unary(Node):
    __slots__ = ("op", "operand")

    def __init__(self, op: str, operand: Node, pos: int):
        self.op, self.operand, self.pos = op, operand, pos


class BinOp(Node):
    __slots__ = ("op", "left", "right")

    def __init__(self, op: str, left: Node, right: Node, pos: int):
        self.op, self.left, self.right, self.pos = op, left, right, pos


class Coalesce(Node):
    """``??`` (undefined or null → right) and ``???`` (undefined only → right)."""

    __slots__ = ("left", "right", "undefined_only")

    def __init__(self, left: Node, right: Node, undefined_only: bool, pos: int):
        self.left, self.right, self.undefined_only, self.pos = left, right, undefined_only, pos


class Ternary(Node):
    __slots__ = ("cond", "then", "otherwise")

    def __init__(self, cond: Node, then: Node, otherwise: Node, pos: int):
        self.cond, self.then, self.otherwise, self.pos = cond, then, otherwise, pos


class Elvis(Node):
    """``a ?: b``: ``a`` when defined and truthy, else ``b`` (Twig's operator; Pebble lacks it)."""

    __slots__ = ("left", "right")

    def __init__(self, left: Node, right: Node, pos: int):
        self.left, self.right, self.pos = left, right, pos


# ====================================================================== template nodes
class Text(Node):
    __slots__ = ("text",)

    def __init__(self, text: str, pos: int):
        self.text, self.pos = text, pos


class Output(Node):
    """``{{ expr }}``; ``start``/``end`` delimit its source for error messages."""

    __slots__ = ("expr", "start", "end")

    def __init__(self, expr: Node, start: int, end: int):
        self.expr, self.start, self.end, self.pos = expr, start, end, start


class If(Node):
    __slots__ = ("branches", "otherwise", "start", "end")

    def __init__(self, branches: list, otherwise: list | None, start: int, end: int):
        self.branches, self.otherwise, self.start, self.end, self.pos = branches, otherwise, start, end, start


class For(Node):
    __slots__ = ("targets", "iterable", "body", "otherwise", "start", "end")

    def __init__(self, targets: list[str], iterable: Node, body: list, otherwise: list | None, start: int, end: int):
        self.targets, self.iterable, self.body, self.otherwise = targets, iterable, body, otherwise
        self.start, self.end, self.pos = start, end, start


class Set(Node):
    __slots__ = ("name", "expr", "start", "end")

    def __init__(self, name: str, expr: Node, start: int, end: int):
        self.name, self.expr, self.start, self.end, self.pos = name, expr, start, end, start


class FilterBlock(Node):
    """``{% filter upper %}…{% endfilter %}``: the rendered body goes through the filters."""

    __slots__ = ("filters", "body", "start", "end")

    def __init__(self, filters: list, body: list, start: int, end: int):
        self.filters, self.body, self.start, self.end, self.pos = filters, body, start, end, start


class Template:
    """A parsed template: immutable, safe to cache and share between threads."""

    __slots__ = ("source", "body")

    def __init__(self, source: str, body: list[Node]):
        self.source = source
        self.body = body

    def single_output(self) -> Output | None:
        """The lone ``{{ expr }}`` when the template is only that (plus whitespace)."""
        found = None
        for node in self.body:
            if isinstance(node, Text) and not node.text.strip():
                continue
            if isinstance(node, Output) and found is None:
                found = node
                continue
            return None
        return found


# ====================================================================== describe
def describe(node: Node) -> str:
    """Source-like text for a node, used in messages such as ``'outputs.t1' has no attribute``."""
    if isinstance(node, Name):
        return node.name
    if isinstance(node, Attr):
        return f"{describe(node.obj)}.{node.name}"
    if isinstance(node, Item):
        key = node.key
        inner = repr(key.value) if isinstance(key, Literal) else describe(key)
        return f"{describe(node.obj)}[{inner}]"
    if isinstance(node, Method):
        return f"{describe(node.obj)}.{node.name}(…)"
    if isinstance(node, Call):
        return f"{node.name}(…)"
    if isinstance(node, FilterCall):
        return f"{describe(node.node)} | {node.name}"
    if isinstance(node, Literal):
        return repr(node.value)
    return "expression"


# ====================================================================== parser
class Parser:
    def __init__(self, source: str, tokens: list[Token], max_depth: int = MAX_PARSE_DEPTH):
        self.src = source
        self.tokens = tokens
        self.i = 0
        self.depth = 0
        self.max_depth = max_depth

    # ------------------------------------------------------------------ token helpers
    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def peek(self, offset: int = 1) -> Token:
        j = min(self.i + offset, len(self.tokens) - 1)
        return self.tokens[j]

    def advance(self) -> Token:
        tok = self.tokens[self.i]
        if tok.kind != L.EOF:
            self.i += 1
        return tok

    def error(self, message: str, tok: Token | None = None) -> ExpressionError:
        tok = tok or self.tok
        return syntax_error(self.src, message, tok.pos)

    def unexpected(self, expected: str = "") -> ExpressionError:
        tok = self.tok
        what = "end of template" if tok.kind == L.EOF else f"token {tok.describe()}"
        hint = f" (expected {expected})" if expected else ""
        return self.error(f"unexpected {what}{hint}")

    def expect(self, kind: str, value: str | None = None, what: str = "") -> Token:
        tok = self.tok
        if tok.kind != kind or (value is not None and tok.value != value):
            raise self.unexpected(what or (f"'{value}'" if value else kind.lower()))
        return self.advance()

    def enter(self) -> None:
        self.depth += 1
        if self.depth > self.max_depth:
            raise self.error(f"template nested too deeply (more than {self.max_depth} levels)")

    def leave(self) -> None:
        self.depth -= 1

    # ------------------------------------------------------------------ templates
    def parse_template(self) -> Template:
        body, end = self.parse_body(())
        if end is not None:  # pragma: no cover - parse_body only stops on EOF at top level
            raise self.unexpected()
        return Template(self.src, body)

    def parse_body(self, stop_tags: tuple[str, ...]) -> tuple[list[Node], str | None]:
        """Nodes up to one of ``stop_tags`` (returned, its name consumed) or EOF (None)."""
        body: list[Node] = []
        while True:
            tok = self.tok
            kind = tok.kind
            if kind == L.TEXT:
                body.append(Text(tok.value, tok.pos))
                self.advance()
            elif kind == L.PRINT_START:
                self.advance()
                if self.tok.is_(L.PRINT_END):
                    raise self.error("empty expression '{{ }}'", tok)
                expr = self.parse_expression()
                end = self.expect(L.PRINT_END, what="'}}'")
                body.append(Output(expr, tok.pos, end.pos + 2))
            elif kind == L.TAG_START:
                name_tok = self.peek()
                name = name_tok.value if name_tok.kind in (L.NAME, L.OP) else None
                if name in stop_tags:
                    self.advance()
                    self.advance()
                    return body, name
                body.append(self.parse_tag())
            elif kind == L.EOF:
                if stop_tags:
                    raise self.error(f"missing '{{% {stop_tags[-1]} %}}'")
                return body, None
            else:
                raise self.unexpected()

    def parse_tag(self) -> Node:
        start = self.expect(L.TAG_START)
        tok = self.tok
        if tok.kind != L.NAME:
            raise self.unexpected("a tag name")
        name = tok.value
        self.advance()
        self.enter()
        try:
            if name == "if":
                return self._parse_if(start)
            if name == "for":
                return self._parse_for(start)
            if name == "set":
                return self._parse_set(start)
            if name == "filter":
                return self._parse_filter_block(start)
            if name in ("elseif", "elif", "else", "endif", "endfor", "endfilter"):
                raise self.error(f"'{{% {name} %}}' without a matching opening tag", tok)
            if name in UNSUPPORTED_TAGS:
                raise self.error(f"tag '{name}' is not supported in Kestra expressions", tok)
            raise self.error(f"unknown tag '{name}'", tok)
        finally:
            self.leave()

    def _tag_end(self) -> Token:
        return self.expect(L.TAG_END, what="'%}'")

    def _parse_if(self, start: Token) -> If:
        branches = []
        cond = self.parse_expression()
        self._tag_end()
        otherwise = None
        while True:
            body, end = self.parse_body(("elseif", "elif", "else", "endif"))
            branches.append((cond, body))
            # parse_body consumed TAG_START and the tag name
            if end in ("elseif", "elif"):
                cond = self.parse_expression()
                self._tag_end()
                continue
            if end == "else":
                self._tag_end()
                otherwise, _ = self.parse_body(("endif",))
            last = self._tag_end()
            return If(branches, otherwise, start.pos, last.pos + 2)

    def _parse_for(self, start: Token) -> For:
        targets = [self._new_name()]
        if self.tok.is_(L.PUNCT, ","):
            self.advance()
            targets.append(self._new_name())
        tok = self.tok
        if not (tok.kind == L.NAME and tok.value == "in"):
            raise self.unexpected("'in'")
        self.advance()
        iterable = self.parse_expression()
        self._tag_end()
        body, end = self.parse_body(("else", "endfor"))
        otherwise = None
        if end == "else":
            self._tag_end()
            otherwise, _ = self.parse_body(("endfor",))
        last = self._tag_end()
        return For(targets, iterable, body, otherwise, start.pos, last.pos + 2)

    def _parse_set(self, start: Token) -> Set:
        name = self._new_name()
        self.expect(L.PUNCT, "=")
        expr = self.parse_expression()
        end = self._tag_end()
        return Set(name, expr, start.pos, end.pos + 2)

    def _parse_filter_block(self, start: Token) -> FilterBlock:
        filters = [self._filter_invocation()]
        while self.tok.is_(L.OP, "|"):
            self.advance()
            filters.append(self._filter_invocation())
        self._tag_end()
        body, _ = self.parse_body(("endfilter",))
        last = self._tag_end()
        return FilterBlock(filters, body, start.pos, last.pos + 2)

    def _new_name(self) -> str:
        tok = self.tok
        if tok.kind != L.NAME:
            raise self.unexpected("a variable name")
        if tok.value in RESERVED_NAMES:
            raise self.error(f"cannot assign to '{tok.value}'")
        if tok.value.startswith("_"):
            raise self.error(f"variable names cannot start with '_' ('{tok.value}')")
        self.advance()
        return tok.value

    # ------------------------------------------------------------------ expressions
    def parse_expression(self, min_prec: int = 0) -> Node:
        self.enter()
        try:
            return self._parse_expression(min_prec)
        finally:
            self.leave()

    def _parse_expression(self, min_prec: int) -> Node:
        chained = [0]
        try:
            return self._parse_chain(min_prec, chained)
        finally:
            self.depth -= chained[0]

    def _parse_chain(self, min_prec: int, chained: list[int]) -> Node:
        tok = self.tok
        if tok.kind == L.OP and tok.value in UNARY_PRECEDENCE:
            self.advance()
            operand = self.parse_expression(UNARY_PRECEDENCE[tok.value])
            left: Node = Unary(tok.value, operand, tok.pos)
        else:
            left = self.parse_primary()

        while True:
            tok = self.tok
            if tok.kind != L.OP or tok.value not in BINARY_PRECEDENCE:
                break
            prec = BINARY_PRECEDENCE[tok.value]
            if prec < min_prec:
                break
            op = tok.value
            self.enter()  # each chained operator deepens the tree by one level
            chained[0] += 1
            self.advance()
            if op == "|":
                name, args, kwargs, pos = self._filter_invocation()
                left = FilterCall(left, name, args, kwargs, pos)
            elif op == "is":
                negated = False
                if self.tok.is_(L.OP, "not"):
                    self.advance()
                    negated = True
                name_tok = self.tok
                if name_tok.kind == L.NAME:
                    name = name_tok.value
                elif name_tok.kind == L.OP and name_tok.value in L.WORD_OPERATORS:
                    name = name_tok.value
                else:
                    raise self.unexpected("a test name such as 'defined' or 'null'")
                self.advance()
                args = []
                if self.tok.is_(L.PUNCT, "("):
                    args, kwargs = self._arguments()
                    if kwargs:
                        raise self.error("tests take no named arguments", name_tok)
                left = TestCall(left, name, args, negated, name_tok.pos)
            else:
                right = self.parse_expression(prec + 1)
                if op in ("??", "???"):
                    left = Coalesce(left, right, op == "???", tok.pos)
                elif op == "and" or op == "or":
                    left = BinOp(op, left, right, tok.pos)
                else:
                    left = BinOp("==" if op == "equals" else op, left, right, tok.pos)

        if min_prec == 0 and self.tok.is_(L.PUNCT, "?"):
            q = self.advance()
            if self.tok.is_(L.PUNCT, ":"):
                self.advance()
                return Elvis(left, self.parse_expression(), q.pos)
            then = self.parse_expression()
            self.expect(L.PUNCT, ":", what="':' of the ternary operator")
            otherwise = self.parse_expression()
            return Ternary(left, then, otherwise, q.pos)
        return left

    def _filter_invocation(self) -> tuple[str, list, dict, int]:
        tok = self.tok
        if tok.kind != L.NAME:
            raise self.unexpected("a filter name after '|'")
        self.advance()
        args: list = []
        kwargs: dict = {}
        if self.tok.is_(L.PUNCT, "("):
            args, kwargs = self._arguments()
        return tok.value, args, kwargs, tok.pos

    def _arguments(self) -> tuple[list, dict]:
        self.expect(L.PUNCT, "(")
        args: list = []
        kwargs: dict = {}
        first = True
        while not self.tok.is_(L.PUNCT, ")"):
            if not first:
                self.expect(L.PUNCT, ",", what="',' or ')'")
            first = False
            if self.tok.kind == L.NAME and self.peek().is_(L.PUNCT, "="):
                name = self.advance().value
                self.advance()
                if name in kwargs:
                    raise self.error(f"argument '{name}' given twice")
                kwargs[name] = self.parse_expression()
            else:
                if kwargs:
                    raise self.error("positional arguments must come before named arguments")
                args.append(self.parse_expression())
        self.expect(L.PUNCT, ")")
        return args, kwargs

    def parse_primary(self) -> Node:
        tok = self.tok
        kind = tok.kind
        if kind == L.PUNCT:
            if tok.value == "(":
                self.advance()
                node = self.parse_expression()
                self.expect(L.PUNCT, ")")
                return self.parse_postfix(node)
            if tok.value == "[":
                return self.parse_postfix(self._list_literal())
            if tok.value == "{":
                return self.parse_postfix(self._map_literal())
            raise self.unexpected("an expression")
        if kind == L.NUMBER:
            self.advance()
            return self.parse_postfix(Literal(tok.value, tok.pos))
        if kind == L.STRING:
            return self.parse_postfix(self._string())
        if kind == L.NAME:
            self.advance()
            value = tok.value
            if value in ("true", "TRUE"):
                return Literal(True, tok.pos)
            if value in ("false", "FALSE"):
                return Literal(False, tok.pos)
            if value in ("null", "NULL", "none", "NONE"):
                return Literal(None, tok.pos)
            if self.tok.is_(L.PUNCT, "("):
                args, kwargs = self._arguments()
                return self.parse_postfix(Call(value, args, kwargs, tok.pos))
            return self.parse_postfix(Name(value, tok.pos))
        raise self.unexpected("an expression")

    def _string(self) -> Node:
        tok = self.advance()
        node: Node = Literal(tok.value, tok.pos)
        while self.tok.kind == L.INTERP_START:
            self.advance()
            expr = self.parse_expression()
            self.expect(L.INTERP_END, what="'}' closing '#{'")
            node = BinOp("~", node, expr, tok.pos)
            if self.tok.kind == L.STRING:
                nxt = self.advance()
                node = BinOp("~", node, Literal(nxt.value, nxt.pos), tok.pos)
        return node

    def _list_literal(self) -> Node:
        start = self.expect(L.PUNCT, "[")
        items: list[Node] = []
        while not self.tok.is_(L.PUNCT, "]"):
            if items:
                self.expect(L.PUNCT, ",", what="',' or ']'")
                if self.tok.is_(L.PUNCT, "]"):  # trailing comma
                    break
            items.append(self.parse_expression())
        self.expect(L.PUNCT, "]")
        return ListExpr(items, start.pos)

    def _map_literal(self) -> Node:
        start = self.expect(L.PUNCT, "{")
        pairs: list[tuple[Node, Node]] = []
        while not self.tok.is_(L.PUNCT, "}"):
            if pairs:
                self.expect(L.PUNCT, ",", what="',' or '}'")
                if self.tok.is_(L.PUNCT, "}"):
                    break
            key = self.parse_expression()
            self.expect(L.PUNCT, ":", what="':' after a map key")
            pairs.append((key, self.parse_expression()))
        self.expect(L.PUNCT, "}")
        return MapExpr(pairs, start.pos)

    def parse_postfix(self, node: Node) -> Node:
        entered = [0]
        try:
            return self._parse_postfix(node, entered)
        finally:
            self.depth -= entered[0]

    def _parse_postfix(self, node: Node, entered: list[int]) -> Node:
        while True:
            tok = self.tok
            if tok.kind != L.PUNCT:
                return node
            if tok.value in (".", "["):
                self.enter()
                entered[0] += 1
            if tok.value == ".":
                self.advance()
                name_tok = self.tok
                if name_tok.kind == L.NAME or (name_tok.kind == L.OP and name_tok.value in L.WORD_OPERATORS):
                    name = name_tok.value
                elif name_tok.kind == L.NUMBER and isinstance(name_tok.value, int):
                    name = str(name_tok.value)  # ``list.0`` reads index 0
                else:
                    raise self.unexpected("an attribute name after '.'")
                self.advance()
                if self.tok.is_(L.PUNCT, "("):
                    args, kwargs = self._arguments()
                    if kwargs:
                        raise self.error("methods take no named arguments", name_tok)
                    node = Method(node, name, args, name_tok.pos)
                else:
                    node = Attr(node, name, name_tok.pos)
            elif tok.value == "[":
                self.advance()
                key = self.parse_expression()
                self.expect(L.PUNCT, "]")
                node = Item(node, key, tok.pos)
            else:
                return node


def parse(source: str, max_depth: int = MAX_PARSE_DEPTH) -> Template:
    """Parse ``source`` into a :class:`Template`; raises :class:`ExpressionError`."""
    return Parser(source, L.tokenize(source), max_depth).parse_template()
