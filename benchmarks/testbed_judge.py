"""SIRLC on the testbed: a warm start that can judge its own working, and how well it judges.

    python benchmarks/testbed_judge.py [--seed 0] [--quick]   # build (cached) + judge accuracy

SIRLC (arXiv 2305.14483) lets the policy grade its own answers: focusrl's `self_eval` reward
asks the policy `{question}{answer}\\nCorrect? yes or no:` and pays P(yes). That can only
train something if the policy judges better than chance, and the testbed's warm start has
never seen a question about its working. The paper starts from pretrained LMs, which can
(somewhat) judge; nothing pretrained can be downloaded here, so this module gives the
testbed's warm start that ability the way a pretrained model would have got it, from text:
`JUDGE_STEPS` more SFT steps in which half the sequences are the forgetful teacher's
demonstrations (as before) and half are judgements of worked solutions, correct or with a
forgotten carry (50/50 on prompts that need a carry; correct otherwise), answered `yes` or
`no`. The judge is the policy itself and is *not* frozen during RL, as in the paper.

`judge_accuracy` then measures, on held-out prompts and the model's own sampled answers,
how well P(yes) separates right from wrong answers (ROC AUC, and accuracy at 0.5), before
any SIRLC run; `sirlc_rewards()` is the reward config the SIRLC arms of testbed_ablation.py
trains on (the numeric check is a weight-0 monitor: it is logged, not trained on).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path
from typing import Any

import torch

from focusrl.types import Prompt
from testbed import (
    ROOT,
    TEACHER_ERROR_RATE,
    build_testbed,
    forgetful_teacher,
    needs_carry,
    testbed_config,
    worked_solution,
)

JUDGE_TEMPLATE = "{question}{answer}\nCorrect? yes or no:"
"""The self-evaluation prompt; `yes`/`no` (no leading space) are single first tokens of the
testbed's BPE vocabulary, where ` yes` starts with a bare space token."""
JUDGE_STEPS = 600
JUDGE_PROMPTS = 8000
"""Distinct judgement examples (a worked solution each) the judge SFT draws from."""


def sirlc_rewards(judge: str | Path = "") -> list[str]:
    """The SIRLC arms' reward config: P(yes) about the policy's answer, judged by the policy
    itself (`judge` empty: the judge changes as the policy trains) or by the frozen model
    at `judge`; the true check is a weight-0 monitor (logged, not trained on)."""
    model = f", model: '{judge}'" if judge else ""
    return [
        f"rewards.parts=[{{kind: self_eval, name: self_eval, weight: 1.0, args: {{template: "
        f'{json.dumps(JUDGE_TEMPLATE)}, yes_words: ["yes"], no_words: ["no"], '
        f"batch_size: 64{model}}}}}, {{kind: numeric, name: accuracy_monitor, weight: 0.0, "
        "args: {extract: last_number}}]",
        "rewards.accuracy_part=accuracy_monitor",
    ]


def judge_dir(seed: int, quick: bool = False) -> Path:
    return ROOT / (f"quick_seed{seed}" if quick else f"seed{seed}") / "judge_model"


def judgement_prompts(seed: int, n: int) -> list[Prompt]:
    """`n` judgement examples over fresh operands: a worked solution, right or with a
    forgotten carry, and the verdict as meta['verdict']."""
    rng = random.Random(50_000 + seed)
    out = []
    for i in range(n):
        a, b = rng.randint(10, 9_999), rng.randint(10, 9_999)
        wrong = needs_carry(a, b) and rng.random() < 0.5
        working = worked_solution(a, b, rng, forget=wrong)
        out.append(Prompt(id=f"judge-{i}", text=JUDGE_TEMPLATE.format(
            question=f"{a}+{b}=", answer=working), meta={"verdict": "no" if wrong else "yes"}))
    return out


def build_judge(seed: int = 0, quick: bool = False) -> Path:
    """The testbed's warm start after `JUDGE_STEPS` more SFT steps on demonstrations and
    judgements (half each); built once, cached next to the warm start."""
    from focusrl.curriculum.base import UniformSampler
    from focusrl.trainer.checkpoint import save_model_dir
    from focusrl.trainer.components import build_components
    from focusrl.trainer.sft import run_sft

    path = judge_dir(seed, quick)
    if (path / "config.json").exists():
        return path
    warm = build_testbed(seed, quick)
    steps = 10 if quick else JUDGE_STEPS
    cfg = testbed_config(seed, path.parent / "judge_sft_run", [f"sft.steps={steps}"],
                         quick=quick, model_path=warm)
    c = build_components(cfg)
    judged = judgement_prompts(seed, 200 if quick else JUDGE_PROMPTS)
    solve = list(c.data.train[:len(judged)])
    sampler = UniformSampler([*solve, *judged], 1, seed)
    teacher = forgetful_teacher(TEACHER_ERROR_RATE, seed)

    def target(p: Prompt) -> str:
        return p.meta["verdict"] if "verdict" in p.meta else teacher(p)

    t0 = time.perf_counter()
    run_sft(c.model, c.tokenizer, sampler, cfg.sft, c.device,
            metrics_path=path.parent / "judge_sft_metrics.jsonl", progress=False,
            compute_dtype=c.compute_dtype, target_fn=target)
    save_model_dir(c.model, c.tokenizer, path)
    c.close()
    print(f"judge seed {seed}: {steps} SFT steps in {time.perf_counter() - t0:.0f}s -> {path}",
          flush=True)
    return path


def roc_auc(scores: list[float], labels: list[bool]) -> float:
    """P(score of a random positive > score of a random negative), ties count half."""
    pos = [s for s, y in zip(scores, labels) if y]
    neg = [s for s, y in zip(scores, labels) if not y]
    if not pos or not neg:
        return float("nan")
    wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


def judge_accuracy(model_path: Path, seed: int = 0, quick: bool = False, prompts: int = 64,
                   samples_per_prompt: int = 8) -> dict[str, Any]:
    """Sample answers to held-out prompts from `model_path` and compare the policy's own
    P(yes) about each with the numeric check."""
    from focusrl.trainer.components import build_components
    from focusrl.trainer.rl import generate_and_score, sampling_params
    from focusrl.types import GenerationRequest

    cfg = testbed_config(seed, model_path.parent / "judge_accuracy_run", [
        *sirlc_rewards(), f"rollout.samples_per_prompt={samples_per_prompt}"], quick=quick,
        model_path=model_path)
    c = build_components(cfg)
    with torch.no_grad():
        reqs = [GenerationRequest(p, samples_per_prompt, i)
                for i, p in enumerate(c.data.eval[:prompts])]
        samples, _, _ = generate_and_score(c, reqs, sampling_params(cfg))
    c.close()
    p_yes = [s.reward_parts["self_eval"] for s in samples]
    right = [s.reward_parts["accuracy_monitor"] > 0.5 for s in samples]
    said = [p > 0.5 for p in p_yes]
    return {"model": str(model_path), "samples": len(samples),
            "share_right": sum(right) / len(right), "roc_auc": roc_auc(p_yes, right),
            "accuracy_at_0.5": sum(a == b for a, b in zip(said, right)) / len(right),
            "mean_p_yes_right": _mean([p for p, r in zip(p_yes, right) if r]),
            "mean_p_yes_wrong": _mean([p for p, r in zip(p_yes, right) if not r])}


def _mean(xs: list[float]) -> float:
    return sum(xs) / len(xs) if xs else float("nan")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args(argv)
    torch.set_num_threads(2)
    n = 4 if args.quick else 64
    for name, path in (("warm start", build_testbed(args.seed, args.quick)),
                       ("judge warm start", build_judge(args.seed, args.quick))):
        res = judge_accuracy(path, args.seed, args.quick, prompts=n)
        print(json.dumps(res), flush=True)
        print(f"{name}: P(yes) separates right from wrong answers with ROC AUC "
              f"{res['roc_auc']:.3f}, accuracy at 0.5 {res['accuracy_at_0.5']:.1%} "
              f"({res['share_right']:.1%} of {res['samples']} sampled answers right; mean "
              f"P(yes) {res['mean_p_yes_right']:.3f} when right, "
              f"{res['mean_p_yes_wrong']:.3f} when wrong)", flush=True)


if __name__ == "__main__":
    sys.exit(main())
