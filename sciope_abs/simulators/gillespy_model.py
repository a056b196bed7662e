"""Translate a :class:`~sciope_abs.crn.CRN` into a ``gillespy2.Model``.

The translation keeps the CRN's semantics in every GillesPy2 solver, C++ and Python alike:

* a mass-action reaction has propensity ``rate * prod_i C(x_i, k_i)`` (binomial coefficients,
  as documented on :class:`~sciope_abs.crn.Reaction`).  GillesPy2's own mass-action law for
  ``2 X`` is ``rate * X * (X - 1)`` (no ``/ 2``), so reactions with a coefficient above 1 or more
  than two reactant molecules are written out as custom propensities;
* custom propensity expressions are checked against the model's names and rewritten so that
  C++ and Python evaluate them the same way: number literals become floats (no C++ integer
  division), species counts are promoted to floating point (no unsigned wrap-around in
  ``K - X``), ``min``/``max`` become ``abs`` arithmetic (the C++ solvers do not know them), and,
  for the Python solvers, ``exp``/``sqrt`` become ``pow`` (their evaluation namespace has no
  ``math``).

Nothing here runs a simulation; :mod:`sciope_abs.simulators.gillespy` caches compiled solvers.
"""
from __future__ import annotations

import ast
import hashlib
import json
import math
import warnings
from typing import Any, Mapping, NoReturn, Sequence

import numpy as np

from ..crn.model import CRN, Reaction

__all__ = ["ALLOWED_FUNCTIONS", "translate_propensity", "structure_hash", "to_gillespy_model"]

#: Functions a custom propensity may call, with their number of arguments (None: 2 or more).
ALLOWED_FUNCTIONS: dict[str, int | None] = {
    "pow": 2, "exp": 1, "log": 1, "sqrt": 1, "abs": 1, "min": None, "max": None,
}

_BINOPS = (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Pow)
_UNARYOPS = (ast.UAdd, ast.USub)


def _num(x: float) -> ast.Constant:
    return ast.Constant(value=float(x))


def _call(name: str, args: list[ast.expr]) -> ast.Call:
    return ast.Call(func=ast.Name(id=name, ctx=ast.Load()), args=args, keywords=[])


class _Rewriter(ast.NodeTransformer):
    """Validate a propensity AST and rewrite it for one GillesPy2 target ("c" or "python")."""

    def __init__(self, species: set[str], parameters: set[str], target: str, where: str):
        self.species = species
        self.parameters = parameters
        self.target = target
        self.where = where

    def _fail(self, what: str) -> NoReturn:
        raise ValueError(f"{self.where}: {what}")

    def visit_Expression(self, node: ast.Expression) -> ast.AST:
        node.body = self.visit(node.body)
        return node

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        if not isinstance(node.op, _BINOPS):
            self._fail(f"operator {type(node.op).__name__} is not allowed (use + - * / **)")
        node.left = self.visit(node.left)
        node.right = self.visit(node.right)
        return node

    def visit_UnaryOp(self, node: ast.UnaryOp) -> ast.AST:
        if not isinstance(node.op, _UNARYOPS):
            self._fail(f"operator {type(node.op).__name__} is not allowed")
        node.operand = self.visit(node.operand)
        return node

    def visit_Constant(self, node: ast.Constant) -> ast.AST:
        if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
            self._fail(f"constant {node.value!r} is not a number")
        return _num(node.value)

    def visit_Name(self, node: ast.Name) -> ast.AST:
        if node.id in self.species:
            # 1.0 * X: a double in C++ (species counts are unsigned ints there)
            return ast.BinOp(left=_num(1.0), op=ast.Mult(), right=ast.Name(id=node.id, ctx=ast.Load()))
        if node.id in self.parameters:
            return node
        self._fail(f"unknown name {node.id!r} (not a species or parameter of the model)")

    def visit_Call(self, node: ast.Call) -> ast.AST:
        if not isinstance(node.func, ast.Name) or node.func.id not in ALLOWED_FUNCTIONS or node.keywords:
            self._fail(f"call {ast.unparse(node.func)}(...) is not allowed; functions: {sorted(ALLOWED_FUNCTIONS)}")
        name = node.func.id
        nargs = ALLOWED_FUNCTIONS[name]
        if (nargs is None and len(node.args) < 2) or (nargs is not None and len(node.args) != nargs):
            self._fail(f"{name}() called with {len(node.args)} argument(s)")
        args = [self.visit(a) for a in node.args]
        if name in ("min", "max"):
            # min(a, b) = (a + b - |a - b|) / 2, max(a, b) = (a + b + |a - b|) / 2, folded left
            out = args[0]
            for b in args[1:]:
                spread = _call("abs", [ast.BinOp(left=out, op=ast.Sub(), right=b)])
                total = ast.BinOp(left=out, op=ast.Add(), right=b)
                op = ast.Sub() if name == "min" else ast.Add()
                out = ast.BinOp(left=ast.BinOp(left=total, op=op, right=spread), op=ast.Mult(), right=_num(0.5))
            return out
        if self.target == "python":
            if name == "exp":
                return _call("pow", [_num(math.e), args[0]])
            if name == "sqrt":
                return _call("pow", [args[0], _num(0.5)])
            if name == "log":
                self._fail("log() cannot be evaluated by GillesPy2's Python solvers; use a C++ solver "
                           "(ssa, tau, hybrid, ode)")
        return _call(name, args)

    def generic_visit(self, node: ast.AST) -> ast.AST:
        self._fail(f"{type(node).__name__} is not allowed in a propensity expression")


def translate_propensity(expression: str, species: Sequence[str], parameters: Sequence[str], *,
                         target: str = "c", where: str = "propensity") -> str:
    """Check a custom propensity and rewrite it for a GillesPy2 solver family.

    Parameters
    ----------
    expression : str
        Python-syntax arithmetic of species and parameter names (``+ - * / **``, ``pow``,
        ``exp``, ``log``, ``sqrt``, ``abs``, ``min``, ``max``).
    species, parameters : sequence of str
        The names the expression may use.
    target : {"c", "python"}
        GillesPy2's C++ solvers or its Python (NumPy) solvers.
    where : str
        Prefix of the error message (e.g. ``"model 'x', reaction 'r1'"``).

    Returns
    -------
    str
        An expression with the same value that both families evaluate identically.

    Raises
    ------
    ValueError
        Syntax error, unknown name, or an operation outside the allowed set.
    """
    if target not in ("c", "python"):
        raise ValueError(f"target must be 'c' or 'python', got {target!r}")
    try:
        tree = ast.parse(str(expression).strip(), mode="eval")
    except SyntaxError as exc:
        raise ValueError(f"{where}: cannot parse propensity {expression!r}: {exc.msg}") from None
    tree = _Rewriter(set(species), set(parameters), target, where).visit(tree)
    return ast.unparse(ast.fix_missing_locations(tree))


def _mass_action_expression(r: Reaction, ode: bool) -> str:
    """``rate * prod C(x, k)`` (stochastic) or ``rate * prod x**k / k!`` (deterministic)."""
    if r.rate is None:
        raise ValueError(f"reaction {r.name!r} has a custom propensity, not a mass-action rate")
    terms = [r.rate]
    for s, k in r.reactants.items():
        k = int(k)
        if ode:
            terms.append(s if k == 1 else f"{s} ** {float(k)} / {float(math.factorial(k))}")
        else:
            falling = " * ".join([s] + [f"({s} - {float(j)})" for j in range(1, k)])
            terms.append(falling if k == 1 else f"{falling} / {float(math.factorial(k))}")
    return " * ".join(terms)


def _needs_custom(r: Reaction) -> bool:
    return any(int(k) > 1 for k in r.reactants.values()) or sum(int(k) for k in r.reactants.values()) > 2


def structure_hash(crn: CRN) -> str:
    """Hash of what a compiled solver depends on: species, parameter names and reactions.

    Default values are not part of it: the simulator passes every parameter value and every
    initial count at each run, so models differing only in defaults share one compiled solver.
    """
    blob = json.dumps({"species": list(crn.species), "parameters": sorted(crn.parameters),
                       "reactions": [r.to_dict() for r in crn.reactions]},
                      sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def to_gillespy_model(crn: CRN, timespan: np.ndarray | None = None, *, target: str = "c",
                      species_mode: str = "discrete", parameters: Mapping[str, float] | None = None,
                      initial_state: Mapping[str, int] | None = None) -> Any:
    """Build a ``gillespy2.Model`` equivalent to ``crn``.

    Parameters
    ----------
    crn : CRN
    timespan : array, shape (T,), optional
        Uniform grid starting at 0 (default ``crn.timespan()``).
    target : {"c", "python"}
        Solver family the propensity strings are written for.
    species_mode : {"discrete", "continuous", "dynamic"}
        GillesPy2 species mode ("dynamic" lets the hybrid solver switch representation).
    parameters, initial_state : dict, optional
        Override default parameter values / initial counts.

    Returns
    -------
    gillespy2.Model
    """
    import gillespy2

    params = {**crn.parameters, **(parameters or {})}
    init = {**crn.initial_state, **(initial_state or {})}
    species, pnames = list(crn.species), list(crn.parameters)
    tspan = crn.timespan() if timespan is None else np.asarray(timespan, dtype=np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # GillesPy2 1.8.3 uses ast.Num
        return _build(gillespy2, crn, params, init, species, pnames, tspan, target, species_mode)


def _build(gillespy2, crn, params, init, species, pnames, tspan, target, species_mode):
    try:
        model = gillespy2.Model(name=f"m_{structure_hash(crn)}")
        model.add_species([gillespy2.Species(name=s, initial_value=int(init[s]), mode=species_mode)
                           for s in species])
        model.add_parameter([gillespy2.Parameter(name=p, expression=repr(float(v))) for p, v in params.items()])
        reactions = []
        for r in crn.reactions:
            where = f"model {crn.name!r}, reaction {r.name!r}"
            if r.rate is not None and not _needs_custom(r):
                reactions.append(gillespy2.Reaction(name=r.name, reactants=dict(r.reactants),
                                                    products=dict(r.products), rate=r.rate))
                continue
            if r.rate is not None:
                stoch, ode = _mass_action_expression(r, ode=False), _mass_action_expression(r, ode=True)
            else:
                stoch = ode = r.propensity
            reactions.append(gillespy2.Reaction(
                name=r.name, reactants=dict(r.reactants), products=dict(r.products),
                propensity_function=translate_propensity(stoch, species, pnames, target=target, where=where),
                ode_propensity_function=translate_propensity(ode, species, pnames, target=target, where=where)))
        model.add_reaction(reactions)
        model.timespan(tspan)
    except ValueError:
        raise
    except Exception as exc:  # gillespy2's own ModelError/ReactionError/...: one line, named
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(f"model {crn.name!r} cannot be converted to GillesPy2: {msg}") from None
    return model
