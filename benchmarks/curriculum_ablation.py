"""Curriculum ablation: EDCO vs uniform vs easy-to-hard vs perplexity, for SFT and for RL.

    python benchmarks/curriculum_ablation.py [--seeds 0 1 2] [--phases sft rl]
        [--sft-steps 1000] [--rl-steps 200] [--rl-lr 2e-4] [--warm-sft-steps 1200]
        [--out bench_out/curriculum_ablation] [--smoke]

Task (both phases): generated addition with 1..2-digit operands (meta['difficulty'] =
total operand digits, 2..4), 2000 training prompts, the same 200 held-out prompts for
every run (the generator's fixed split, data seed 1234). threads=2.

SFT phase, per seed and arm: the built-in tiny model (Qwen2 architecture, character
tokenizer) at width 64, 3 layers, 4 heads (as in edco_estimator.py), from scratch
(init seeded by the run seed); `run_sft` for `--sft-steps` steps x 64 sequences
(lr 2e-3, correct answers) drawn from the arm's sampler (exactly what
`focusrl sft ... curriculum.kind=ARM` runs), then greedy held-out accuracy.

RL phase: every arm of every seed starts from one shared warm start, the quickstart's
(`focusrl.quickstart.save_warm_start`, seed 0, built once under --out/warm and reused
if present): the quickstart's tiny model (width 128, 4 layers), SFT-trained for
`--warm-sft-steps` steps x 128 sequences on demonstrations from its forgetful teacher,
who drops the carries in 70% of the sums that need one. After it some sums are always
wrong, so GRPO with a verifier of the true sum has something to fix (the quickstart:
33% -> 81% in 600 steps). Per seed and arm: the quickstart's RL config
(`quickstart_config`: lr 2e-4 with 20 warm-up steps, temperature 1, 8 samples per
prompt) with 16 prompts per step, the task above, `curriculum.kind=ARM` and
`train.steps=--rl-steps` (what `focusrl train ... curriculum.kind=ARM model.path=...`
runs), then greedy held-out accuracy. The warm start's held-out accuracy is recorded
as `start_accuracy`. Its SFT data (the quickstart's split: 300 held out, 6000 train)
never contains the 200 held-out sums used here. The perplexity order is scored by the
warm-start model (at the first draw); EDCO estimates entropy with the current policy.

Equal compute: every arm takes the same optimizer steps on the same number of sequences
(SFT) or generated samples (RL) per step. The curricula's own costs are *not* in that
budget and are reported next to the accuracy: EDCO's estimation (tokens generated and
seconds, every `edco_refresh_steps` steps over a 256-prompt pool) and the perplexity
curriculum's one-off teacher-forced scoring of the whole training set. RL runs also
record the mean share of groups with a non-zero advantage (`groups_nonzero_adv`).

Arms use the library defaults (EDCO: 8 prefix tokens, 4 samples, refresh every 10
steps, top 25% of a 256-prompt pool; no quick-answer suffix: `12+34=` already asks for
the bare answer). Writes results.json (every run) under --out; prints one table and a
last summary line.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

import torch
from transformers.utils import logging as hf_logging

from focusrl.config import Config, load_config
from focusrl.quickstart import quickstart_config, save_warm_start
from focusrl.trainer.components import Components, build_components
from focusrl.trainer.evaluate import evaluate_on
from focusrl.trainer.rl import train
from focusrl.trainer.sft import run_sft

ARMS = ["uniform", "edco", "easy_to_hard", "perplexity"]
TASK = [
    "threads=2", "data.source=arithmetic", "data.arithmetic.min_digits=1",
    "data.arithmetic.max_digits=2", "data.num_train=2000", "data.num_eval=200",
    "rewards.parts=[{kind: numeric, args: {extract: full}}]",
    "rollout.max_response_tokens=5", "rollout.temperature=1.0",
    "train.progress=false", "train.checkpoint_every=0", "train.eval_every=0",
    "sft.batch_sequences=64", "sft.lr=2e-3", "sft.warmup_steps=20",
    "rollout.prompts_per_step=16", "rollout.samples_per_prompt=8",
    "optim.warmup_steps=5", "model.tiny.hidden_size=64",
    "model.tiny.num_layers=3", "model.tiny.num_heads=4", "model.tiny.intermediate_size=192",
]
"""SFT phase: the task and the width-64 model (from scratch)."""
RL_TASK = [
    "data.num_train=2000", "data.num_eval=200", "rollout.prompts_per_step=16",
    "rollout.max_response_tokens=5", "train.progress=false", "train.eval_every=0",
    "train.checkpoint_every=0",
]
"""RL phase: overrides on top of the quickstart's settings (model, task, lr, samples)."""
SMOKE = [
    "model.tiny.hidden_size=32", "model.tiny.num_layers=2", "model.tiny.num_heads=2",
    "model.tiny.intermediate_size=64", "data.num_train=64", "data.num_eval=8",
    "sft.batch_sequences=8", "rollout.prompts_per_step=4", "rollout.samples_per_prompt=4",
    "curriculum.edco_pool_prompts=16", "curriculum.edco_refresh_steps=2", "threads=1",
]


def make_config(arm: str, seed: int, run_dir: Path, args: argparse.Namespace) -> Config:
    """SFT phase config."""
    return load_config(None, [*TASK, *(SMOKE if args.smoke else []), f"seed={seed}",
                              f"run_dir={run_dir}", f"curriculum.kind={arm}",
                              f"sft.steps={args.sft_steps}"])


def warm_overrides(args: argparse.Namespace) -> list[str]:
    """The quickstart's warm start (its model, task split and SFT), progress bars off."""
    return ["train.progress=false", f"sft.steps={args.warm_sft_steps}",
            *(SMOKE if args.smoke else [])]


def rl_config(arm: str, seed: int, run_dir: Path, args: argparse.Namespace) -> Config:
    """RL phase config: the quickstart's settings plus the task and the arm."""
    return quickstart_config(seed, str(run_dir), [
        *RL_TASK, *(SMOKE if args.smoke else []), f"curriculum.kind={arm}",
        f"train.steps={args.rl_steps}", f"optim.lr={args.rl_lr}"])


def ensure_warm_start(out: Path, args: argparse.Namespace) -> Path:
    """Build the shared RL warm start under out/warm (seed 0), or reuse it when it was
    built with the same overrides."""
    warm = out / "warm" / "sft_model"
    stamp = out / "warm" / "overrides.json"
    overrides = warm_overrides(args)
    if warm.is_dir() and stamp.exists() and json.loads(stamp.read_text()) == overrides:
        print(f"warm start: reusing {warm}", flush=True)
        return warm
    t0 = time.perf_counter()
    save_warm_start(out / "warm", seed=0, overrides=overrides)
    stamp.write_text(json.dumps(overrides))
    print(f"warm start: {time.perf_counter() - t0:.0f} s -> {warm}", flush=True)
    return warm


def held_out(c: Components) -> dict[str, Any]:
    """Greedy held-out accuracy, overall and by difficulty (total operand digits)."""
    r = evaluate_on(c.engine, c.data.eval, c.rewards, n_samples=1, ks=(1,), temperature=0.0,
                    max_new_tokens=c.cfg.rollout.max_response_tokens, seed=c.cfg.seed)
    by_diff = {k: v["pass@1"] for k, v in r.breakdowns.get("difficulty", {}).items()}
    return {"accuracy": r.metrics["pass@1"], "accuracy_by_difficulty": by_diff}


def curriculum_cost(c: Components) -> dict[str, float]:
    """What the sampler spent outside the training budget (tokens, seconds)."""
    s = c.sampler
    if hasattr(s, "estimate_seconds_total"):  # EDCO
        return {"extra_tokens": float(s.estimator.tokens_generated),
                "extra_seconds": s.estimate_seconds_total, "refreshes": float(s.refreshes)}
    if hasattr(s, "order_seconds"):  # static orders (perplexity: scored tokens)
        return {"extra_tokens": float(getattr(s.key, "tokens_scored", 0)),
                "extra_seconds": s.order_seconds}
    return {"extra_tokens": 0.0, "extra_seconds": 0.0}


def drawn_difficulty(c: Components) -> None:
    """Record the difficulty of every prompt the sampler hands out (c.drawn)."""
    draw = c.sampler.next_prompts
    c.drawn = []  # type: ignore[attr-defined]

    def wrapped(n: int) -> list:
        picks = draw(n)
        c.drawn.extend(p.meta.get("difficulty", 0) for p, _ in picks)  # type: ignore[attr-defined]
        return picks

    c.sampler.next_prompts = wrapped  # type: ignore[method-assign]


def run_sft_arm(arm: str, seed: int, out: Path, args: argparse.Namespace) -> dict[str, Any]:
    cfg = make_config(arm, seed, out / f"seed{seed}" / f"sft_{arm}", args)
    c = build_components(cfg)
    drawn_difficulty(c)
    t0 = time.perf_counter()
    hist = run_sft(c.model, c.tokenizer, c.sampler, cfg.sft, c.device, progress=False)
    seconds = time.perf_counter() - t0
    rec = {"phase": "sft", "arm": arm, "seed": seed, "steps": cfg.sft.steps,
           "sequences_trained": cfg.sft.steps * cfg.sft.batch_sequences,
           "final_loss": hist[-1]["sft_loss"], "seconds": seconds,
           "mean_drawn_difficulty": statistics.fmean(c.drawn),  # type: ignore[attr-defined]
           **curriculum_cost(c), **held_out(c)}
    return rec


def run_rl_arm(arm: str, seed: int, warm: Path, out: Path, args: argparse.Namespace
               ) -> dict[str, Any]:
    cfg = rl_config(arm, seed, out / f"seed{seed}" / f"rl_{arm}", args)
    c = build_components(cfg, model_path=str(warm))
    start = held_out(c)["accuracy"]
    drawn_difficulty(c)
    t0 = time.perf_counter()
    last = train(cfg, components=c, overwrite=True)  # the benchmark owns --out
    seconds = time.perf_counter() - t0
    lines = [json.loads(x) for x in (Path(cfg.run_dir) / "metrics.jsonl").read_text().split("\n")
             if x]
    return {"phase": "rl", "arm": arm, "seed": seed, "steps": cfg.train.steps,
            "lr": cfg.optim.lr, "warm_start": str(warm),
            "samples_generated": sum(r.get("samples_generated", 0) for r in lines),
            "train_tokens": float(last.get("total_tokens", 0)), "seconds": seconds,
            "start_accuracy": start,
            "groups_nonzero_adv": statistics.fmean(r["groups_nonzero_adv"] for r in lines
                                                   if "groups_nonzero_adv" in r),
            "mean_drawn_difficulty": statistics.fmean(c.drawn),  # type: ignore[attr-defined]
            **curriculum_cost(c), **held_out(c)}


def summarize(records: list[dict[str, Any]]) -> list[str]:
    lines = [f"{'phase':<5} {'arm':<13} {'held-out acc':>18} {'start':>6} {'nz grp':>6} "
             f"{'drawn diff':>10} {'train s':>8} {'extra tokens':>13} {'extra s':>8}  n"]
    means: dict[tuple[str, str], float] = {}
    for phase in ("sft", "rl"):
        for arm in ARMS:
            rs = [r for r in records if r["phase"] == phase and r["arm"] == arm]
            if not rs:
                continue
            acc = [r["accuracy"] for r in rs]
            sd = statistics.stdev(acc) if len(acc) > 1 else 0.0
            means[(phase, arm)] = statistics.fmean(acc)

            def avg(key: str, rs: list[dict[str, Any]] = rs) -> float:
                return statistics.fmean(r[key] for r in rs)

            def pct(key: str, rs: list[dict[str, Any]] = rs) -> str:
                return f"{100 * avg(key):>5.1f}%" if all(key in r for r in rs) else f"{'-':>6}"

            lines.append(f"{phase:<5} {arm:<13} {100 * means[(phase, arm)]:>9.1f} ± "
                         f"{100 * sd:>4.1f} %  {pct('start_accuracy')} "
                         f"{pct('groups_nonzero_adv')} {avg('mean_drawn_difficulty'):>10.2f} "
                         f"{avg('seconds'):>8.1f} {avg('extra_tokens'):>13.0f} "
                         f"{avg('extra_seconds'):>8.1f}  {len(rs)}")
    parts = []
    for phase in ("sft", "rl"):
        if (phase, "edco") in means:
            best = max((a for p, a in means if p == phase), key=lambda a: means[(phase, a)])
            others = ", ".join(f"{a} {100 * means[(phase, a)]:.1f}" for p, a in means
                               if p == phase and a != "edco")
            parts.append(f"{phase}: edco {100 * means[(phase, 'edco')]:.1f}% vs {others} "
                         f"(best: {best})")
    lines.append("SUMMARY " + "; ".join(parts))
    return lines


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--arms", nargs="+", default=ARMS, choices=ARMS)
    ap.add_argument("--phases", nargs="+", default=["sft", "rl"], choices=["sft", "rl"])
    ap.add_argument("--sft-steps", type=int, default=1000)
    ap.add_argument("--rl-steps", type=int, default=200)
    ap.add_argument("--rl-lr", type=float, default=2e-4,
                    help="RL learning rate (the quickstart's; 5e-4 collapsed every arm)")
    ap.add_argument("--warm-sft-steps", type=int, default=1200,
                    help="SFT steps of the shared RL warm start (the quickstart's)")
    ap.add_argument("--out", default="bench_out/curriculum_ablation")
    ap.add_argument("--smoke", action="store_true", help="seconds: tiny shapes, few steps")
    args = ap.parse_args(argv)
    if args.smoke:
        args.seeds, args.sft_steps, args.rl_steps, args.warm_sft_steps = (
            args.seeds[:1], 3, 2, 3)
    torch.set_num_threads(1 if args.smoke else 2)
    hf_logging.disable_progress_bar()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    arms = [a for a in ARMS if a in args.arms]
    records: list[dict[str, Any]] = []

    def keep(rec: dict[str, Any]) -> None:
        records.append(rec)
        start = f"{rec['start_accuracy']:.3f} -> " if "start_accuracy" in rec else ""
        print(f"{rec['phase']} {rec['arm']:<13} seed {rec['seed']}: held-out "
              f"{start}{rec['accuracy']:.3f} ({rec['seconds']:.0f} s, curriculum extra "
              f"{rec['extra_seconds']:.1f} s)", flush=True)
        (out / "results.json").write_text(json.dumps(records, indent=1))

    warm = ensure_warm_start(out, args) if "rl" in args.phases else None
    for seed in args.seeds:
        for arm in arms if "sft" in args.phases else []:
            keep(run_sft_arm(arm, seed, out, args))
        for arm in arms if warm is not None else []:
            keep(run_rl_arm(arm, seed, warm, out, args))
    for line in summarize(records):
        print(line)
    return records


if __name__ == "__main__":
    main()
