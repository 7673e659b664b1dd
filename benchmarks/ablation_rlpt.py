"""RLPT ablation: GRPO, GRPO+RLPT, DAPO, DAPO+RLPT, a K sweep, source policy vs reference.

    python benchmarks/ablation_rlpt.py [--seeds 0 1 2] [--budget-steps 150]
        [--eval-every-steps 25] [--variance-batches 8] [--threshold 0.55]
        [--out bench_out/ablation_rlpt] [--quick]

Setup: the quickstart's experiment (tiny model, 1-2 digit addition, verified-sum reward,
32 prompts x 8 samples, 5 response tokens, lr 2e-4 with 20 warm-up steps). Per seed one
SFT warm start (the forgetful teacher) is made once and every variant starts from it.

Equal sample budget: every run stops once it has *generated* `budget-steps x 256`
samples. DAPO's dynamic sampling generates more than it trains on, so DAPO runs take
fewer optimizer steps for the same budget (the table reports the steps). The learning
rate is constant after warm-up (`optim.schedule=constant`, a departure from the
quickstart's cosine) so runs of different step counts see the same learning rates.

Per run: held-out greedy accuracy every `eval-every-steps x 256` generated samples and at
the end; samples generated until held-out accuracy first reaches `--threshold`; the
gradient variance at the warm start across `variance-batches` independent batches (the
variant's own rollout and loss; trace of the covariance, and relative to the squared
mean gradient); the entropy of the unrestricted policy over training (the trainer's
`entropy` is the restricted one under RLPT). Steadiness: the largest drop of held-out
accuracy between consecutive evaluations, and the spread over seeds.

Writes `<out>/runs.jsonl` (one line per run, as each finishes), `<out>/table.md`,
`<out>/ablation.png`; `--summarise-only` rebuilds the last two from runs.jsonl.
Last line: `RLPT vs GRPO: accuracy A1 vs A2, grad variance ratio V` (RLPT = GRPO+RLPT,
K=8, source policy; V = its mean warm-start gradient variance / GRPO's).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

import torch

from rlpt_common import DAPO, WARM_ROOT, make_config, rlpt, train_to_budget, variance_at, warm_start

VARIANTS: dict[str, list[str]] = {
    "GRPO": [],
    "GRPO+RLPT K=8": rlpt(8),
    "DAPO": DAPO,
    "DAPO+RLPT K=8": [*DAPO, *rlpt(8)],
    "GRPO+RLPT K=2": rlpt(2),
    "GRPO+RLPT K=4": rlpt(4),
    "GRPO+RLPT K=16": rlpt(16),
    "GRPO+RLPT K=8 ref": rlpt(8, "reference"),
}
"""The runs; `K=8` (policy source) is RLPT's default here and the K sweep's middle."""
RUN_SETTINGS = ["optim.schedule=constant"]


def run_one(name: str, seed: int, model_path: Path, args: argparse.Namespace) -> dict[str, Any]:
    per_step = 4 * 4 if args.quick else 32 * 8
    run_dir = Path(args.out) / "runs" / f"{name.replace(' ', '_')}_s{seed}"
    cfg = make_config(seed, run_dir, [*RUN_SETTINGS, *VARIANTS[name]], args.quick)
    t0 = time.perf_counter()
    var = variance_at(cfg, model_path, args.variance_batches)
    t1 = time.perf_counter()
    records = train_to_budget(cfg, model_path, args.budget_steps * per_step,
                              args.eval_every_steps * per_step)
    t2 = time.perf_counter()
    evals = [(r["samples"], r["eval/accuracy"]) for r in records if "eval/accuracy" in r]
    reached = _first_at(evals, args.threshold)
    drops = [max(0.0, a0 - a1) for (_, a0), (_, a1) in zip(evals, evals[1:])]
    ent = [(r["samples"], r["entropy_full"]) for r in records if "entropy_full" in r]
    return {
        "variant": name, "seed": seed, "start_acc": evals[0][1], "final_acc": evals[-1][1],
        "evals": evals, "samples_to_threshold": reached, "max_drop": max(drops, default=0.0),
        "entropy_full": ent, "steps": records[-1]["step"], "samples": records[-1]["samples"],
        "grad_var": var["total_variance"], "grad_var_rel": var["relative_variance"],
        "grad_cos": var["mean_cosine_to_mean"],
        "sec_per_step": statistics.median(r["time_step"] for r in records[1:]),
        "time_variance_s": t1 - t0, "time_train_s": t2 - t1,
    }


def mean_sd(xs: list[float]) -> tuple[float, float]:
    return statistics.fmean(xs), (statistics.stdev(xs) if len(xs) > 1 else 0.0)


def _first_at(evals: list[tuple[int, float]], threshold: float) -> int | None:
    """Generated samples at the first evaluation with accuracy >= threshold."""
    return next((n for n, acc in evals if acc >= threshold), None)


def _mean_or_nan(xs: list[float]) -> float:
    return statistics.fmean(xs) if xs else float("nan")


def summarise(runs: list[dict[str, Any]], threshold: float) -> tuple[list[dict], str]:
    rows = []
    for name in VARIANTS:
        rs = [r for r in runs if r["variant"] == name]
        if not rs:
            continue
        acc, acc_sd = mean_sd([r["final_acc"] for r in rs])
        hit = [h for h in (_first_at(r["evals"], threshold) for r in rs) if h is not None]
        ent0 = _mean_or_nan([r["entropy_full"][0][1] for r in rs if r["entropy_full"]])
        ent1 = _mean_or_nan([r["entropy_full"][-1][1] for r in rs if r["entropy_full"]])
        rows.append({
            "variant": name, "acc": acc, "acc_sd": acc_sd,
            "start": statistics.fmean(r["start_acc"] for r in rs),
            "hit": f"{statistics.fmean(hit) / 1000:.1f}k ({len(hit)}/{len(rs)})" if hit
            else f"- (0/{len(rs)})",
            "var": statistics.fmean(r["grad_var"] for r in rs),
            "var_rel": statistics.fmean(r["grad_var_rel"] for r in rs),
            "ent": f"{ent0:.3f} -> {ent1:.3f}",
            "drop": statistics.fmean(r["max_drop"] for r in rs),
            "steps": statistics.fmean(r["steps"] for r in rs),
            "sps": statistics.fmean(r["sec_per_step"] for r in rs),
        })
    lines = [
        f"| variant | final held-out acc (mean ± sd) | start acc | samples to {threshold:.0%} "
        "(runs reaching) | grad var (trace) | grad var / ‖mean grad‖² | entropy (full) "
        "start -> end | largest eval drop | optimizer steps | s/step |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['variant']} | {r['acc']:.1%} ± {r['acc_sd']:.1%} | {r['start']:.1%} | "
            f"{r['hit']} | {r['var']:.3g} | {r['var_rel']:.3g} | {r['ent']} | {r['drop']:.1%} | "
            f"{r['steps']:.0f} | {r['sps']:.2f} |")
    return rows, "\n".join(lines)


def plot(runs: list[dict[str, Any]], rows: list[dict], path: Path, threshold: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(2, 2, figsize=(12, 9))
    for name in VARIANTS:
        rs = [r for r in runs if r["variant"] == name]
        if not rs:
            continue
        style = "--" if "DAPO" in name else "-"
        xs = [s for s, _ in rs[0]["evals"]]
        n = min(len(r["evals"]) for r in rs)
        ys = [statistics.fmean(r["evals"][i][1] for r in rs) for i in range(n)]
        ax[0, 0].plot([x / 1000 for x in xs[:n]], ys, style, marker="o", ms=3, label=name)
        n = min(len(r["entropy_full"]) for r in rs)
        if n == 0:
            continue
        ex = [rs[0]["entropy_full"][i][0] / 1000 for i in range(n)]
        ey = [statistics.fmean(r["entropy_full"][i][1] for r in rs) for i in range(n)]
        ax[0, 1].plot(ex, ey, style, label=name)
    ax[0, 0].axhline(threshold, color="grey", lw=0.8)
    ax[0, 0].set(xlabel="samples generated (k)", ylabel="held-out greedy accuracy",
                 title="accuracy (mean over seeds)")
    ax[0, 0].legend(fontsize=7)
    ax[0, 1].set(xlabel="samples generated (k)", ylabel="nats / token",
                 title="entropy of the unrestricted policy")
    names = [r["variant"] for r in rows]
    ax[1, 0].barh(names, [r["var"] for r in rows])
    ax[1, 0].set(xlabel="trace of gradient covariance at the warm start",
                 title="gradient variance across independent batches")
    ax[1, 0].invert_yaxis()
    sweep = [(int(r["variant"].split("K=")[1].split()[0]), r) for r in rows
             if "GRPO+RLPT K=" in r["variant"] and "ref" not in r["variant"]]
    sweep.sort(key=lambda kr: kr[0])
    if sweep:
        ax[1, 1].errorbar([k for k, _ in sweep], [r["acc"] for _, r in sweep],
                          yerr=[r["acc_sd"] for _, r in sweep], marker="o", capsize=3,
                          label="GRPO+RLPT")
        grpo = next((r for r in rows if r["variant"] == "GRPO"), None)
        if grpo:
            ax[1, 1].axhline(grpo["acc"], color="k", ls=":", label="GRPO (full vocab, 100)")
        ax[1, 1].set_xscale("log", base=2)
        ax[1, 1].legend(fontsize=8)
    ax[1, 1].set(xlabel="K (of a 100-token vocabulary)", ylabel="final held-out accuracy",
                 title="K sweep (mean ± sd over seeds)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--budget-steps", type=int, default=150,
                    help="sample budget, in steps of 32 x 8 samples (quick: 4 x 4)")
    ap.add_argument("--eval-every-steps", type=int, default=25)
    ap.add_argument("--variance-batches", type=int, default=8)
    ap.add_argument("--threshold", type=float, default=0.55)
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    ap.add_argument("--out", default="bench_out/ablation_rlpt")
    ap.add_argument("--warm-root", default=str(WARM_ROOT),
                    help="where the SFT warm starts are kept (built once per seed)")
    ap.add_argument("--quick", action="store_true", help="smoke mode: seconds, 1 seed")
    ap.add_argument("--summarise-only", action="store_true",
                    help="no runs: rebuild the table, plot and last line from <out>/runs.jsonl")
    args = ap.parse_args()
    if args.quick:
        args.seeds, args.budget_steps = args.seeds[:1], 2
        args.eval_every_steps, args.variance_batches = 2, 2
    torch.set_num_threads(2)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    runs_path = out / "runs.jsonl"
    if args.summarise_only:
        runs = [json.loads(line) for line in runs_path.read_text().splitlines() if line]
    else:
        runs_path.write_text("")
        runs = []
    for seed in [] if args.summarise_only else args.seeds:
        model_path = warm_start(seed, args.quick, Path(args.warm_root))
        for name in args.variants:
            r = run_one(name, seed, model_path, args)
            runs.append(r)
            with runs_path.open("a") as f:  # one line per finished run: partial results survive
                f.write(json.dumps(r) + "\n")
            print(f"  {name:18s} seed {seed}: acc {r['start_acc']:.1%} -> {r['final_acc']:.1%}"
                  f" in {r['steps']} steps ({r['samples']} samples), grad var "
                  f"{r['grad_var']:.3g}; {r['time_variance_s'] + r['time_train_s']:.0f}s",
                  flush=True)
    rows, table = summarise(runs, args.threshold)
    (out / "table.md").write_text(table + "\n")
    plot(runs, rows, out / "ablation.png", args.threshold)
    print(table)
    print(f"wrote {out / 'table.md'}, {out / 'ablation.png'}; total "
          f"{time.perf_counter() - t0:.0f}s")
    by = {r["variant"]: r for r in rows}
    rl, gr = by.get("GRPO+RLPT K=8"), by.get("GRPO")
    if rl and gr:
        ratio = rl["var"] / gr["var"] if gr["var"] > 0 else float("nan")  # smoke: 0 / 0
        print(f"RLPT vs GRPO: accuracy {rl['acc']:.1%} vs {gr['acc']:.1%}, "
              f"grad variance ratio {ratio:.2f}")


if __name__ == "__main__":
    main()
