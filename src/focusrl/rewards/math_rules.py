"""Rules a math answer must pass before (or instead of) the symbolic comparison.

math-verify is lenient where a policy can profit: it credits `2 \\lor 3` or `3, 3` for a
gold `3`, the last of several boxed answers, and compares decimals after rounding to 6
places (`0.0000001` = `0.0000004`, `0.3333333` = `1/3`). These rules close that:

- **One final answer.** Several `\\boxed{}` with different contents are wrong (the same
  content boxed twice is one answer). An answer with a disjunction or conjunction
  (`\\lor`, `\\vee`, `or`, `and`) is wrong unless the gold has one too. The number of
  comma-separated items (at the top level, after one enclosing bracket pair and
  thousands separators are removed) must equal the gold's: `3, 3` is not `3`, and
  `\\{1,1,2\\}` is not `\\{1,2\\}`.
- **Plain numbers are compared exactly** when both sides are plain numbers (integers,
  decimals, `1e6`, `2\\times10^{3}`, `a/b`, `\\frac{a}{b}`): as rationals, equal; when
  either side is written as a decimal, within a relative tolerance of `REL_TOL` = 1e-9
  (so `0.3333333` is not `1/3`, `0.5` is `1/2`, `1e6` is `1000000`).
- **Percentages**: a trailing `%` (or `\\%`) is notation, and the number before it is
  compared: `10\\%` matches `10` (MATH-500 writes some gold answers either way) but not
  `0.1`.
Everything else goes to math-verify, with floats compared after rounding to
`FLOAT_ROUNDING` = 10 decimal places (math-verify's default is 6).
"""

from __future__ import annotations

import re
from fractions import Fraction

REL_TOL = 1e-9
FLOAT_ROUNDING = 10
_DISJUNCTION = re.compile(r"\\lor\b|\\vee\b|\\land\b|\\wedge\b|\bor\b|\band\b")
_THOUSANDS = re.compile(r"(?<![\d.])\d{1,3}(?:,\d{3})+(?![\d,])")
_WRAPPERS = (("\\{", "\\}"), ("(", ")"), ("[", "]"), ("(", "]"), ("[", ")"),
             ("\\left(", "\\right)"), ("\\left[", "\\right]"), ("\\left\\{", "\\right\\}"))
_DECIMAL = r"(?:\d+(?:\.\d*)?|\.\d+)"
_PLAIN = re.compile(rf"^(?P<sign>[-+]?)(?P<num>{_DECIMAL})(?:e(?P<exp>[-+]?\d+)|"
                    rf"(?:\\times|\\cdot|\*)10\^\{{?(?P<exp10>[-+]?\d+)\}}?)?$")
_FRACTION = re.compile(r"^(?P<sign>[-+]?)(?:\\[dt]?frac\{(?P<a>\d+)\}\{(?P<b>\d+)\}|"
                       r"\\[dt]?frac(?P<a1>\d)(?P<b1>\d)|(?P<a2>\d+)/(?P<b2>\d+))$")


def boxed_all(text: str) -> list[str]:
    """Contents of every `\\boxed{...}` / `\\fbox{...}` (nested braces), in order."""
    out = []
    for m in re.finditer(r"\\(?:boxed|fbox)\s*\{", text):
        depth, start = 0, m.end() - 1
        for j in range(start, len(text)):
            if text[j] == "{":
                depth += 1
            elif text[j] == "}":
                depth -= 1
                if depth == 0:
                    out.append(text[start + 1: j])
                    break
    return out


def several_boxed_answers(response: str) -> bool:
    """More than one distinct boxed answer (whitespace ignored)."""
    return len({re.sub(r"\s+", "", b) for b in boxed_all(response)}) > 1


def _clean(text: str) -> str:
    t = text.strip().strip("$").strip()
    t = re.sub(r"\\[,;:! ]|\\q?quad|~", "", t)
    t = re.sub(r"\\(?:text|mathrm|textbf)\{\s*(or|and)\s*\}", r" \1 ", t)
    return t.strip().rstrip(".").strip()


def top_level_items(text: str) -> int:
    """Comma-separated items at the top level, after one enclosing bracket pair and
    thousands separators (`1,234`) are removed."""
    t = _THOUSANDS.sub(lambda m: m.group(0).replace(",", ""), _clean(text).replace(" ", ""))
    for left, right in _WRAPPERS:
        if t.startswith(left) and t.endswith(right) and len(t) > len(left) + len(right):
            t = t[len(left): -len(right)]
            break
    depth, items = 0, 1
    i = 0
    while i < len(t):
        if t.startswith("\\{", i) or t[i] in "([{":
            depth += 1
        elif t.startswith("\\}", i) or t[i] in ")]}":
            depth -= 1
        elif t[i] == "," and depth == 0:
            items += 1
        i += 2 if t.startswith(("\\{", "\\}"), i) else 1
    return items


def plain_number(text: str) -> tuple[Fraction, bool] | None:
    """(exact value, written as a decimal) for a plain number, else None. A trailing
    percent sign is dropped (see the percentage rule)."""
    t = _clean(text).replace(" ", "").replace("\\$", "").replace("{,}", "")
    t = _THOUSANDS.sub(lambda m: m.group(0).replace(",", ""), t)
    t = re.sub(r"\\?%$", "", t).replace("\\left", "").replace("\\right", "")
    if t.startswith("(") and t.endswith(")"):
        t = t[1:-1]
    if m := _PLAIN.match(t):
        value = Fraction(m["num"])
        exp = int(m["exp"] or m["exp10"] or 0)
        if abs(exp) > 400:
            return None  # leave absurd magnitudes to the symbolic path (time-limited)
        value *= Fraction(10) ** exp
        decimal = "." in m["num"] or m["exp"] is not None or exp < 0
        return (-value if m["sign"] == "-" else value), decimal
    if m := _FRACTION.match(t):
        a, b = (m["a"] or m["a1"] or m["a2"]), (m["b"] or m["b1"] or m["b2"])
        if int(b) == 0:
            return None
        value = Fraction(int(a), int(b))
        return (-value if m["sign"] == "-" else value), False
    return None


def numbers_match(gold: tuple[Fraction, bool], pred: tuple[Fraction, bool]) -> bool:
    (g, g_dec), (p, p_dec) = gold, pred
    if g == p:
        return True
    if not (g_dec or p_dec):
        return False
    return abs(g - p) <= Fraction(REL_TOL) * max(abs(g), abs(p))


def precheck(gold: str, pred: str) -> bool | None:
    """False when `pred` breaks a rule, True/False when both are plain numbers, None when
    the symbolic comparison must decide. `gold` and `pred` are answer texts (no box)."""
    if _DISJUNCTION.search(_clean(pred)) and not _DISJUNCTION.search(_clean(gold)):
        return False
    if top_level_items(pred) != top_level_items(gold):
        return False
    g, p = plain_number(gold), plain_number(pred)
    if g is not None and p is not None:
        return numbers_match(g, p)
    return None
