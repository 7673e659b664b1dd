"""Knapsack RL budgets against uniform allocation at the same budget (arXiv 2509.25849).

    python benchmarks/knapsack_vs_uniform.py [--seeds 0 1 2] [--steps 150] [--sft-steps 1200]
        [--out bench_out/knapsack_vs_uniform] [--smoke]

Warm start (once, shared by every run; reused if --out already holds it): the
quickstart's tiny model SFT-trained on demonstrations from its forgetful teacher
(`focusrl.quickstart.save_warm_start`: the quickstart's model, task and SFT, 1..2-digit
additions), so success rates after SFT range from 0 (sums whose carries the teacher
dropped) to 1 (1-digit sums).

RL, per seed: GRPO from the warm start for `--steps` steps x 16 prompts per step
(quickstart settings otherwise: lr 2e-4, temperature 1), budget
16 x 8 = 128 samples per step for both arms. `uniform` gives every prompt 8; `knapsack`
splits the 128 by the knapsack over each prompt's recent success rate. Both arms draw
the same prompts in the same order (shuffled passes, same seed). The training pool is
small (256 prompts = 16 steps per pass) because the knapsack needs each prompt's success
rate from an earlier pass: in the first pass every prompt is unseen and gets the default
8, so the two arms only differ from step 17 on.

Measured per run: the share of groups with a non-zero advantage (= non-zero gradient;
`groups_nonzero_adv` in metrics.jsonl), the share of *samples* in such groups, both over
all steps and over the steps after the first pass, and the greedy held-out accuracy on
200 additions at the end. The paper claims +20-40% non-zero-gradient ratio and +2-4
points of accuracy.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from transformers.utils import logging as hf_logging

from focusrl.quickstart import quickstart_config, save_warm_start
from focusrl.trainer.components import Components, build_components
from focusrl.trainer.rl import run_eval, train
from focusrl.types import Sample

ARMS = ["uniform", "knapsack"]
TASK = [
    "data.num_train=256", "rollout.prompts_per_step=16",
    "data.num_eval=200", "rollout.max_response_tokens=5", "train.progress=false",
    "train.eval_every=0", "train.checkpoint_every=0",
]
SMOKE = [
    "model.tiny.hidden_size=32", "model.tiny.num_layers=2", "model.tiny.num_heads=2",
    "model.tiny.intermediate_size=64", "data.num_train=16", "data.num_eval=8",
    "sft.steps=3", "sft.batch_sequences=8", "rollout.prompts_per_step=4",
    "rollout.samples_per_prompt=4", "threads=1",
]


def track_groups(c: Components) -> list[dict[str, float]]:
    """Per sampler draw (= RL step here): groups, groups whose rewards differ, samples, and
    samples in such groups, recorded from what the sampler observes."""
    steps: list[dict[str, float]] = []
    observe = c.sampler.observe

    def wrapped(samples: Sequence[Sample]) -> None:
        rewards: dict[int, list[float]] = defaultdict(list)
        for s in samples:
            rewards[s.group_id].append(s.reward)
        mixed = [g for g, r in rewards.items() if len(set(r)) > 1]
        steps.append({"groups": len(rewards), "groups_mixed": len(mixed),
                      "samples": len(samples),
                      "samples_mixed": sum(len(rewards[g]) for g in mixed)})
        observe(samples)

    c.sampler.observe = wrapped  # type: ignore[method-assign]
    return steps


def run_arm(arm: str, seed: int, warm: Path, out: Path, args: argparse.Namespace,
            overrides: list[str]) -> dict[str, Any]:
    run_dir = out / f"seed{seed}" / arm
    cfg = quickstart_config(seed, str(run_dir), [*overrides, f"train.steps={args.steps}",
                                                 f"curriculum.kind={arm}"])
    c = build_components(cfg, model_path=str(warm))
    start = run_eval(c, 0)["eval/accuracy"]
    groups = track_groups(c)
    t0 = time.perf_counter()
    last = train(cfg, components=c, overwrite=True)  # the benchmark owns --out
    seconds = time.perf_counter() - t0
    lines = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().split("\n") if x]
    epoch = -(-cfg.data.num_train // cfg.rollout.prompts_per_step)  # steps per pass
    later = lines[epoch:] or lines

    def share(rows: list[dict[str, float]], part: str, whole: str) -> float:
        return sum(r[part] for r in rows) / max(sum(r[whole] for r in rows), 1)

    return {
        "arm": arm, "seed": seed, "steps": cfg.train.steps, "seconds": seconds,
        "budget_per_step": cfg.rollout.prompts_per_step * cfg.rollout.samples_per_prompt,
        "samples_generated": sum(r["samples_generated"] for r in lines),
        "steps_per_pass": epoch,
        "nonzero_group_share": statistics.fmean(r["groups_nonzero_adv"] for r in lines),
        "nonzero_group_share_after_pass1": statistics.fmean(r["groups_nonzero_adv"]
                                                            for r in later),
        "nonzero_sample_share": share(groups, "samples_mixed", "samples"),
        "nonzero_sample_share_after_pass1": share(groups[epoch:] or groups, "samples_mixed",
                                                  "samples"),
        "start_accuracy": start, "accuracy": last["eval/accuracy"],
    }


def report(records: list[dict[str, Any]]) -> list[str]:
    keys = [("nonzero_group_share", "nz groups"), ("nonzero_group_share_after_pass1",
            "nz groups p2+"), ("nonzero_sample_share", "nz samples"),
            ("nonzero_sample_share_after_pass1", "nz samples p2+"), ("accuracy", "held-out acc")]
    lines = [f"{'arm':<9}" + "".join(f"{h:>18}" for _, h in keys) + " samples/step   n"]
    mean: dict[tuple[str, str], float] = {}
    for arm in ARMS:
        rs = [r for r in records if r["arm"] == arm]
        if not rs:
            continue
        cells = []
        for k, _ in keys:
            vals = [100 * r[k] for r in rs]
            mean[(arm, k)] = statistics.fmean(vals)
            sd = statistics.stdev(vals) if len(vals) > 1 else 0.0
            cells.append(f"{mean[(arm, k)]:>10.1f} ± {sd:>4.1f}")
        per_step = statistics.fmean(r["samples_generated"] / r["steps"] for r in rs)
        lines.append(f"{arm:<9}" + "".join(f"{c:>18}" for c in cells)
                     + f" {per_step:>12.1f}   {len(rs)}")
    if all((a, "accuracy") in mean for a in ARMS):
        def rel(k: str) -> float:
            u = mean[("uniform", k)]
            return 100 * (mean[("knapsack", k)] / u - 1) if u else float("nan")

        lines.append(
            f"SUMMARY knapsack vs uniform, same budget: non-zero-gradient groups "
            f"{rel('nonzero_group_share'):+.1f}% (after pass 1: "
            f"{rel('nonzero_group_share_after_pass1'):+.1f}%), samples in such groups "
            f"{rel('nonzero_sample_share'):+.1f}% (after pass 1: "
            f"{rel('nonzero_sample_share_after_pass1'):+.1f}%); held-out accuracy "
            f"{mean[('knapsack', 'accuracy')] - mean[('uniform', 'accuracy')]:+.1f} points "
            f"(paper: +20-40% non-zero-gradient ratio, +2-4 points)")
    return lines


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--sft-steps", type=int, default=1200)  # the quickstart's SFT length
    ap.add_argument("--out", default="bench_out/knapsack_vs_uniform")
    ap.add_argument("--smoke", action="store_true", help="seconds: tiny shapes, few steps")
    args = ap.parse_args(argv)
    overrides = [*TASK, f"sft.steps={args.sft_steps}", *(SMOKE if args.smoke else [])]
    if args.smoke:
        args.seeds, args.steps = args.seeds[:1], 6
    torch.set_num_threads(1 if args.smoke else 2)
    hf_logging.disable_progress_bar()
    out = Path(args.out)
    warm = out / "warm" / "sft_model"
    if not warm.is_dir():
        t0 = time.perf_counter()
        save_warm_start(out / "warm", seed=0, overrides=overrides)
        print(f"warm start: {time.perf_counter() - t0:.0f} s -> {warm}", flush=True)
    records = []
    for seed in args.seeds:
        for arm in ARMS:
            rec = run_arm(arm, seed, warm, out, args, overrides)
            records.append(rec)
            print(f"{arm:<9} seed {seed}: non-zero groups {rec['nonzero_group_share']:.3f} "
                  f"(after pass 1 {rec['nonzero_group_share_after_pass1']:.3f}), held-out "
                  f"{rec['start_accuracy']:.3f} -> {rec['accuracy']:.3f} "
                  f"({rec['seconds']:.0f} s)", flush=True)
            (out / "results.json").write_text(json.dumps(records, indent=1))
    for line in report(records):
        print(line)
    return records


if __name__ == "__main__":
    main()
