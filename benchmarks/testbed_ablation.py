"""The testbed's ablations (issue 18), seed by seed: each arm against its baseline, paired
by seed, through the trainer's own loop (`train` with an `on_step` hook, or `run_sft`).

    python benchmarks/testbed_ablation.py [--arms GRPO Lp-Reg] [--seeds 0 1 2 3 4]
        [--steps 40] [--sft-steps 800] [--eval-every N] [--testbed-seed 0]
        [--out benchmarks/results/lpreg_vs_grpo] [--quick]
    python benchmarks/claims_table.py benchmarks/results/lpreg_vs_grpo --baseline GRPO \\
        --arm Lp-Reg --claim final_pass1:higher --claim entropy_late:higher

The arms (`ARMS`: RL; `SFT_ARMS`: SFT) are GRPO, Lp-Reg, RLPT (K and source), EDCO,
knapsack budgets and their baselines; docs/benchmarks.md gives each comparison's command.
RL arms start from the testbed's seed-0 warm start (benchmarks/testbed.py, built once
and cached; `--testbed-seed S`: the testbed built with seed S, its own tokenizer, model
and warm start) and differ only in their overrides (e.g. `algorithm.loss` grpo vs lp_reg with
its defaults: min_p 0.02, rho 0.01, coef 1); the seed sets the run's prompt order, sampling
and loss randomness, so two arms of one seed form a pair. Each RL run takes `--steps` steps
of 16 prompts x 8 samples and evaluates held-out accuracy (200 prompts: greedy, and sampled
at temperature 1, 2 per prompt: `pass1`) before and after (and every `--eval-every` steps).

Paper's claim (arXiv 2510.03222): Lp-Reg keeps entropy from collapsing and trains stably,
ending with higher accuracy than GRPO-family baselines.

Writes one JSON per (arm, seed) to `--out` as it finishes: {"arm", "seed", "steps",
"final": {final_accuracy, start_accuracy (greedy), final_pass1, start_pass1, entropy_first,
entropy_late (mean of the last quarter of steps), reward_late, accuracy_late (training
samples' accuracy by the numeric check), lp_reg_selected (mean share
of tokens regularised), groups_nonzero_adv / samples_nonzero_adv (mean share of groups /
samples with a non-zero advantage), steps_to_target / samples_to_target (first evaluated
step reaching pass@1 PASS1_TARGET)},
"records": the per-step trainer metrics}. Runs already there are skipped (resume).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

from rlpt_common import rlpt, train_to_budget
from testbed import (
    ROOT,
    TEACHER_ERROR_RATE,
    build_testbed,
    forgetful_teacher,
    testbed_config,
    worked_solution,
)
from testbed_judge import build_judge, sirlc_rewards

SMALL = ["data.num_train=128"]
"""Knapsack budgets allocate by each prompt's recent success rate, so prompts must come back:
128 training prompts, each seen about 4 times in 30 steps of 16 (the 20,000 of the testbed
would each be seen once, leaving every prompt at the default budget)."""
ARMS = {"GRPO": ["algorithm.loss=grpo"], "Lp-Reg": ["algorithm.loss=lp_reg"],
        "RLPT K=8": ["algorithm.loss=grpo", *rlpt(8)],
        "RLPT K=4": ["algorithm.loss=grpo", *rlpt(4)],
        "RLPT K=16": ["algorithm.loss=grpo", *rlpt(16)],
        "RLPT K=8 ref": ["algorithm.loss=grpo", *rlpt(8, "reference")],
        "EDCO": ["algorithm.loss=grpo", "curriculum.kind=edco"],
        "GRPO n128": ["algorithm.loss=grpo", *SMALL],
        "knapsack n128": ["algorithm.loss=grpo", *SMALL, "curriculum.kind=knapsack"]}
"""`RLPT K=8` (GRPO restricted to the policy's top-8 tokens, arXiv RLPT) runs with
`--arms "RLPT K=8" --out benchmarks/results/rlpt_vs_grpo`; its GRPO baseline is the same
config and seeds as here. The K and source sweep (`RLPT K=4`, `RLPT K=16`, `RLPT K=8 ref`:
the promising set from the frozen reference model instead of the current policy) writes to
the same directory. `EDCO` (entropy curriculum for RL, its defaults: 8-token prefix,
pool 256, keep 25%, refresh every 10 steps) also compares with `GRPO`; `knapsack n128`
compares with `GRPO n128` (same 128 training prompts, uniform budgets)."""
JUDGE_ARMS: dict[str, Callable[[Path], list[str]]] = {
    "judge-ws verifier": lambda judge: ["algorithm.loss=grpo"],
    "judge-ws SIRLC": lambda judge: ["algorithm.loss=grpo", *sirlc_rewards()],
    "judge-ws SIRLC frozen": lambda judge: ["algorithm.loss=grpo", *sirlc_rewards(judge)]}
"""Arms from the judge warm start (benchmarks/testbed_judge.py: the warm start taught to
answer `Correct? yes or no`), their overrides a function of its directory `judge`.
`judge-ws SIRLC` trains on the policy's own P(yes) about its answer, `judge-ws SIRLC
frozen` on P(yes) from a frozen copy of the judge warm start (the judge does not train
with the policy), `judge-ws verifier` on the numeric check; all are evaluated by the
numeric check."""
SFT_ARMS = {"SFT uniform": ["curriculum.kind=uniform"], "SFT EDCO": ["curriculum.kind=edco"]}
"""SFT from the testbed's untrained model (seed 0's init) on the forgetful teacher's
demonstrations for `--sft-steps` steps of 32 sequences: uniform prompts against EDCO's
(its defaults: 8-token prefix, 4 samples, pool 256, keep 25%, refresh every 10 steps).
EDCO's paper fine-tunes pretrained models; here the model starts untrained, so its first
refreshes rank prompts by a near-uniform policy's entropy."""
EVAL = ["train.eval_samples_per_prompt=2", "train.eval_temperature=1.0"]
"""Held-out sampled accuracy (pass@1 at temperature 1, 2 samples x 200 prompts): the warm
start's greedy accuracy is near 100%, the room RL has is in its sampled accuracy."""
OUT = Path(__file__).resolve().parent / "results" / "lpreg_vs_grpo"


def summarise(records: list[dict]) -> dict[str, float]:
    steps = [r for r in records if r.get("step", 0) > 0 and "entropy" in r]
    late = steps[-max(1, len(steps) // 4):]
    return {
        "start_accuracy": records[0]["eval/accuracy"],
        "final_accuracy": records[-1]["eval/accuracy"],
        "start_pass1": records[0]["eval/pass@1"],
        "final_pass1": records[-1]["eval/pass@1"],
        "entropy_first": steps[0]["entropy"],
        "entropy_late": statistics.fmean(r["entropy"] for r in late),
        "reward_late": statistics.fmean(r["reward_mean"] for r in late),
        "accuracy_late": statistics.fmean(r["accuracy"] for r in late),
        "lp_reg_selected": statistics.fmean(r.get("lp_reg_selected", 0.0) for r in steps),
        "groups_nonzero_adv": statistics.fmean(r.get("groups_nonzero_adv", 0.0) for r in steps),
        "samples_nonzero_adv": statistics.fmean(r.get("samples_nonzero_adv", 0.0)
                                                for r in steps),
        **_steps_to(records, "eval/pass@1", PASS1_TARGET),
    }


PASS1_TARGET = 0.80
"""Compute-to-target: the first evaluated step (and generated samples) at which held-out
sampled pass@1 reaches this (the warm start is at 0.67; GRPO ends 30 steps near 0.84)."""


def _steps_to(records: list[dict], key: str, target: float) -> dict[str, float]:
    """`steps_to_target` / `samples_to_target`: where `key` first reached `target` among the
    evaluated steps (NaN when it never did; evaluate often with --eval-every)."""
    hit = next((r for r in records if r.get(key, -1.0) >= target), None)
    nan = float("nan")
    return {"steps_to_target": float(hit["step"]) if hit else nan,
            "samples_to_target": float(hit.get("samples", nan)) if hit else nan}


def run_sft_arm(arm: str, seed: int, steps: int, run_dir: Path, quick: bool,
                testbed_seed: int = 0) -> tuple[dict[str, float], list[dict]]:
    """SFT with `arm`'s sampler through the trainer's own `run_sft`, then held-out eval."""
    from focusrl.trainer.components import build_components
    from focusrl.trainer.rl import run_eval
    from focusrl.trainer.sft import run_sft

    init = build_testbed(testbed_seed, quick).parent / "init_model"
    cfg = testbed_config(seed, run_dir, [*SFT_ARMS[arm], *EVAL, f"sft.steps={steps}"],
                         quick=quick, model_path=init)
    c = build_components(cfg)
    try:
        start = run_eval(c, 0)
        run_dir.mkdir(parents=True, exist_ok=True)
        hist = run_sft(c.model, c.tokenizer, c.sampler, cfg.sft, c.device,
                       metrics_path=run_dir / "sft_metrics.jsonl", progress=False,
                       compute_dtype=c.compute_dtype,
                       target_fn=forgetful_teacher(TEACHER_ERROR_RATE, seed))
        end = run_eval(c, steps)
        heldout_nll = _heldout_nll(c, seed)
    finally:
        c.close()
    tail = hist[-max(1, len(hist) // 10):]
    return ({"start_accuracy": start["eval/accuracy"], "final_accuracy": end["eval/accuracy"],
             "start_pass1": start["eval/pass@1"], "final_pass1": end["eval/pass@1"],
             "final_loss": statistics.fmean(r["sft_loss"] for r in tail),
             "heldout_nll": heldout_nll,
             "sft_seconds": sum(r["time_step"] for r in hist)}, hist)


@torch.no_grad()
def _heldout_nll(c, seed: int) -> float:
    """Mean per-token NLL of *correct* worked solutions (no forgotten carry) on the held-out
    prompts: a continuous measure of what SFT learned, where greedy accuracy sits near 0
    after a short SFT. (The training loss is no measure across arms: EDCO trains on the
    prompts it finds hardest.)"""
    from focusrl.trainer.sft import sft_loss, sft_sample

    c.model.eval()
    rng = random.Random(seed)
    samples = [sft_sample(p, c.tokenizer, worked_solution(
        *(int(x) for x in p.text.rstrip("=").split("+")), rng)) for p in c.data.eval]
    return float(sft_loss(c.model, samples, c.tokenizer.pad_token_id, c.device, c.compute_dtype))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--arms", nargs="+", default=["GRPO", "Lp-Reg"],
                    choices=[*ARMS, *JUDGE_ARMS, *SFT_ARMS])
    ap.add_argument("--sft-steps", type=int, default=800, help="SFT arms: steps of 32")
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--eval-every", type=int, default=0,
                    help="also evaluate every N steps (0: only before and after)")
    ap.add_argument("--testbed-seed", type=int, default=0,
                    help="which testbed (tokenizer, model, warm start) every arm starts from")
    ap.add_argument("--quick", action="store_true", help="smoke mode: tiny everything")
    args = ap.parse_args(argv)
    torch.set_num_threads(2)
    ws = args.testbed_seed
    model = build_testbed(ws, args.quick)
    args.out.mkdir(parents=True, exist_ok=True)
    for seed in args.seeds:
        for arm in args.arms:
            path = args.out / f"{arm}_s{seed}.json"
            if path.exists():
                print(f"{arm} seed {seed}: already in {path}", flush=True)
                continue
            run_dir = (ROOT.parent / "testbed_ablation"
                       / (f"{arm}_s{seed}" + (f"_ws{ws}" if ws else "")))
            t0 = time.perf_counter()
            if arm in SFT_ARMS:
                steps = args.sft_steps
                final, records = run_sft_arm(arm, seed, steps, run_dir, args.quick, ws)
            else:
                steps = args.steps
                if arm in JUDGE_ARMS:
                    start = build_judge(ws, args.quick)
                    overrides = JUDGE_ARMS[arm](start)
                else:
                    start, overrides = model, ARMS[arm]
                cfg = testbed_config(seed, run_dir, [*overrides, *EVAL], quick=args.quick,
                                     model_path=start)
                per_step = cfg.rollout.prompts_per_step * cfg.rollout.samples_per_prompt
                records = train_to_budget(cfg, start, steps * per_step,
                                          eval_every_samples=(args.eval_every or steps)
                                          * per_step, full_entropy_every=10**9)
                final = summarise(records)
            path.write_text(json.dumps({"arm": arm, "seed": seed, "testbed_seed": ws,
                                        "steps": steps,
                                        "seconds": time.perf_counter() - t0, "final": final,
                                        "records": records}, indent=1))
            print(f"{arm} seed {seed}: " + ", ".join(f"{k} {v:.3f}" for k, v in final.items())
                  + f" ({time.perf_counter() - t0:.0f}s)", flush=True)


if __name__ == "__main__":
    sys.exit(main())
