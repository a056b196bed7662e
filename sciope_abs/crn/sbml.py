"""Import an SBML model as a :class:`~sciope_abs.crn.CRN`.

Two conventions (``convention=``):

``"sbml"`` (default): the SBML meaning, converted to molecule counts.

* A species' count is its amount times the molecules per substance unit: ``initialAmount``, or
  ``initialConcentration`` times the size of its compartment.  Substance units built on ``mole``
  (e.g. the L2 default ``substance`` = mole, or nanomole) are scaled by Avogadro's number; units
  built on ``item`` or ``dimensionless``, and undefined substance units (L3 without
  ``substanceUnits``), count molecules.  Counts are rounded to the nearest integer.
* In a kinetic law, a species symbol means its amount if the species ``hasOnlySubstanceUnits``,
  else its concentration: the law is written over counts ``N`` with the symbol replaced by
  ``N / F`` or ``N / (F * V)`` (``F`` molecules per substance unit, ``V`` the compartment size,
  kept as a parameter named after the compartment), and the law's value (substance per time) is
  multiplied by ``F`` to give events per time.  ``compartment * k * A * B`` with concentrations
  ``A``, ``B`` becomes ``k * N_A * N_B / (F * V)``, the stochastic rate of a bimolecular
  reaction.
* What cannot be converted is refused with a one-line ``ValueError`` naming the element: units
  not built on mole/item, species with different substance units, extent units different from
  the substance units, conversion factors, a concentration in a compartment without a size.

``"counts"``: the deep-abstraction study's EGFR reading (``case_study_models.md`` §8): every
initial amount or concentration is a molecule count, the compartment factor is removed from
every kinetic law (``(...) * compartment``) and no volume conversion is made.  The library's
``egfr`` model is ``from_sbml("BIOMD0000000048.xml", convention="counts")``.

In both conventions:

* species keep their SBML order and ids;
* a reversible law that is a difference of non-negative terms, ``num_f - num_r``, optionally
  multiplied by non-negative factors and divided by a non-negative denominator (e.g.
  ``(kf*A - kr*B) / (1 + A/Km + B/Km)``), becomes two reactions, ``<id>`` with propensity
  ``num_f * factors / denominator`` and ``<id>_inverse`` (reactants and products swapped) with
  ``num_r * factors / denominator``; a reversible law with no subtraction stays one reaction; any
  other reversible law (a difference inside a power, a logarithm or a denominator, a product of
  two differences) is refused with a one-line ``ValueError``;
* every law becomes a custom propensity expression, written from the libsbml AST (never by
  string surgery on the formula), so Michaelis–Menten and other non-mass-action laws keep their
  exact form (a law ``k * A^2`` stays ``k * A^2``: no ``A (A - 1)`` correction is made);
* reaction-local parameters are collected into the model's parameters, renamed
  ``<reaction id>_<parameter id>`` when their id is already taken.

Rules, events, initial assignments, delays and time-dependent laws have no CRN counterpart and
raise a one-line ``ValueError``.
"""
from __future__ import annotations

import ast
import logging
import math
import os
from pathlib import Path
from typing import Any, Callable, Mapping, NoReturn, Sequence

from .model import CRN, Reaction

__all__ = ["from_sbml", "CONVENTIONS", "AVOGADRO"]

logger = logging.getLogger(__name__)

#: Avogadro's number (exact, SI 2019): molecules per mole.
AVOGADRO = 6.02214076e23
#: The accepted values of ``from_sbml(convention=...)``.
CONVENTIONS = ("sbml", "counts")
_MAX_COUNT = 2.0 ** 53  # larger counts are not exact in float64

class _Converter:
    """libsbml ASTNode -> Python-syntax expression over the CRN's names."""

    def __init__(self, libsbml, model, where: str, names: Mapping[str, str]):
        self.L = libsbml
        self.model = model
        self.where = where
        self.names = dict(names)

    def fail(self, node: Any, what: str) -> NoReturn:  # node: a libsbml ASTNode (untyped library)
        formula = self.L.formulaToL3String(node) if node is not None else ""
        raise ValueError(f"{self.where}: {what} in kinetic law term {formula!r} is not supported")

    def __call__(self, node: Any, bound: Mapping[str, str] | None = None) -> str:
        L, t = self.L, node.getType()
        bound = bound or {}
        kids = [node.getChild(i) for i in range(node.getNumChildren())]
        conv: list[str] = [self(k, bound) for k in kids] if t != L.AST_FUNCTION else []
        if t == L.AST_PLUS:
            return "(" + " + ".join(conv) + ")" if conv else "0.0"
        if t == L.AST_TIMES:
            return "(" + " * ".join(conv) + ")" if conv else "1.0"
        if t == L.AST_MINUS:
            return f"(-{conv[0]})" if len(conv) == 1 else f"({conv[0]} - {conv[1]})"
        if t == L.AST_DIVIDE:
            return f"({conv[0]} / {conv[1]})"
        if t in (L.AST_POWER, L.AST_FUNCTION_POWER):
            return f"({conv[0]} ** {conv[1]})"
        if t == L.AST_INTEGER:
            return repr(float(node.getInteger()))
        if t in (L.AST_REAL, L.AST_REAL_E):
            return repr(float(node.getReal()))
        if t == L.AST_RATIONAL:
            return repr(node.getNumerator() / node.getDenominator())
        if t == L.AST_CONSTANT_E:
            return repr(math.e)
        if t == L.AST_CONSTANT_PI:
            return repr(math.pi)
        if t == L.AST_NAME:
            name = node.getName()
            if name in bound:
                return bound[name]
            if name not in self.names:
                self.fail(node, f"unknown name {name!r}")
            return self.names[name]
        if t == L.AST_FUNCTION_EXP:
            return f"exp({conv[0]})"
        if t == L.AST_FUNCTION_LN:
            return f"log({conv[0]})"
        if t == L.AST_FUNCTION_LOG:  # log(base, x); a single child means base 10
            base, x = (conv[0], conv[1]) if len(conv) == 2 else ("10.0", conv[0])
            return f"(log({x}) / log({base}))"
        if t == L.AST_FUNCTION_ROOT:  # root(degree, x); a single child means the square root
            return f"sqrt({conv[0]})" if len(conv) == 1 else f"({conv[1]} ** (1.0 / {conv[0]}))"
        if t == L.AST_FUNCTION_ABS:
            return f"abs({conv[0]})"
        if t == L.AST_FUNCTION:  # a user-defined function: inline its body
            fd = self.model.getFunctionDefinition(node.getName())
            if fd is None or fd.getBody() is None:
                self.fail(node, f"undefined function {node.getName()!r}")
            if fd.getNumArguments() != len(kids):
                self.fail(node, f"function {node.getName()!r} called with {len(kids)} argument(s)")
            args = {fd.getArgument(i).getName(): self(kids[i], bound) for i in range(len(kids))}
            return f"({self(fd.getBody(), args)})"
        if t == L.AST_NAME_TIME:
            self.fail(node, "time dependence")
        self.fail(node, f"operation {node.getName() or node.getType()!r}")


def _tidy(expr: str) -> str:
    """Drop redundant parentheses (Python's own parser decides which are needed)."""
    return ast.unparse(ast.parse(expr, mode="eval"))


def _product_factors(L, node) -> list:
    """The factors of a (nested) top-level product, or ``[node]``."""
    if node.getType() != L.AST_TIMES:
        return [node]
    out = []
    for i in range(node.getNumChildren()):
        out.extend(_product_factors(L, node.getChild(i)))
    return out


def _first_error(doc) -> str | None:
    for i in range(doc.getNumErrors()):
        err = doc.getError(i)
        if err.isError() or err.isFatal():
            msg = " ".join(err.getMessage().split())
            return f"line {err.getLine()}: {msg}"
    return None


def _stoich(L, ref, where: str) -> int:
    if hasattr(ref, "isSetStoichiometryMath") and ref.isSetStoichiometryMath():
        raise ValueError(f"{where}: stoichiometryMath is not supported")
    v = ref.getStoichiometry() if (not hasattr(ref, "isSetStoichiometry") or ref.isSetStoichiometry()) else 1.0
    if math.isnan(v):
        v = 1.0
    if v != int(v) or v < 0:
        raise ValueError(f"{where}: non-integer stoichiometry {v} of species {ref.getSpecies()!r}")
    return int(v)


# ------------------------------------------------------------------ reversible laws: num_f - num_r
class _NotSplittable(ValueError):
    """A law that is not a difference of non-negative terms over a non-negative denominator."""


def _bin(a: ast.expr | None, op: ast.operator, b: ast.expr | None) -> ast.expr | None:
    """``a op b`` where ``None`` stands for zero (so ``None * x`` and ``None / x`` are ``None``)."""
    if isinstance(op, ast.Add):
        return b if a is None else a if b is None else ast.BinOp(a, op, b)
    if a is None or b is None:
        return None
    return ast.BinOp(a, op, b)


def _split(node: ast.expr, nonneg: Callable[[str], bool]) -> tuple[ast.expr | None, ast.expr | None]:
    """``node`` as ``(pos, neg)`` with ``node == pos - neg`` and both non-negative by
    construction (``None`` = zero); raises :class:`_NotSplittable` otherwise.

    Sums and differences distribute; a product may hold one factor with a negative part (the
    others must be non-negative); a quotient needs a non-negative denominator; ``x ** y``,
    ``sqrt(x)`` need ``x`` non-negative; ``exp`` and ``abs`` are non-negative; ``log`` is refused.
    """
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
        return (node, None) if node.value >= 0 else (None, ast.Constant(-node.value))
    if isinstance(node, ast.Name):
        if not nonneg(node.id):
            raise _NotSplittable(f"{node.id!r} may be negative")
        return node, None
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        p, n = _split(node.operand, nonneg)
        return (n, p) if isinstance(node.op, ast.USub) else (p, n)
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub)):
        p1, n1 = _split(node.left, nonneg)
        p2, n2 = _split(node.right, nonneg)
        if isinstance(node.op, ast.Sub):
            p2, n2 = n2, p2
        return _bin(p1, ast.Add(), p2), _bin(n1, ast.Add(), n2)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult):
        (p1, n1), (p2, n2) = _split(node.left, nonneg), _split(node.right, nonneg)
        if n1 is not None and n2 is not None:
            raise _NotSplittable("a product of two differences")
        if n1 is not None:  # keep the difference on the right
            (p1, n1), (p2, n2) = (p2, n2), (p1, n1)
        return _bin(p1, ast.Mult(), p2), _bin(p1, ast.Mult(), n2)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
        p, n = _split(node.left, nonneg)
        pd, nd = _split(node.right, nonneg)
        if nd is not None or pd is None:
            raise _NotSplittable("a denominator that may be negative or zero")
        return _bin(p, ast.Div(), pd), _bin(n, ast.Div(), pd)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow):
        if _split(node.left, nonneg)[1] is not None:
            raise _NotSplittable("a power of a difference")
        return node, None
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("exp", "abs", "sqrt"):
        if node.func.id == "sqrt" and _split(node.args[0], nonneg)[1] is not None:
            raise _NotSplittable("a square root of a difference")
        return node, None
    raise _NotSplittable(f"{ast.unparse(node)!r}")


def _reversible_parts(expr: str, nonneg: Callable[[str], bool]) -> tuple[str | None, str | None]:
    """Forward and reverse propensities of a reversible law (``None`` = zero)."""
    tree = ast.parse(expr, mode="eval").body
    pos, neg = _split(tree, nonneg)
    forward, reverse = (None if x is None else _tidy(ast.unparse(ast.fix_missing_locations(x))) for x in (pos, neg))
    return forward, reverse


# ------------------------------------------------------------------ units
def _unit_factor(L, m, uid: str, where: str) -> float:
    """Molecules per unit ``uid`` (a substance or extent unit)."""
    ud = m.getUnitDefinition(uid)
    if ud is None:
        if uid in ("mole", "substance"):  # "substance" is L2's built-in default: mole
            return AVOGADRO
        if uid in ("item", "dimensionless"):
            return 1.0
        raise ValueError(f"{where}: unit {uid!r} is not defined")
    units = [ud.getUnit(i) for i in range(ud.getNumUnits())]
    u = units[0] if len(units) == 1 else None
    kinds = {L.UNIT_KIND_MOLE: AVOGADRO, L.UNIT_KIND_ITEM: 1.0, L.UNIT_KIND_DIMENSIONLESS: 1.0}
    exponent = None
    if u is not None:
        exponent = u.getExponentAsDouble() if hasattr(u, "getExponentAsDouble") else u.getExponent()
    if u is None or u.getKind() not in kinds or exponent != 1:
        raise ValueError(f"{where}: unit {uid!r} ({L.UnitDefinition.printUnits(ud)}) cannot be converted to "
                         "molecule counts (only mole- or item-based substance units can)")
    return kinds[u.getKind()] * u.getMultiplier() * 10.0 ** u.getScale()


def _substance_factor(L, m, s, where: str) -> float:
    """Molecules per substance unit of species ``s``."""
    if hasattr(s, "isSetConversionFactor") and (s.isSetConversionFactor() or m.isSetConversionFactor()):
        raise ValueError(f"{where}: conversion factors are not supported")
    if s.isSetSubstanceUnits():
        uid = s.getSubstanceUnits()
    elif m.getLevel() >= 3:
        uid = m.getSubstanceUnits() if m.isSetSubstanceUnits() else ""
    else:
        uid = "substance"
    return _unit_factor(L, m, uid, where) if uid else 1.0  # undefined units: molecule counts


def _common_factor(L, m, factors: Mapping[str, float], path: Path) -> float:
    """The one molecules-per-unit factor shared by every species (and the extent units)."""
    if not factors:
        return 1.0
    first = next(iter(factors))
    f = factors[first]
    for sid, g in factors.items():
        if not math.isclose(g, f, rel_tol=1e-12):
            raise ValueError(f"SBML file {path}: species {first!r} and {sid!r} have different substance units "
                             f"({f:g} and {g:g} molecules per unit); a reaction cannot change both by integer counts")
    if m.getLevel() >= 3 and m.isSetExtentUnits():
        e = _unit_factor(L, m, m.getExtentUnits(), f"SBML file {path}, extentUnits")
        if not math.isclose(e, f, rel_tol=1e-12):
            raise ValueError(f"SBML file {path}: extentUnits {m.getExtentUnits()!r} differ from the species' "
                             "substance units; stoichiometries would not be integer counts")
    return f


# ------------------------------------------------------------------ species
def _read_species(L, m, path: Path, convention: str, sizes: Mapping[str, float | None]):
    """Species ids (SBML order), initial counts, fixed (boundary/constant) species, and the
    expression each species symbol stands for in a kinetic law (over counts)."""
    species: list[str] = []
    initial: dict[str, int] = {}
    fixed: set[str] = set()
    symbols: dict[str, str] = {}
    factors = {s.getId(): _substance_factor(L, m, s, f"SBML file {path}, species {s.getId()!r}")
               for s in m.getListOfSpecies()} if convention == "sbml" else {}
    F = _common_factor(L, m, factors, path)
    for s in m.getListOfSpecies():
        sid, cid = s.getId(), s.getCompartment()
        where = f"SBML file {path}, species {sid!r}"
        V = sizes.get(cid)
        as_amount = convention == "counts" or s.getHasOnlySubstanceUnits()
        if convention == "sbml" and not as_amount and not (V is not None and V > 0):
            raise ValueError(f"{where}: compartment {cid!r} has no positive size, so the concentration is undefined")
        if s.isSetInitialAmount():
            v = s.getInitialAmount()
        elif s.isSetInitialConcentration():
            if convention == "sbml" and not (V is not None and V > 0):
                raise ValueError(f"{where}: initialConcentration in compartment {cid!r}, which has no positive size")
            v = s.getInitialConcentration() * (V if convention == "sbml" else 1.0)
        else:
            raise ValueError(f"{where}: no initialAmount or initialConcentration")
        v = v * F
        if not math.isfinite(v) or v < 0 or v > _MAX_COUNT:
            raise ValueError(f"{where}: initial count {v:g} is not a representable molecule count")
        species.append(sid)
        initial[sid] = int(round(v))
        if s.getBoundaryCondition() or s.getConstant():
            fixed.add(sid)
        scale = "" if F == 1.0 else repr(F)
        if as_amount:
            symbols[sid] = sid if not scale else f"({sid} / {scale})"
        else:
            symbols[sid] = f"({sid} / {cid})" if not scale else f"({sid} / ({scale} * {cid}))"
    return species, initial, fixed, symbols, F


# ------------------------------------------------------------------ reactions
def _local_parameters(kl, rid: str, taken: set[str], parameters: dict[str, float], local: dict[str, str]) -> set[str]:
    """Collect a law's local parameters into ``parameters`` (renamed on a clash); their ids."""
    params_here = list(kl.getListOfParameters())
    if hasattr(kl, "getListOfLocalParameters"):
        params_here += [p for p in kl.getListOfLocalParameters() if p.getId() not in {q.getId() for q in params_here}]
    for p in params_here:
        pid, new = p.getId(), p.getId()
        k = 1
        while new in taken:
            new = f"{rid}_{pid}" if k == 1 else f"{rid}_{pid}_{k}"
            k += 1
        taken.add(new)
        parameters[new] = float(p.getValue())
        local[pid] = new
    return {p.getId() for p in params_here}


def _law_expression(L, m, r, kl, names: Mapping[str, str], local_ids: set[str], convention: str,
                    sizes: Mapping[str, float | None], F: float, where: str) -> str:
    """The kinetic law over molecule counts, as a tidy propensity expression."""
    conv = _Converter(L, m, where, names)
    if convention == "counts":  # the study's reading: drop the compartment factor
        factors = [f for f in _product_factors(L, kl.getMath())
                   if not (f.getType() == L.AST_NAME and f.getName() in sizes and f.getName() not in local_ids)]
        expr = " * ".join(f"({conv(f)})" for f in factors) if factors else "1.0"
    else:
        expr = conv(kl.getMath())
        if F != 1.0:
            expr = f"{F!r} * ({expr})"
    return _tidy(expr)


def _reactions_of(L, m, r, expr: str, fixed: set[str], nonneg: Callable[[str], bool], where: str) -> list[Reaction]:
    """One reaction, or a forward/reverse pair for a reversible law ``num_f - num_r``."""
    rid = r.getId()
    reactants: dict[str, int] = {}
    products: dict[str, int] = {}
    for refs, side in ((r.getListOfReactants(), reactants), (r.getListOfProducts(), products)):
        for ref in refs:
            sid = ref.getSpecies()
            if sid not in fixed:
                side[sid] = side.get(sid, 0) + _stoich(L, ref, where)
    if not r.getReversible():
        return [Reaction(rid, reactants, products, propensity=expr)]
    try:
        fwd, rev = _reversible_parts(expr, nonneg)
    except _NotSplittable as exc:
        formula = L.formulaToL3String(r.getKineticLaw().getMath())
        raise ValueError(f"{where}: the reversible kinetic law {formula!r} is not (num_f - num_r) times non-negative "
                         f"factors over a non-negative denominator ({exc}), so it cannot be split into forward "
                         "and reverse reactions") from None
    if rev is None:  # no subtraction: the law never turns negative
        return [Reaction(rid, reactants, products, propensity=expr)]
    out = [Reaction(rid, reactants, products, propensity=fwd)] if fwd is not None else []
    return out + [Reaction(f"{rid}_inverse", products, reactants, propensity=rev)]


def _open_model(L, path: Path):
    if not path.is_file():
        raise FileNotFoundError(f"SBML file not found: {path}")
    doc = L.readSBMLFromFile(str(path))
    err = _first_error(doc)
    if err is not None:
        raise ValueError(f"SBML file {path} could not be read: {err}")
    m = doc.getModel()
    if m is None:
        raise ValueError(f"SBML file {path} contains no model")
    for count, what in ((m.getNumRules(), "rules"), (m.getNumEvents(), "events"),
                        (m.getNumInitialAssignments(), "initial assignments"),
                        (m.getNumConstraints(), "constraints")):
        if count:
            raise ValueError(f"SBML file {path}: {what} are not supported ({count} found)")
    return m


def from_sbml(path: str | os.PathLike, *, name: str | None = None, dt: float = 0.5, n_steps: int = 50,
              observed: Sequence[str] = (), initial_ranges: Mapping[str, tuple[int, int]] | None = None,
              rate_ranges: Mapping[str, tuple[float, float]] | None = None, convention: str = "sbml") -> CRN:
    """Read an SBML file into a :class:`CRN`.

    Parameters
    ----------
    path : path-like
        The SBML file (any level/version libsbml reads).
    name : str, optional
        Model name (default: the SBML model id, else the file stem).
    dt, n_steps : float, int
        Time step and number of steps (default 0.5 and 50, the EGFR study's grid).
    observed : sequence of str
        Observed species (default: all).
    initial_ranges, rate_ranges : dict, optional
        Randomisation ranges, passed to :class:`CRN`.
    convention : {"sbml", "counts"}
        ``"sbml"``: amounts, concentrations, compartment sizes and substance units converted to
        molecule counts as SBML means them; ``"counts"``: the EGFR study's reading (values are
        counts, compartment factors dropped).  See the module documentation.

    Returns
    -------
    CRN

    Raises
    ------
    FileNotFoundError
        No such file.
    ValueError
        The file does not parse, has SBML errors, uses a feature with no CRN counterpart
        (rules, events, initial assignments, delays, time-dependent laws), has units, sizes or
        reversible laws that cannot be converted (the message names the element).
    """
    import libsbml as L

    if convention not in CONVENTIONS:
        raise ValueError(f"convention must be one of {CONVENTIONS}, got {convention!r}")
    path = Path(path)
    m = _open_model(L, path)
    sizes = {c.getId(): (float(c.getSize()) if c.isSetSize() else None) for c in m.getListOfCompartments()}
    species, initial, fixed, symbols, F = _read_species(L, m, path, convention, sizes)
    parameters: dict[str, float] = {}
    for p in m.getListOfParameters():
        if not p.isSetValue():
            raise ValueError(f"SBML file {path}: parameter {p.getId()!r} has no value")
        parameters[p.getId()] = float(p.getValue())
    reaction_ids = [r.getId() for r in m.getListOfReactions()]
    taken = set(species) | set(parameters) | set(sizes) | set(reaction_ids) | {f"{r}_inverse" for r in reaction_ids}
    names = ((symbols if convention == "sbml" else {s: s for s in species})
             | {p: p for p in parameters} | {c: c for c in sizes})

    def nonneg(n: str) -> bool:
        if n in parameters:
            return parameters[n] >= 0
        return n in initial or (sizes.get(n) or 0.0) > 0 or (convention == "counts" and n in sizes)

    reactions: list[Reaction] = []
    for r in m.getListOfReactions():
        where = f"SBML file {path}, reaction {r.getId()!r}"
        kl = r.getKineticLaw()
        if kl is None or kl.getMath() is None:
            raise ValueError(f"{where}: no kinetic law")
        local = dict(names)
        local_ids = _local_parameters(kl, r.getId(), taken, parameters, local)
        expr = _law_expression(L, m, r, kl, local, local_ids, convention, sizes, F, where)
        reactions += _reactions_of(L, m, r, expr, fixed, nonneg, where)
    _add_compartment_parameters(reactions, sizes, parameters, convention, path)
    try:
        return CRN(
            name=name or m.getId() or path.stem, species=species, parameters=parameters,
            reactions=reactions, initial_state=initial, initial_ranges=initial_ranges or {},
            rate_ranges=rate_ranges or {}, dt=dt, n_steps=n_steps, observed=observed,
            description=f"imported from SBML file {path.name}" + (f" ({m.getName()})" if m.getName() else ""),
        )
    except ValueError as exc:
        raise ValueError(f"SBML file {path}: {exc}") from None


def _add_compartment_parameters(reactions: Sequence[Reaction], sizes: Mapping[str, float | None],
                                parameters: dict[str, float], convention: str, path: Path) -> None:
    """A compartment a law still uses becomes a parameter holding its size."""
    used = {n.id for rx in reactions if rx.propensity is not None
            for n in ast.walk(ast.parse(rx.propensity, mode="eval")) if isinstance(n, ast.Name) and n.id in sizes}
    for c in sorted(used):
        size = sizes[c]
        if size is None or not (math.isfinite(size) and size > 0):
            if convention == "sbml":
                raise ValueError(f"SBML file {path}: compartment {c!r} is used in a kinetic law "
                                 "but has no positive size")
            size = 1.0
        parameters.setdefault(c, size)
