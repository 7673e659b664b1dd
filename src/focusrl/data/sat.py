"""SAT tasks after SATURN (arXiv 2505.16368): satisfiable by construction, verifiable.

An instance with parameters (n, k, l) has l clauses, each a disjunction of n literals
over n distinct variables drawn from k. A hidden assignment of the k variables is drawn
first and every clause is resampled until the hidden assignment satisfies it, so every
instance is satisfiable. Difficulty (SATURN's estimate):

    D(n, k, l) = log2 k + 2 log2 l - n + k / n

The model answers with a binary string in \\boxed{}: `\\boxed{10110}` sets x1=1, x2=0, ...
The verifier accepts any assignment that satisfies every clause (not only the hidden one).

Where we depart from SATURN: clauses are shown in ASCII (`(x1 | ~x3 | x4) & ...`) so
the built-in character tokenizer can read them; the answer string may contain spaces,
commas or brackets between the bits; and the reward for a missing or malformed answer
is a config value (`invalid_reward`, default -1) rather than fixed.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from focusrl.data.config import SATConfig
from focusrl.rewards.extract import extract_boxed
from focusrl.types import Prompt, Sample

Clause = list[int]
"""DIMACS-style literals: +i means x_i, -i means not x_i (variables are 1-based)."""


def sat_difficulty(n: int, k: int, l: int) -> float:  # noqa: E741 - the paper's name
    """SATURN's D(n, k, l) = log2 k + 2 log2 l - n + k/n."""
    return math.log2(k) + 2 * math.log2(l) - n + k / n


def clause_satisfied(clause: Clause, assignment: Sequence[int]) -> bool:
    """True when some literal is true; `assignment[i-1]` is the 0/1 value of x_i."""
    return any((assignment[abs(lit) - 1] == 1) == (lit > 0) for lit in clause)


def formula_satisfied(clauses: Sequence[Clause], assignment: Sequence[int]) -> bool:
    return all(clause_satisfied(c, assignment) for c in clauses)


@dataclass
class SATInstance:
    n: int
    k: int
    l: int  # noqa: E741
    clauses: list[Clause]
    hidden_assignment: list[int]


def make_instance(n: int, k: int, l: int, rng: random.Random) -> SATInstance:  # noqa: E741
    """One satisfiable instance: draw the hidden assignment, then l clauses it satisfies.

    Each clause is redrawn until satisfied (rejection sampling, expected 1 / (1 - 2^-n)
    draws), so clauses are uniform among those the hidden assignment satisfies."""
    hidden = [rng.randint(0, 1) for _ in range(k)]
    clauses = []
    for _ in range(l):
        while True:
            variables = rng.sample(range(1, k + 1), n)
            clause = [v if rng.random() < 0.5 else -v for v in variables]
            if clause_satisfied(clause, hidden):
                break
        clauses.append(clause)
    return SATInstance(n, k, l, clauses, hidden)


def format_clauses(clauses: Sequence[Clause]) -> str:
    """`(x1 | ~x3) & (x2 | x3)`."""
    parts = []
    for c in clauses:
        lits = [f"x{lit}" if lit > 0 else f"~x{-lit}" for lit in c]
        parts.append("(" + " | ".join(lits) + ")")
    return " & ".join(parts)


def instance_prompt(inst: SATInstance) -> Prompt:
    example = "".join("1" if i % 2 == 0 else "0" for i in range(inst.k))
    text = (f"Find values for x1..x{inst.k} (1 = true, 0 = false) that satisfy every "
            f"clause: {format_clauses(inst.clauses)}. Give the values of x1..x{inst.k} "
            f"in order as a binary string in \\boxed{{}}, e.g. \\boxed{{{example}}}.")
    key = f"sat{inst.n},{inst.k},{inst.l}:" + ";".join(
        " ".join(map(str, sorted(c, key=abs))) for c in sorted(inst.clauses))
    return Prompt(
        id=key,
        text=text,
        answer={"clauses": inst.clauses, "num_vars": inst.k},
        meta={"task": "sat", "n": inst.n, "k": inst.k, "l": inst.l,
              "difficulty": sat_difficulty(inst.n, inst.k, inst.l),
              "hidden_assignment": inst.hidden_assignment},
    )


def sat_instances(cfg: SATConfig, rng: random.Random) -> Iterator[Prompt]:
    """Endless instances, round-robin over `cfg.params` triples."""
    i = 0
    while True:
        n, k, l_ = cfg.params[i % len(cfg.params)]
        i += 1
        yield instance_prompt(make_instance(n, k, l_, rng))


_SEPARATORS = str.maketrans("", "", " ,[]()\t\n")


def parse_assignment(text: str | None, num_vars: int) -> list[int] | None:
    """A binary string of exactly `num_vars` bits (spaces, commas, brackets ignored);
    None when missing or malformed."""
    if text is None:
        return None
    bits = text.translate(_SEPARATORS)
    if len(bits) != num_vars or set(bits) - {"0", "1"}:
        return None
    return [int(b) for b in bits]


def _answer_record(answer: Any) -> dict[str, Any]:
    if isinstance(answer, str):  # a record read back from a jsonl file
        answer = json.loads(answer)
    return answer


class SATReward:
    """SATURN's verifier: 1 if the last \\boxed{} assignment satisfies every clause, 0 if
    it is well-formed but fails a clause, `invalid_reward` when missing or malformed.

    Reads `Sample.answer` = {"clauses": [[lit, ...], ...], "num_vars": k}."""

    def __init__(self, invalid_reward: float = -1.0):
        self.invalid_reward = invalid_reward

    def score(self, samples: Sequence[Sample]) -> list[float]:
        out = []
        for s in samples:
            record = _answer_record(s.answer)
            assignment = parse_assignment(extract_boxed(s.response_text), record["num_vars"])
            if assignment is None:
                out.append(self.invalid_reward)
            else:
                out.append(float(formula_satisfied(record["clauses"], assignment)))
        return out
