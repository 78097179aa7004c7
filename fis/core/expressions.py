"""Band math for spectral indices: a tokenizer, a recursive-descent parser and a numpy evaluator.

An expression such as ``(B08 - B11) / (B08 + B11)`` is parsed into a small tree of
:class:`Node` objects and evaluated over a dict of 1-D band arrays in float64. Nothing is ever
passed to ``eval``: the only things an expression may contain are band names (``B01`` ..
``B12``, ``B8A``, also ``b8``/``B08A`` and the STAC common names ``red``, ``nir``, ...),
numbers, the operators ``+ - * / **``, parentheses and the functions in :data:`FUNCTIONS`.
Anything else is an :class:`~fis.errors.InvalidInput` whose ``field`` is ``indices.<name>`` and
whose message names the offending token, its position and what is accepted.

Grammar (``**`` binds tighter than unary minus and is right-associative, as in Python)::

    expr   := term (("+" | "-") term)*
    term   := unary (("*" | "/") unary)*
    unary  := ("+" | "-") unary | power
    power  := atom ("**" unary)?
    atom   := NUMBER | BAND | FUNCTION "(" expr ("," expr)* ")" | "(" expr ")"
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final

import numpy as np

from fis.core.bands import normalise_band_name
from fis.core.limits import DEFAULT_MAX_EXPRESSION_LENGTH, ExpressionLimits, expression_limits
from fis.errors import InvalidInput

__all__ = [
    "BUILTIN_INDICES",
    "FUNCTIONS",
    "MAX_EXPRESSION_LENGTH",
    "IndexDefinition",
    "Node",
    "builtin_index",
    "custom_index",
    "parse_expression",
]

#: The default longest expression (``FIS_MAX_EXPRESSION_LENGTH``; the OpenAPI document states it).
MAX_EXPRESSION_LENGTH: Final = DEFAULT_MAX_EXPRESSION_LENGTH
#: Deepest nesting of parentheses, unary minus and powers (protects the recursive parser and evaluator).
MAX_DEPTH: Final = 40
NAME_RE: Final = re.compile(r"^[a-z][a-z0-9_]{0,39}$")

#: name -> (number of arguments, numpy implementation); evaluated in float64.
FUNCTIONS: Final[Mapping[str, tuple[int, Callable[..., np.ndarray]]]] = {
    "sqrt": (1, np.sqrt),
    "abs": (1, np.abs),
    "exp": (1, np.exp),
    "log": (1, np.log),
    "log10": (1, np.log10),
    "min": (2, np.minimum),
    "max": (2, np.maximum),
}

#: Built-in indices on L1C top-of-atmosphere reflectance (the same formulas as on L2A).
BUILTIN_INDICES: Final[Mapping[str, str]] = {
    "ndvi": "(B08 - B04) / (B08 + B04)",
    "ndwi": "(B03 - B08) / (B03 + B08)",  # McFeeters 1996 (water)
    "ndmi": "(B08 - B11) / (B08 + B11)",  # moisture (Gao's NDWI)
    "nbr": "(B08 - B12) / (B08 + B12)",  # normalised burn ratio
    "evi": "2.5 * (B08 - B04) / (B08 + 6 * B04 - 7.5 * B02 + 1)",
    "savi": "1.5 * (B08 - B04) / (B08 + B04 + 0.5)",  # L = 0.5
}

#: The built-ins are ours: the configured limits do not apply to them.
_BUILTIN: Final = ExpressionLimits(length=10_000, nodes=10_000)

ACCEPTED: Final = (
    "band names (B01..B12, B8A, or common names such as red, nir, swir16), numbers, "
    "the operators + - * / **, parentheses and the functions " + ", ".join(f"{f}()" for f in FUNCTIONS)
)


# --------------------------------------------------------------------------------- the tree


@dataclass(frozen=True)
class Node:
    """One node of a parsed expression.

    ``kind`` is ``"number"`` (``value``), ``"band"`` (``name``), ``"unary"`` (``op``, one
    argument), ``"binary"`` (``op``, two arguments) or ``"call"`` (``name``, arguments).
    """

    kind: str
    value: float = 0.0
    name: str = ""
    op: str = ""
    args: tuple[Node, ...] = ()

    def size(self) -> int:
        """The number of nodes of the tree (each is one pass over the pixels when evaluated)."""
        return 1 + sum(arg.size() for arg in self.args)

    def bands(self) -> frozenset[str]:
        """The band ids the expression reads."""
        if self.kind == "band":
            return frozenset({self.name})
        out: frozenset[str] = frozenset()
        for arg in self.args:
            out |= arg.bands()
        return out

    def evaluate(self, values: Mapping[str, np.ndarray]) -> np.ndarray | float:
        """Evaluate over band arrays (float64); NaN/inf where undefined, never an exception."""
        with np.errstate(all="ignore"):
            return self._eval(values)

    def _eval(self, values: Mapping[str, np.ndarray]) -> np.ndarray | float:
        if self.kind == "number":
            return self.value
        if self.kind == "band":
            return np.asarray(values[self.name], dtype=np.float64)
        args = [a._eval(values) for a in self.args]
        if self.kind == "unary":
            return -np.asarray(args[0], dtype=np.float64) if self.op == "-" else np.asarray(args[0], dtype=np.float64)
        if self.kind == "binary":
            left, right = np.asarray(args[0], dtype=np.float64), np.asarray(args[1], dtype=np.float64)
            if self.op == "+":
                return left + right
            if self.op == "-":
                return left - right
            if self.op == "*":
                return left * right
            if self.op == "/":
                return np.divide(left, right)
            return np.power(left, right)
        _, function = FUNCTIONS[self.name]
        return function(*(np.asarray(a, dtype=np.float64) for a in args))


@dataclass(frozen=True)
class IndexDefinition:
    """A named index: its expression text (as given, or the built-in's) and its parsed tree."""

    name: str
    expression: str
    tree: Node
    builtin: bool = False

    @property
    def bands(self) -> frozenset[str]:
        return self.tree.bands()

    def compute(self, values: Mapping[str, np.ndarray], size: int) -> np.ndarray | None:
        """Per-pixel values (float64, NaN where undefined); ``None`` when a band it needs is absent."""
        if not self.bands <= set(values):
            return None
        out = np.asarray(self.tree.evaluate(values), dtype=np.float64)
        if out.ndim == 0:  # a constant expression
            out = np.full(size, float(out))
        return np.where(np.isfinite(out), out, np.nan)


# ---------------------------------------------------------------------------------- parsing

_TOKEN_RE = re.compile(
    r"\s*(?:(?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)|(?P<name>[A-Za-z_][A-Za-z0-9_]*)|(?P<op>\*\*|[-+*/(),]))"
)


@dataclass(frozen=True)
class _Token:
    kind: str  # number | name | op | bad | end
    text: str
    position: int  # 1-based column of the token's first character


def _error(field: str, message: str) -> InvalidInput:
    return InvalidInput(f"{field}: {message}; an expression may contain {ACCEPTED}", field=field)


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN_RE.match(text, pos)
        if match is None or match.end() == pos:
            start = pos + len(text[pos:]) - len(text[pos:].lstrip())
            bad = text[start]
            # show the whole run of unexpected characters, e.g. "__import__" stays a name, "%" or "=="
            run = re.match(r"[^\sA-Za-z0-9_.()+\-*/,]+", text[start:])
            # the parser reports it when it gets there, so an earlier problem is named first
            tokens.append(_Token("bad", run.group(0) if run else bad, start + 1))
            break
        kind = match.lastgroup or "op"
        start = match.start(kind)
        tokens.append(_Token(kind, match.group(kind), start + 1))
        pos = match.end()
    tokens.append(_Token("end", "", len(text) + 1))
    return tokens


def _describe_token(token: _Token) -> str:
    return f"unexpected {token.text!r} at position {token.position}"


class _Parser:
    def __init__(self, tokens: list[_Token], field: str):
        self.tokens = tokens
        self.i = 0
        self.field = field
        self.depth = 0

    @property
    def current(self) -> _Token:
        return self.tokens[self.i]

    def _advance(self) -> _Token:
        token = self.tokens[self.i]
        self.i += 1
        return token

    def _unexpected(self, expected: str) -> InvalidInput:
        token = self.current
        if token.kind == "end":
            return _error(self.field, f"the expression ends too early (expected {expected})")
        if token.kind == "bad":
            return _error(self.field, _describe_token(token))
        return _error(self.field, f"{_describe_token(token)} (expected {expected})")

    def _enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise _error(self.field, f"the expression is nested more than {MAX_DEPTH} levels deep")

    def parse(self) -> Node:
        node = self.expr()
        if self.current.kind != "end":
            raise self._unexpected("an operator or the end of the expression")
        return node

    def expr(self) -> Node:
        self._enter()
        node = self.term()
        while self.current.kind == "op" and self.current.text in ("+", "-"):
            op = self._advance().text
            node = Node("binary", op=op, args=(node, self.term()))
        self.depth -= 1
        return node

    def term(self) -> Node:
        node = self.unary()
        while self.current.kind == "op" and self.current.text in ("*", "/"):
            op = self._advance().text
            node = Node("binary", op=op, args=(node, self.unary()))
        return node

    def unary(self) -> Node:
        if self.current.kind == "op" and self.current.text in ("+", "-"):
            op = self._advance().text
            self._enter()
            operand = self.unary()
            self.depth -= 1
            return Node("unary", op=op, args=(operand,))
        return self.power()

    def power(self) -> Node:
        base = self.atom()
        if self.current.kind == "op" and self.current.text == "**":
            self._advance()
            self._enter()
            exponent = self.unary()
            self.depth -= 1
            return Node("binary", op="**", args=(base, exponent))
        return base

    def atom(self) -> Node:
        token = self.current
        if token.kind == "number":
            self._advance()
            value = float(token.text)
            if not math.isfinite(value):
                raise _error(self.field, f"the number {token.text!r} at position {token.position} is too large")
            return Node("number", value=value)
        if token.kind == "name":
            self._advance()
            if token.text.lower() in FUNCTIONS and self.current.kind == "op" and self.current.text == "(":
                return self._call(token)
            band = normalise_band_name(token.text)
            if band is None or token.text.lower() in FUNCTIONS:
                is_function = token.text.lower() in FUNCTIONS
                what = "a function that needs parentheses" if is_function else "not a band or a function"
                raise _error(self.field, f"unknown name {token.text!r} at position {token.position} ({what})")
            return Node("band", name=band)
        if token.kind == "op" and token.text == "(":
            self._advance()
            node = self.expr()
            if not (self.current.kind == "op" and self.current.text == ")"):
                raise self._unexpected("')'")
            self._advance()
            return node
        raise self._unexpected("a band name, a number, a function or '('")

    def _call(self, token: _Token) -> Node:
        name = token.text.lower()
        arity, _ = FUNCTIONS[name]
        self._advance()  # "("
        args = [self.expr()]
        while self.current.kind == "op" and self.current.text == ",":
            self._advance()
            args.append(self.expr())
        if not (self.current.kind == "op" and self.current.text == ")"):
            raise self._unexpected("',' or ')'")
        self._advance()
        if len(args) != arity:
            raise _error(
                self.field,
                f"{name}() at position {token.position} takes {arity} argument{'s' if arity > 1 else ''}, "
                f"got {len(args)}",
            )
        return Node("call", name=name, args=tuple(args))


def parse_expression(text: object, *, field: str = "expression", limits: ExpressionLimits | None = None) -> Node:
    """Parse band math into a :class:`Node` tree, or raise :class:`InvalidInput` naming the problem.

    ``limits``: the longest text and the most nodes (default: those in effect, :func:`expression_limits`).
    """
    if not isinstance(text, str):
        raise _error(
            field,
            f"must be a string holding band math such as \"(B08 - B11) / (B08 + B11)\", got {type(text).__name__}",
        )
    if not text.strip():
        raise _error(field, "the expression is empty")
    limits = limits or expression_limits()
    if len(text) > limits.length:
        raise _error(
            field, f"the expression is {len(text)} characters long; the limit is {limits.length} "
            "(FIS_MAX_EXPRESSION_LENGTH)",
        )
    tree = _Parser(_tokenize(text), field).parse()
    if tree.size() > limits.nodes:
        raise _error(
            field, f"the expression has {tree.size()} operations (numbers, bands, operators and functions); "
            f"the limit is {limits.nodes} (FIS_MAX_EXPRESSION_NODES): simplify it",
        )
    if not tree.bands():
        raise _error(field, f"{text!r} uses no band; an index must read at least one band")
    return tree


def builtin_index(name: str, *, field: str = "indices") -> IndexDefinition:
    """The built-in index ``name`` (case-insensitive), or :class:`InvalidInput` listing them."""
    key = name.lower() if isinstance(name, str) else name
    if key not in BUILTIN_INDICES:
        raise InvalidInput(
            f"{field}: unknown index {name!r}; built-in indices are {', '.join(BUILTIN_INDICES)}; define your own "
            'as {"<name>": "<band math>"}, e.g. {"my_ratio": "(B08 - B11) / (B08 + B11)"}',
            field=field,
            details={"accepted": list(BUILTIN_INDICES)},
        )
    expression = BUILTIN_INDICES[key]
    return IndexDefinition(name=key, expression=expression, tree=parse_expression(expression, limits=_BUILTIN),
                           builtin=True)


def custom_index(name: object, expression: object) -> IndexDefinition:
    """A user-defined index: ``name`` is a lower-case identifier, ``expression`` band math."""
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise InvalidInput(
            f"indices: {name!r} is not a valid index name; use 1-40 lower-case letters, digits or '_', "
            "starting with a letter (it becomes the CSV column prefix, e.g. my_ratio_mean)",
            field=f"indices.{name}",
        )
    field = f"indices.{name}"
    if name in BUILTIN_INDICES:
        if expression is None:
            return builtin_index(name, field=field)
        raise InvalidInput(
            f"{field}: {name!r} is a built-in index ({BUILTIN_INDICES[name]}); give it as null or in a list, "
            "or choose another name for your expression",
            field=field,
        )
    if expression is None:
        raise InvalidInput(
            f"{field}: {name!r} is not a built-in index ({', '.join(BUILTIN_INDICES)}); give its band math, "
            'e.g. "(B08 - B11) / (B08 + B11)"',
            field=field,
        )
    return IndexDefinition(name=name, expression=str(expression), tree=parse_expression(expression, field=field))
