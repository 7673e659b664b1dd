"""Answer extraction from model responses: `\\boxed{}`, GSM8K `####`, last number."""

from __future__ import annotations

import re
from typing import Literal

Method = Literal["auto", "boxed", "hash", "last_number", "full"]

_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?(?:/\d+)?|-?\.\d+")


def extract_boxed(text: str) -> str | None:
    """Content of the last `\\boxed{...}` (or `\\fbox{...}`), with nested braces."""
    idx = max(text.rfind("\\boxed"), text.rfind("\\fbox"))
    if idx < 0:
        return None
    i = text.find("{", idx)
    if i < 0:
        # "\boxed 5" form
        m = re.match(r"\\boxed\s+([^\s$]+)", text[idx:])
        return m.group(1) if m else None
    depth = 0
    for j in range(i, len(text)):
        if text[j] == "{":
            depth += 1
        elif text[j] == "}":
            depth -= 1
            if depth == 0:
                return text[i + 1 : j]
    return None


def extract_hash(text: str) -> str | None:
    """GSM8K style: what follows the last `####`, up to the end of that line."""
    idx = text.rfind("####")
    if idx < 0:
        return None
    rest = text[idx + 4 :].strip().splitlines()
    return rest[0].strip() if rest else None


def extract_last_number(text: str) -> str | None:
    """The last number in the text (commas stripped): `-1,234.5` -> `-1234.5`."""
    found = _NUMBER.findall(text)
    if not found:
        return None
    return found[-1].replace(",", "")


def extract_answer(text: str, method: Method = "auto") -> str | None:
    """Extract the final answer. `auto` tries boxed, then ####, then the last number."""
    if method == "boxed":
        return extract_boxed(text)
    if method == "hash":
        return extract_hash(text)
    if method == "last_number":
        return extract_last_number(text)
    if method == "full":
        return text.strip()
    for fn in (extract_boxed, extract_hash, extract_last_number):
        out = fn(text)
        if out is not None:
            return out.strip()
    return None


def parse_number(text: str | None) -> float | None:
    """'1,234' -> 1234.0, '3/4' -> 0.75, '$5' -> 5.0, '50%' -> 50.0; None if not a number."""
    if text is None:
        return None
    t = text.strip().replace(",", "").replace("$", "").rstrip("%").strip()
    t = t.rstrip(".")
    try:
        if "/" in t:
            num, den = t.split("/", 1)
            return float(num) / float(den)
        return float(t)
    except (ValueError, ZeroDivisionError):
        return None


def _choice_patterns(letters: str) -> list[re.Pattern[str]]:
    c = f"[{re.escape(letters)}]"
    return [
        # "The answer is (B)", "Answer: B", "final answer is option C", "correct choice: D"
        re.compile(rf"(?i:answer|choice|option)\s*(?:is|:|=)?\s*(?i:option|choice)?\s*"
                   rf"[\(\[\*]*({c})[\)\]\*]*(?![\w])"),
        re.compile(rf"\\boxed\{{\s*(?:\\text\{{)?\(?({c})\)?\}}?\s*\}}"),  # \boxed{B}
        re.compile(rf"^\s*[\(\[\*]*({c})[\)\]\*]*\s*[\.:)]?\s*$"),  # just "B", "(B)", "B."
        re.compile(rf"^\s*[\(\[\*]*({c})[\)\]\*.:]+\s"),  # "B) because ...", "(C) ..."
        re.compile(rf"\(({c})\)"),  # the last "(C)" mentioned
    ]


def extract_choice(text: str, letters: str = "ABCD") -> str | None:
    """The chosen option letter, or None.

    Tries, in order (the last match of the first pattern that matches wins): an answer
    phrasing ("the answer is (B)", "Answer: B", "correct option is C"), `\\boxed{B}`, a
    response that is only a letter ("B", "(B)", "B."), a response that starts with one
    ("B) because"), the last parenthesised letter. A bare capital in prose ("A good
    start") is never taken as a choice.
    """
    if not letters or not letters.isupper():
        raise ValueError(f"extract_choice: letters must be upper-case option letters, "
                         f"got {letters!r}")
    for pattern in _choice_patterns(letters):
        found = pattern.findall(text)
        if found:
            return found[-1]
    return None
