"""Import an SBML model as a :class:`~sciope_abs.crn.CRN`.

The conversion follows the deep-abstraction study's EGFR import (``case_study_models.md`` §8):

* species keep their SBML order and ids; the initial amount (or initial concentration, read as a
  count) is cast to ``int``;
* the compartment factor is removed from every kinetic law (``(...) * compartment``);
* a reversible law of the form ``forward - backward`` becomes two reactions, ``<id>`` and
  ``<id>_inverse`` (reactants and products swapped);
* every law becomes a custom propensity expression, written from the libsbml AST (never by
  string surgery on the formula), so Michaelis–Menten and other non-mass-action laws keep their
  exact form;
* reaction-local parameters are collected into the model's parameters, renamed
  ``<reaction id>_<parameter id>`` when their id is already taken.

Rules, events, initial assignments, delays and time-dependent laws have no CRN counterpart and
raise a one-line ``ValueError``.
"""
from __future__ import annotations

import ast
import math
import os
from pathlib import Path
from typing import Mapping, Sequence

from .model import CRN, Reaction

__all__ = ["from_sbml"]


class _Converter:
    """libsbml ASTNode -> Python-syntax expression over the CRN's names."""

    def __init__(self, libsbml, model, where: str, names: Mapping[str, str]):
        self.L = libsbml
        self.model = model
        self.where = where
        self.names = dict(names)

    def fail(self, node, what: str) -> None:
        formula = self.L.formulaToL3String(node) if node is not None else ""
        raise ValueError(f"{self.where}: {what} in kinetic law term {formula!r} is not supported")

    def __call__(self, node, bound: Mapping[str, str] | None = None) -> str:
        L, t = self.L, node.getType()
        bound = bound or {}
        kids = [node.getChild(i) for i in range(node.getNumChildren())]
        conv = [self(k, bound) for k in kids] if t != L.AST_FUNCTION else None
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


def from_sbml(path: str | os.PathLike, *, name: str | None = None, dt: float = 0.5, n_steps: int = 50,
              observed: Sequence[str] = (), initial_ranges: Mapping[str, tuple[int, int]] | None = None,
              rate_ranges: Mapping[str, tuple[float, float]] | None = None) -> CRN:
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

    Returns
    -------
    CRN

    Raises
    ------
    FileNotFoundError
        No such file.
    ValueError
        The file does not parse, has SBML errors, or uses a feature with no CRN counterpart
        (rules, events, initial assignments, delays, time-dependent laws).
    """
    import libsbml as L

    path = Path(path)
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

    # ---- species, in SBML order
    species: list[str] = []
    initial: dict[str, int] = {}
    fixed: set[str] = set()  # boundary/constant species: reactions do not change them
    for s in m.getListOfSpecies():
        sid = s.getId()
        if s.isSetInitialAmount():
            v = s.getInitialAmount()
        elif s.isSetInitialConcentration():
            v = s.getInitialConcentration()
        else:
            v = 0.0
        if not math.isfinite(v) or v < 0:
            raise ValueError(f"SBML file {path}: species {sid!r} has initial value {v}")
        species.append(sid)
        initial[sid] = int(v)
        if s.getBoundaryCondition() or s.getConstant():
            fixed.add(sid)

    # ---- names: species, global parameters, compartments (only if a law still uses them)
    parameters: dict[str, float] = {}
    for p in m.getListOfParameters():
        if not p.isSetValue():
            raise ValueError(f"SBML file {path}: parameter {p.getId()!r} has no value")
        parameters[p.getId()] = float(p.getValue())
    compartments = {c.getId(): (float(c.getSize()) if c.isSetSize() else 1.0) for c in m.getListOfCompartments()}
    reaction_ids = [r.getId() for r in m.getListOfReactions()]
    taken = set(species) | set(parameters) | set(compartments) | set(reaction_ids) | {f"{r}_inverse" for r in reaction_ids}
    names = {s: s for s in species} | {p: p for p in parameters} | {c: c for c in compartments}

    reactions: list[Reaction] = []
    used_compartments: set[str] = set()
    for r in m.getListOfReactions():
        rid = r.getId()
        where = f"SBML file {path}, reaction {rid!r}"
        kl = r.getKineticLaw()
        if kl is None or kl.getMath() is None:
            raise ValueError(f"{where}: no kinetic law")
        local = dict(names)
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
        conv = _Converter(L, m, where, local)

        reactants: dict[str, int] = {}
        products: dict[str, int] = {}
        for refs, side in ((r.getListOfReactants(), reactants), (r.getListOfProducts(), products)):
            for ref in refs:
                sid = ref.getSpecies()
                if sid not in fixed:
                    side[sid] = side.get(sid, 0) + _stoich(L, ref, where)

        local_ids = {p.getId() for p in params_here}
        factors = [f for f in _product_factors(L, kl.getMath())  # drop the compartment factor
                   if not (f.getType() == L.AST_NAME and f.getName() in compartments and f.getName() not in local_ids)]
        minus = [i for i, f in enumerate(factors) if f.getType() == L.AST_MINUS and f.getNumChildren() == 2]
        if r.getReversible() and len(minus) == 1:
            i = minus[0]
            rest = [conv(f) for j, f in enumerate(factors) if j != i]
            fwd = " * ".join(rest + [conv(factors[i].getChild(0))])
            bwd = " * ".join(rest + [conv(factors[i].getChild(1))])
            reactions.append(Reaction(rid, reactants, products, propensity=_tidy(fwd)))
            reactions.append(Reaction(f"{rid}_inverse", products, reactants, propensity=_tidy(bwd)))
        else:
            expr = " * ".join(conv(f) for f in factors) if factors else "1.0"
            reactions.append(Reaction(rid, reactants, products, propensity=_tidy(expr)))
        for rx in reactions[-2:]:
            used_compartments |= {n.id for n in ast.walk(ast.parse(rx.propensity, mode="eval"))
                                  if isinstance(n, ast.Name) and n.id in compartments}

    # a compartment still referenced elsewhere in a law becomes a parameter with its size
    for c in used_compartments:
        parameters.setdefault(c, compartments[c])
    try:
        return CRN(
            name=name or m.getId() or path.stem, species=species, parameters=parameters,
            reactions=reactions, initial_state=initial, initial_ranges=initial_ranges or {},
            rate_ranges=rate_ranges or {}, dt=dt, n_steps=n_steps, observed=observed,
            description=f"imported from SBML file {path.name}" + (f" ({m.getName()})" if m.getName() else ""),
        )
    except ValueError as exc:
        raise ValueError(f"SBML file {path}: {exc}") from None
