"""RLPT's cost: seconds per RL step with and without the promising-token restriction.

    python benchmarks/rlpt_overhead.py [--steps 12] [--rounds 3] [--seed 0] [--quick]

Setup: the quickstart's run (tiny model, 32 prompts x 8 samples, 5 response tokens)
from its SFT warm start, through the real training loop (`focusrl.trainer.rl.train`),
at the same batch for every variant: unrestricted GRPO, GRPO+RLPT with K = 2, 8, 16
(source policy), and K = 8 with source reference (one extra reference forward per
decoding step). Variants run interleaved, `--rounds` times `--steps` steps each, so
load from other processes hits them alike; the first step of each run (warm-up) and
the last (it evaluates) are left out. Reported: median seconds per step, per rollout
and per update, and each variant's overhead over the unrestricted run. Issue 3's bar:
at most 10% more seconds per step.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch

from focusrl.trainer.components import build_components
from focusrl.trainer.logging import read_metrics
from focusrl.trainer.rl import train
from rlpt_common import make_config, rlpt, warm_start

VARIANTS: dict[str, list[str]] = {
    "unrestricted": [],
    "RLPT K=2": rlpt(2),
    "RLPT K=8": rlpt(8),
    "RLPT K=16": rlpt(16),
    "RLPT K=8 ref": rlpt(8, "reference"),
}
BAR = 0.10


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="bench_out/rlpt_overhead")
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    if args.quick:
        args.steps, args.rounds = 4, 1
    torch.set_num_threads(2)
    model_path = warm_start(args.seed, args.quick)
    times: dict[str, dict[str, list[float]]] = {
        n: {"time_step": [], "time_rollout": [], "time_update": [], "response_length": []}
        for n in VARIANTS}
    t0 = time.perf_counter()
    for rnd in range(args.rounds):
        for name, overrides in VARIANTS.items():
            run_dir = Path(args.out) / f"{name.replace(' ', '_')}_r{rnd}"
            cfg = make_config(args.seed, run_dir, [*overrides, f"train.steps={args.steps}",
                                                   "train.eval_every=0"], args.quick)
            c = build_components(cfg, model_path=str(model_path))
            train(cfg, components=c, overwrite=True)  # the benchmark owns --out
            for rec in read_metrics(run_dir / "metrics.jsonl")[1:-1]:
                for key, vals in times[name].items():
                    vals.append(rec[key])
    print(f"{args.rounds} rounds x {args.steps} steps per variant, 32 prompts x 8 samples "
          f"(quick: 4 x 4); {time.perf_counter() - t0:.0f}s")
    base = statistics.median(times["unrestricted"]["time_step"])
    print("| variant | s/step (median) | rollout s | update s | mean response tokens "
          "| overhead vs unrestricted |")
    print("|---|---|---|---|---|---|")
    worst = 0.0
    for name, t in times.items():
        med = statistics.median(t["time_step"])
        over = med / base - 1
        if name != "unrestricted" and "ref" not in name:
            worst = max(worst, over)
        print(f"| {name} | {med:.3f} | {statistics.median(t['time_rollout']):.3f} | "
              f"{statistics.median(t['time_update']):.3f} | "
              f"{statistics.fmean(t['response_length']):.2f} | {over:+.1%} |")
    ref = statistics.median(times["RLPT K=8 ref"]["time_step"]) / base - 1
    verdict = "meets" if worst <= BAR else "misses"
    print(f"RLPT overhead (source policy, worst K): {worst:+.1%} per step, {verdict} the "
          f"{BAR:.0%} bar; source reference K=8: {ref:+.1%}")


if __name__ == "__main__":
    main()
