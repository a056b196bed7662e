"""The propensity-expression parser: whitelist, clear refusals, translation, numpy evaluation."""
import math

import numpy as np
import pytest

from sciope_abs.simulators.expressions import ALLOWED_FUNCTIONS, parse_expression

NAMES = ["alpha1", "beta", "V", "U", "Vmax", "Km", "S", "k", "exp_", "L", "s", "P", "Bee", "a", "b", "c"]


def test_names_and_functions_are_collected():
    e = parse_expression("alpha1 / (1 + pow(V, beta))", NAMES)
    assert e.names == {"alpha1", "V", "beta"}
    assert e.functions == {"pow"}
    assert str(e) == "alpha1 / (1 + pow(V, beta))"


@pytest.mark.parametrize("text, ref", [
    ("alpha1 / (1 + pow(V, beta))", lambda v: v["alpha1"] / (1 + v["V"] ** v["beta"])),
    ("Vmax * S / (Km + S)", lambda v: v["Vmax"] * v["S"] / (v["Km"] + v["S"])),
    ("k * Bee * (L / (1 + exp(-s * P)) - L / 2)",
     lambda v: v["k"] * v["Bee"] * (v["L"] / (1 + np.exp(-v["s"] * v["P"])) - v["L"] / 2)),
    ("sqrt(a) + log(b) - abs(-c) + a ** 2", lambda v: np.sqrt(v["a"]) + np.log(v["b"]) - np.abs(v["c"]) + v["a"] ** 2),
    ("min(a, b, c) * max(a, b) + -a + +b", lambda v: np.minimum(np.minimum(v["a"], v["b"]), v["c"])
     * np.maximum(v["a"], v["b"]) - v["a"] + v["b"]),
    ("3 / 2 * a", lambda v: 1.5 * v["a"]),
])
def test_numpy_evaluation_matches_direct_formula(text, ref):
    rng = np.random.default_rng(0)
    values = {n: rng.uniform(0.5, 5.0, size=50) for n in NAMES}
    got = parse_expression(text, NAMES).evaluate(values)
    np.testing.assert_allclose(got, ref(values), rtol=1e-12)


@pytest.mark.parametrize("text", [
    "alpha1 / (1 + pow(V, beta))", "Vmax * S / (Km + S)", "k * Bee * (L / (1 + exp(-s * P)) - L / 2)",
    "sqrt(a) + log(b) - abs(-c) + a ** 2", "min(a, b, c) * max(a, b) + -a + +b", "3 / 2 * a",
])
def test_translated_source_computes_the_same_value(text):
    # the translation is plain arithmetic on lookups: compile it with only math and builtins
    e = parse_expression(text, NAMES)
    lookup = {n: f"v[{i}]" for i, n in enumerate(NAMES)}
    src = e.to_source(lookup)
    assert "__" not in src
    fn = eval(compile(f"lambda v: {src}", "<test>", "eval"), {"math": math, "__builtins__": {"abs": abs, "min": min, "max": max}})
    rng = np.random.default_rng(1)
    for _ in range(20):
        vals = rng.uniform(0.5, 5.0, size=len(NAMES))
        ref = e.evaluate(dict(zip(NAMES, vals)))
        assert fn(list(vals)) == pytest.approx(float(ref), rel=1e-12)


def test_integer_literals_translate_to_floats():
    src = parse_expression("1 / 2 * a", ["a"]).to_source({"a": "x[0]"})
    assert "1.0" in src and "2.0" in src


@pytest.mark.parametrize("text, fragment", [
    ("__import__('os').system('true')", "__import__"),
    ("os.system", "Attribute"),
    ("a.__class__", "Attribute"),
    ("x[0]", "Subscript"),
    ("sin(a)", "unknown function 'sin'"),
    ("eval('1')", "unknown function 'eval'"),
    ("lambda: 1", "Lambda"),
    ("a if b else c", "IfExp"),
    ("a < b", "Compare"),
    ("a and b", "BoolOp"),
    ("'text'", "constant"),
    ("True", "constant"),
    ("[a, b]", "List"),
    ("a ^ 2", "'^'"),
    ("a % 2", "Mod"),
    ("a // 2", "FloorDiv"),
    ("~a", "Invert"),
    ("pow(a)", "pow() takes 2"),
    ("exp(a, b)", "exp() takes 1"),
    ("min(a)", "min() takes at least 2"),
    ("exp(x=a)", "keyword"),
    ("max(*a)", "starred"),
    ("(lambda f: f)(a)", "call"),
    ("a +", "not a valid expression"),
    ("", "empty"),
    ("zz * a", "unknown name 'zz'"),
])
def test_disallowed_expressions_are_refused_with_the_offending_piece(text, fragment):
    with pytest.raises(ValueError) as info:
        parse_expression(text, NAMES)
    msg = str(info.value)
    assert fragment in msg
    assert "\n" not in msg


def test_non_string_is_refused():
    with pytest.raises(ValueError, match="must be a string"):
        parse_expression(3.0)


def test_names_unchecked_without_a_namespace_but_translation_needs_them():
    e = parse_expression("foo * bar")
    assert e.names == {"foo", "bar"}
    with pytest.raises(ValueError, match="no translation"):
        e.to_source({"foo": "x[0]"})
    with pytest.raises(ValueError, match="no value"):
        e.evaluate({"foo": 1.0})


def test_a_parameter_may_share_a_function_name():
    # a name used as a value is a parameter; the same word called is the function
    e = parse_expression("pow(exp, -s * P) + exp(P)", ["exp", "s", "P"])
    assert e.names == {"exp", "s", "P"} and e.functions == {"pow", "exp"}
    assert float(e.evaluate({"exp": 2.0, "s": 1.0, "P": 1.0})) == pytest.approx(0.5 + math.e)


def test_allowed_functions_listed():
    assert set(ALLOWED_FUNCTIONS) == {"pow", "exp", "log", "sqrt", "abs", "min", "max"}
