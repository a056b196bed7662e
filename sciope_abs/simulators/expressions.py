"""Safe parsing of propensity expressions.

A custom propensity is a string such as ``"alpha1 / (1 + pow(V, beta))"`` or
``"V4 * RP / (K4 + RP)"``.  It is parsed with Python's :mod:`ast` and checked against a whitelist;
it is never ``eval``-ed.  Allowed:

- numbers (int or float literals),
- names of species and parameters,
- binary ``+ - * / **``, unary ``-`` and ``+``, parentheses,
- calls of ``pow(a, b)``, ``exp(x)``, ``log(x)``, ``sqrt(x)``, ``abs(x)``, ``min(a, b, ...)`` and
  ``max(a, b, ...)``.

Anything else (attribute access, subscripts, other functions, keyword arguments, comparisons,
strings, lambdas, ...) raises a one-line ``ValueError`` naming the offending piece.  A parsed
:class:`Expression` can be translated to Python source (for the compiled SSA kernel) with every
name replaced by an array element, or evaluated directly on numpy arrays.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping, NoReturn

import numpy as np

__all__ = ["Expression", "parse_expression", "ALLOWED_FUNCTIONS"]

# name -> (min args, max args or None, numpy implementation, source template for the translator)
_FUNCTIONS: dict[str, tuple[int, int | None, Callable, str]] = {
    "pow": (2, 2, np.power, "(({0}) ** ({1}))"),
    "exp": (1, 1, np.exp, "math.exp({0})"),
    "log": (1, 1, np.log, "math.log({0})"),
    "sqrt": (1, 1, np.sqrt, "math.sqrt({0})"),
    "abs": (1, 1, np.abs, "abs({0})"),
    "min": (2, None, np.minimum, "min({args})"),
    "max": (2, None, np.maximum, "max({args})"),
}
ALLOWED_FUNCTIONS: tuple[str, ...] = tuple(_FUNCTIONS)

_BINOPS: dict[type, tuple[str, Callable]] = {
    ast.Add: ("+", np.add),
    ast.Sub: ("-", np.subtract),
    ast.Mult: ("*", np.multiply),
    ast.Div: ("/", np.true_divide),
    ast.Pow: ("**", np.power),
}
_UNARY: dict[type, tuple[str, Callable]] = {
    ast.USub: ("-", np.negative),
    ast.UAdd: ("+", np.positive),
}


def _describe(node: ast.AST, text: str) -> str:
    """The source fragment of ``node`` (or its node type when unavailable)."""
    frag = ast.get_source_segment(text, node)
    kind = type(node).__name__
    return f"{kind} {frag!r}" if frag else kind


def _checked_call(node: ast.AST) -> tuple[str, list[ast.expr]]:
    """The function name and arguments of a whitelisted call (what the parse-time check admits)."""
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _FUNCTIONS):
        raise TypeError(f"unexpected node in a checked expression: {ast.dump(node)}")
    return node.func.id, node.args


class _Checker:
    """Walks a parsed tree and refuses anything outside the whitelist."""

    def __init__(self, text: str, allowed_names: frozenset[str] | None):
        self.text = text
        self.allowed_names = allowed_names
        self.names: set[str] = set()
        self.functions: set[str] = set()

    def fail(self, what: str) -> NoReturn:
        raise ValueError(f"propensity {self.text!r}: {what} is not allowed "
                         f"(allowed: numbers, species/parameter names, + - * / **, "
                         f"{', '.join(ALLOWED_FUNCTIONS)})")

    def visit(self, node: ast.AST) -> None:
        if isinstance(node, ast.Constant):
            if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
                self.fail(f"the constant {node.value!r}")
        elif isinstance(node, ast.Name):
            if self.allowed_names is not None and node.id not in self.allowed_names:
                raise ValueError(f"propensity {self.text!r}: unknown name {node.id!r} "
                                 f"(not a species or parameter of the model)")
            self.names.add(node.id)
        elif isinstance(node, ast.BinOp):
            if type(node.op) not in _BINOPS:
                self.fail(f"the operator {type(node.op).__name__} in {_describe(node, self.text)}")
            self.visit(node.left)
            self.visit(node.right)
        elif isinstance(node, ast.UnaryOp):
            if type(node.op) not in _UNARY:
                self.fail(f"the operator {type(node.op).__name__} in {_describe(node, self.text)}")
            self.visit(node.operand)
        elif isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name):
                self.fail(f"the call {_describe(node, self.text)}")
            fname = node.func.id
            if fname not in _FUNCTIONS:
                raise ValueError(f"propensity {self.text!r}: unknown function {fname!r} "
                                 f"(allowed: {', '.join(ALLOWED_FUNCTIONS)})")
            if node.keywords:
                self.fail(f"a keyword argument in {_describe(node, self.text)}")
            lo, hi, _, _ = _FUNCTIONS[fname]
            nargs = len(node.args)
            if any(isinstance(a, ast.Starred) for a in node.args):
                self.fail(f"a starred argument in {_describe(node, self.text)}")
            if nargs < lo or (hi is not None and nargs > hi):
                want = f"{lo}" if hi == lo else f"at least {lo}"
                raise ValueError(f"propensity {self.text!r}: {fname}() takes {want} argument(s), got {nargs}")
            self.functions.add(fname)
            for a in node.args:
                self.visit(a)
        else:
            self.fail(_describe(node, self.text))


@dataclass(frozen=True)
class Expression:
    """A validated propensity expression.

    Attributes
    ----------
    text : str
        The original string.
    names : frozenset of str
        Species and parameter names it reads (function names excluded).
    functions : frozenset of str
        Whitelisted functions it calls.
    """

    text: str
    tree: ast.Expression
    names: frozenset[str]
    functions: frozenset[str]

    # ------------------------------------------------------------------ translation
    def to_source(self, lookup: Mapping[str, str]) -> str:
        """Python source of the expression with every name ``n`` replaced by ``lookup[n]``.

        Numbers become float literals and functions map to ``math``/builtins, so the result
        compiles under numba with float arithmetic (``pow`` becomes ``**``).
        """
        missing = sorted(self.names - set(lookup))
        if missing:
            raise ValueError(f"propensity {self.text!r}: no translation for name(s) {missing}")
        return self._src(self.tree.body, lookup)

    def _src(self, node: ast.AST, lookup: Mapping[str, str]) -> str:
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
            return repr(float(node.value))
        if isinstance(node, ast.Name):
            return lookup[node.id]
        if isinstance(node, ast.BinOp):
            op = _BINOPS[type(node.op)][0]
            return f"({self._src(node.left, lookup)} {op} {self._src(node.right, lookup)})"
        if isinstance(node, ast.UnaryOp):
            return f"({_UNARY[type(node.op)][0]}{self._src(node.operand, lookup)})"
        # a whitelisted call (checked at parse time)
        fname, call_args = _checked_call(node)
        template = _FUNCTIONS[fname][3]
        args = [self._src(a, lookup) for a in call_args]
        return template.format(*args, args=", ".join(args))

    # ------------------------------------------------------------------ evaluation
    def evaluate(self, values: Mapping[str, float | np.ndarray]) -> np.ndarray:
        """Evaluate with numpy (broadcasting over array values); float64 result.

        Parameters
        ----------
        values : mapping
            A value (scalar or array) for every name in :attr:`names`.
        """
        missing = sorted(self.names - set(values))
        if missing:
            raise ValueError(f"propensity {self.text!r}: no value for name(s) {missing}")
        with np.errstate(all="ignore"):
            return np.asarray(self._eval(self.tree.body, values), dtype=np.float64)

    def _eval(self, node: ast.AST, values: Mapping[str, float | np.ndarray]) -> Any:
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
            return np.float64(node.value)
        if isinstance(node, ast.Name):
            return np.asarray(values[node.id], dtype=np.float64)
        if isinstance(node, ast.BinOp):
            return _BINOPS[type(node.op)][1](self._eval(node.left, values), self._eval(node.right, values))
        if isinstance(node, ast.UnaryOp):
            return _UNARY[type(node.op)][1](self._eval(node.operand, values))
        fname, call_args = _checked_call(node)
        fn = _FUNCTIONS[fname][2]
        args = [self._eval(a, values) for a in call_args]
        out = args[0]
        if len(args) == 1:
            return fn(out)
        for a in args[1:]:
            out = fn(out, a)
        return out

    def __str__(self) -> str:
        return self.text


def parse_expression(text: str, names: Iterable[str] | None = None) -> Expression:
    """Parse and validate a propensity expression.

    Parameters
    ----------
    text : str
        The expression, e.g. ``"Vmax * S / (Km + S)"``.
    names : iterable of str, optional
        Names it may read (species and parameters).  When given, any other name is refused.

    Returns
    -------
    Expression

    Raises
    ------
    ValueError
        One line naming the offending piece: a syntax error, a disallowed construct, an unknown
        function or name, or a wrong number of arguments.
    """
    if not isinstance(text, str):
        raise ValueError(f"propensity must be a string, got {type(text).__name__}")
    if not text.strip():
        raise ValueError("propensity is an empty string")
    if "^" in text:
        raise ValueError(f"propensity {text!r}: '^' is not allowed; write powers as a ** b or pow(a, b)")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise ValueError(f"propensity {text!r} is not a valid expression: {exc.msg}") from None
    checker = _Checker(text.strip(), None if names is None else frozenset(names))
    checker.visit(tree.body)
    return Expression(text=text.strip(), tree=tree, names=frozenset(checker.names),
                      functions=frozenset(checker.functions))
