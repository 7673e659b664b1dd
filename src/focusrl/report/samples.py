"""A bounded log of a few held-out samples per evaluation: <run_dir>/samples.jsonl.

One line per sample: step, prompt, response, reward parts, reward and whether it counted
as correct. At most `per_eval` samples per evaluation (the first prompts of the held-out
set, so evaluations compare the same prompts), texts cut to `MAX_CHARS`, and only the
newest `MAX_EVALS` evaluations are kept, so the file stays small on long runs.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

MAX_CHARS = 1000
"""Longest prompt or response text kept (characters)."""
MAX_EVALS = 50
"""Evaluations kept in the file (the newest)."""


def _cut(text: str) -> str:
    return text if len(text) <= MAX_CHARS else text[:MAX_CHARS] + " [...]"


def sample_row(step: int, sample: Any, correct: bool) -> dict[str, Any]:
    return {"step": step, "prompt": _cut(sample.prompt_text), "response":
            _cut(sample.response_text), "reward": float(sample.reward),
            "reward_parts": {k: float(v) for k, v in sample.reward_parts.items()},
            "correct": bool(correct), "truncated": bool(sample.truncated)}


def append_samples(path: str | Path, step: int, rows: Sequence[dict[str, Any]]) -> None:
    """Add one evaluation's rows. Rows at this step or later (left by an interrupted run
    that is now resumed, or an older run in the same directory) are dropped first."""
    path = Path(path)
    old = read_samples(path) if path.exists() else []
    kept = [r for r in old if r.get("step", 0) < step]
    steps = sorted({r["step"] for r in kept})
    if len(steps) >= MAX_EVALS:
        oldest_kept = steps[len(steps) - MAX_EVALS + 1]
        kept = [r for r in kept if r["step"] >= oldest_kept]
    lines = [json.dumps(r) for r in [*kept, *rows]]
    tmp = path.with_suffix(".jsonl.tmp")
    path.parent.mkdir(parents=True, exist_ok=True)  # an evaluation before any metrics line
    tmp.write_text("".join(line + "\n" for line in lines))
    tmp.replace(path)


def read_samples(path: str | Path) -> list[dict[str, Any]]:
    path = Path(path)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


class SampleKeeper:
    """Collects the first `limit` scored samples of an evaluation (an observer for
    trainer/evaluate.py's CorrectnessRewarder), then `write`s them to samples.jsonl."""

    def __init__(self, limit: int):
        self.limit = limit
        self.kept: list[tuple[Any, bool]] = []

    def __call__(self, samples: Sequence[Any], correct: Sequence[bool]) -> None:
        room = self.limit - len(self.kept)
        self.kept.extend(list(zip(samples, correct))[: max(room, 0)])

    def write(self, run_dir: str | Path, step: int) -> None:
        if self.limit > 0 and self.kept:
            append_samples(Path(run_dir) / "samples.jsonl", step,
                           [sample_row(step, s, ok) for s, ok in self.kept])
