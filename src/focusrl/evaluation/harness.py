"""The evaluation harness: sample n answers per prompt, score them, report metrics.

`evaluate(engine, prompts, rewarder, ...)` works with any `RolloutEngine` (a run's
checkpoint or any HF model behind HFEngine) and any rewarder (`score(samples)`). A
sample is correct when its reward >= `success_reward`. Per prompt it computes pass@k
(unbiased), avg@k and maj@k for every k; the result averages them over prompts, overall
and per value of each breakdown key found in `Prompt.meta` (subject, level, difficulty).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from focusrl.evaluation.metrics import avg_at_k, maj_at_k, pass_at_k
from focusrl.rewards.base import Rewarder
from focusrl.rewards.extract import extract_answer
from focusrl.rollout.base import RolloutEngine
from focusrl.types import GenerationRequest, Prompt, Sample, SamplingParams

AnswerFn = Callable[[Sample], Hashable | None]
"""The answer a sample votes for in maj@k (None: no answer)."""


def default_answer(sample: Sample) -> str | None:
    """\\boxed{} / #### / last number, else the whole response; case and spaces folded."""
    text = extract_answer(sample.response_text, "auto") or sample.response_text
    text = " ".join(text.lower().split())
    return text or None


@dataclass
class PromptResult:
    prompt_id: str
    num_samples: int
    num_correct: int
    mean_reward: float
    metrics: dict[str, float]
    """pass@k, avg@k, maj@k of this prompt."""
    groups: dict[str, str] = field(default_factory=dict)
    """Breakdown key -> this prompt's value (as text)."""


@dataclass
class EvalResult:
    num_prompts: int
    samples_per_prompt: int
    ks: list[int]
    metrics: dict[str, float]
    """Mean over prompts of each per-prompt metric, plus mean_reward."""
    breakdowns: dict[str, dict[str, dict[str, float]]]
    """key -> value -> metrics of the prompts with that value (with 'count')."""
    settings: dict[str, Any]
    prompts: list[PromptResult]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self, indent: int = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    def format_table(self) -> str:
        """A readable fixed-width table: overall, then each breakdown value."""
        names = [*self.metrics]
        s = self.settings
        head = (f"{self.num_prompts} prompts x {self.samples_per_prompt} samples "
                f"(temperature {s.get('temperature')}, max {s.get('max_new_tokens')} tokens)")
        rows = [("overall", self.num_prompts, self.metrics)]
        for key, by_value in self.breakdowns.items():
            for value, m in by_value.items():
                rows.append((f"{key}={value}", int(m["count"]), m))
        width = max(12, *(len(r[0]) for r in rows))
        lines = [head, f"{'':<{width}} {'n':>6} " + " ".join(f"{n:>11}" for n in names)]
        for label, count, m in rows:
            lines.append(f"{label:<{width}} {count:>6} "
                         + " ".join(f"{m[n]:>11.4f}" for n in names))
        return "\n".join(lines)


def _mean_metrics(results: Sequence[PromptResult], names: Sequence[str]) -> dict[str, float]:
    out = {n: sum(r.metrics[n] for r in results) / len(results) for n in names}
    out["mean_reward"] = sum(r.mean_reward for r in results) / len(results)
    return out


def _sort_key(value: str) -> tuple[int, float | str]:
    try:
        return (0, float(value))
    except ValueError:
        return (1, value)


def prompt_result(prompt: Prompt, samples: Sequence[Sample], ks: Sequence[int],
                  success_reward: float, answer_fn: AnswerFn,
                  breakdown_keys: Sequence[str]) -> PromptResult:
    """Metrics of one prompt from its scored samples (in sampling order)."""
    correct = [s.reward >= success_reward for s in samples]
    answers = [answer_fn(s) for s in samples]
    metrics: dict[str, float] = {}
    for k in ks:
        metrics[f"pass@{k}"] = pass_at_k(len(samples), sum(correct), k)
        metrics[f"avg@{k}"] = avg_at_k(correct, k)
        metrics[f"maj@{k}"] = maj_at_k(answers, correct, k)
    groups = {key: str(prompt.meta[key]) for key in breakdown_keys if key in prompt.meta}
    return PromptResult(prompt.id, len(samples), sum(correct),
                        sum(s.reward for s in samples) / len(samples), metrics, groups)


def evaluate(
    engine: RolloutEngine,
    prompts: Sequence[Prompt],
    rewarder: Rewarder,
    n_samples: int,
    ks: Sequence[int] = (1,),
    temperature: float = 1.0,
    max_new_tokens: int = 512,
    breakdown_keys: Sequence[str] = ("subject", "level", "difficulty"),
    success_reward: float = 1.0,
    top_p: float = 1.0,
    batch_prompts: int = 64,
    answer_fn: AnswerFn = default_answer,
    seed: int | None = None,
) -> EvalResult:
    """Sample `n_samples` answers per prompt (greedy when temperature is 0), score them
    with `rewarder`, and report pass@k / avg@k / maj@k for each k in `ks`. With `seed`,
    sampling uses private random streams (seed + chunk start) and leaves the engine's own
    stream untouched."""
    if not prompts:
        raise ValueError("evaluate needs at least one prompt")
    bad = [k for k in ks if not 1 <= k <= n_samples]
    if bad:
        raise ValueError(f"every k must be in 1..n_samples={n_samples}, got {bad}")
    params = SamplingParams(max_new_tokens=max_new_tokens, temperature=temperature or 1.0,
                            top_p=top_p, n=n_samples, greedy=temperature == 0)
    results: list[PromptResult] = []
    for start in range(0, len(prompts), batch_prompts):
        chunk = prompts[start:start + batch_prompts]
        requests = [GenerationRequest(p, n_samples, start + i) for i, p in enumerate(chunk)]
        if seed is not None:
            params = replace(params, seed=seed + start)
        samples = engine.generate(requests, params)
        for s, r in zip(samples, rewarder.score(samples)):
            s.reward = float(r)
        by_group: dict[int, list[Sample]] = defaultdict(list)
        for s in samples:
            by_group[s.group_id].append(s)
        for i, p in enumerate(chunk):
            results.append(prompt_result(p, by_group[start + i], ks, success_reward,
                                         answer_fn, breakdown_keys))
    names = [f"{m}@{k}" for k in ks for m in ("pass", "avg", "maj")]
    breakdowns: dict[str, dict[str, dict[str, float]]] = {}
    for key in breakdown_keys:
        by_value: dict[str, list[PromptResult]] = defaultdict(list)
        for r in results:
            if key in r.groups:
                by_value[r.groups[key]].append(r)
        if by_value:
            breakdowns[key] = {v: {**_mean_metrics(rs, names), "count": len(rs)}
                               for v, rs in sorted(by_value.items(),
                                                   key=lambda kv: _sort_key(kv[0]))}
    settings = {"temperature": temperature, "top_p": top_p, "max_new_tokens": max_new_tokens,
                "success_reward": success_reward}
    return EvalResult(len(results), n_samples, list(ks), _mean_metrics(results, names),
                      breakdowns, settings, results)
