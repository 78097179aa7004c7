"""Band math for indices: parsing (never eval), exact evaluation, built-ins, and precise errors."""

from __future__ import annotations

import numpy as np
import pytest

from fis.core.expressions import BUILTIN_INDICES, builtin_index, custom_index, parse_expression
from fis.errors import InvalidInput

# two pixels with hand-picked reflectances (float64: the evaluator computes in float64)
F64 = {
    "B02": np.array([0.05, 0.10]),
    "B03": np.array([0.07, 0.20]),
    "B04": np.array([0.04, 0.10]),
    "B08": np.array([0.30, 0.30]),
    "B11": np.array([0.15, 0.10]),
    "B12": np.array([0.07, 0.30]),
}
BANDS = F64


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("B08 - B04", [0.26, 0.20]),
        ("(B08 - B11) / (B08 + B11)", [0.15 / 0.45, 0.2 / 0.4]),
        ("2 * B08 + 1", [1.6, 1.6]),
        ("B08 ** 2", [0.09, 0.09]),
        ("-B08 ** 2", [-0.09, -0.09]),  # ** binds tighter than unary minus, as in Python
        ("2 ** 3 ** 2 * B08 / B08", [512.0, 512.0]),  # right-associative: 2 ** 9
        ("10 - 4 - 3 + B08 * 0", [3.0, 3.0]),  # left-associative
        ("8 / 4 / 2 + 0 * B04", [1.0, 1.0]),
        ("sqrt(B08 * B08)", [0.3, 0.3]),
        ("abs(B04 - B08)", [0.26, 0.20]),
        ("max(B04, B11) - min(B04, B11)", [0.11, 0.0]),
        ("log(exp(B08))", [0.3, 0.3]),
        ("log10(B08 * 0 + 100)", [2.0, 2.0]),
        ("1.5e1 * B04", [0.6, 1.5]),
        (".5 * B08", [0.15, 0.15]),
        ("(nir - red) / (nir + red)", [0.26 / 0.34, 0.2 / 0.4]),  # STAC common names
        ("(b8 - B4) / (B08 + b04)", [0.26 / 0.34, 0.2 / 0.4]),  # B8 == B08, case-insensitive
    ],
)
def test_expressions_evaluate_exactly(text: str, expected: list[float]) -> None:
    tree = parse_expression(text)
    assert np.allclose(tree.evaluate(F64), expected, rtol=0, atol=1e-12)


def test_builtin_indices_match_their_textbook_formulas() -> None:
    b = F64
    textbook = {
        "ndvi": (b["B08"] - b["B04"]) / (b["B08"] + b["B04"]),
        "ndwi": (b["B03"] - b["B08"]) / (b["B03"] + b["B08"]),
        "ndmi": (b["B08"] - b["B11"]) / (b["B08"] + b["B11"]),
        "nbr": (b["B08"] - b["B12"]) / (b["B08"] + b["B12"]),
        "evi": 2.5 * (b["B08"] - b["B04"]) / (b["B08"] + 6 * b["B04"] - 7.5 * b["B02"] + 1),
        "savi": 1.5 * (b["B08"] - b["B04"]) / (b["B08"] + b["B04"] + 0.5),
    }
    assert set(textbook) == set(BUILTIN_INDICES)
    for name, expected in textbook.items():
        index = builtin_index(name)
        assert index.builtin and index.name == name
        np.testing.assert_allclose(index.compute(BANDS, 2), expected, rtol=0, atol=1e-15)
    # by hand for pixel 0: NDWI = (0.07 - 0.30) / 0.37, EVI = 2.5 * 0.26 / 1.165
    assert builtin_index("ndwi").compute(F64, 2)[0] == pytest.approx(-0.23 / 0.37, abs=1e-12)
    assert builtin_index("evi").compute(F64, 2)[0] == pytest.approx(0.65 / 1.165, abs=1e-12)
    assert builtin_index("NDMI").name == "ndmi"


def test_undefined_pixels_become_nan_and_missing_bands_give_none() -> None:
    index = custom_index("ratio", "B04 / (B08 - 0.3)")
    out = index.compute(F64, 2)
    assert np.isnan(out).all()  # division by zero: not a value, not an exception
    assert custom_index("swir", "B11 / B12").compute({"B11": F64["B11"]}, 2) is None
    assert index.bands == frozenset({"B04", "B08"})
    assert np.isnan(custom_index("neg", "sqrt(B04 - 1)").compute(F64, 2)).all()


@pytest.mark.parametrize(
    ("name", "text", "fragments"),
    [
        ("x", "__import__('os').system('ls')", ["'__import__'", "position 1"]),
        ("x", "B08.real", ["'.'", "position 4"]),
        ("x", "B08 % 2", ["'%'", "position 5"]),
        ("x", "B08 == B04", ["'=='", "position 5"]),
        ("x", "lambda: B08", ["'lambda'"]),
        ("x", "B13 - B04", ["'B13'", "position 1", "not a band"]),
        ("x", "foo(B08)", ["'foo'"]),
        ("x", "(B08 - B04", ["ends too early", "')'"]),
        ("x", "B08 - B04)", ["')'", "position 10"]),
        ("x", "B08 +", ["ends too early"]),
        ("x", "B08 B04", ["'B04'", "position 5"]),
        ("x", "sqrt(B08, B04)", ["sqrt()", "1 argument", "got 2"]),
        ("x", "max(B08)", ["max()", "2 arguments"]),
        ("x", "sqrt", ["'sqrt'", "needs parentheses"]),
        ("x", "", ["empty"]),
        ("x", "1 + 2", ["uses no band"]),
        ("x", "B08 [0]", ["'['"]),
        ("x", "'B08'", ["\"'\""]),
        ("x", 42, ["must be a string"]),
    ],
)
def test_bad_expressions_name_the_token_and_what_is_accepted(name: str, text: object, fragments: list[str]) -> None:
    with pytest.raises(InvalidInput) as caught:
        custom_index(name, text)
    error = caught.value
    assert error.field == f"indices.{name}"
    assert error.status == 400
    for fragment in fragments:
        assert fragment in error.message, error.message
    assert "band names" in error.message and "+ - * / **" in error.message


def test_limits_on_length_and_nesting() -> None:
    with pytest.raises(InvalidInput, match="characters long"):
        custom_index("x", "B08 + " * 100 + "B04")
    with pytest.raises(InvalidInput, match="nested more than"):
        custom_index("x", "(" * 60 + "B08" + ")" * 60)
    with pytest.raises(InvalidInput, match="nested more than"):
        custom_index("x", "-" * 60 + "B08")
    with pytest.raises(InvalidInput, match="too large"):
        custom_index("x", "1e999 * B08")


@pytest.mark.parametrize(
    ("name", "expression", "fragment"),
    [
        ("My_Ratio", "B08", "not a valid index name"),
        ("1st", "B08", "not a valid index name"),
        ("a-b", "B08", "not a valid index name"),
        ("ndwi", "B03 - B08", "is a built-in index"),
        ("custom", None, "not a built-in index"),
    ],
)
def test_index_names(name: str, expression: str | None, fragment: str) -> None:
    with pytest.raises(InvalidInput, match=fragment):
        custom_index(name, expression)


def test_unknown_builtin_lists_the_builtins() -> None:
    with pytest.raises(InvalidInput) as caught:
        builtin_index("ndsi", field="indices.ndsi")
    assert caught.value.field == "indices.ndsi"
    for name in BUILTIN_INDICES:
        assert name in caught.value.message
    assert custom_index("ndwi", None).expression == BUILTIN_INDICES["ndwi"]
