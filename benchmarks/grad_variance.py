"""Policy-gradient variance at a fixed checkpoint, with and without RLPT, for several K.

    python benchmarks/grad_variance.py [--batches 16] [--seed 0] [--quick]
    python benchmarks/grad_variance.py --testbed [--trained-steps 30] [--batches 16]

`--testbed`: the issue-18 testbed instead (benchmarks/testbed.py: 1k BPE vocabulary,
32-128 token worked answers, where P_t K=8 holds under 95% of the mass at a share of
positions), measured at two checkpoints: its warm start, and after `--trained-steps`
steps of GRPO from it (the trainer's own `train`, seed 0; 16 prompts x 8 samples a
step, the ablations' setting). Settings: GRPO and RLPT K=4, 8, 16; batches of 16
prompts x 8 samples.

Fixed checkpoint: the quickstart's SFT warm start (tiny model, 1-2 digit addition; a
100-token vocabulary, so K = 2..16 is 2-16% of it; the paper's K = 32 of ~150k tokens is
a far smaller share). For each setting, `--batches` independent batches (fresh prompts
and samples, 32 prompts x 8 samples, the setting's own rollout) give one policy gradient
each, exactly the trainer's first-pass gradient before clipping (no optimizer step).
Reported per setting: the trace of the gradient covariance across batches (`var`), with
a 90% bootstrap interval over batches, its ratio to the unrestricted run, the squared
norm of the mean gradient, `var / ||mean||^2` (noise per unit of signal: a restriction
that only shrank every gradient would lower `var` but not this), the mean cosine of a
batch gradient to the mean, and the probability mass of P_t under the full policy.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

import torch

from focusrl.algorithms.grad_variance import gradient_variance
from focusrl.config import Config
from focusrl.trainer.components import build_components
from focusrl.trainer.rl import train
from rlpt_common import DAPO, batch_gradient, make_config, rlpt, warm_start

SETTINGS: dict[str, list[str]] = {
    "GRPO (unrestricted)": [],
    "GRPO+RLPT K=2": rlpt(2),
    "GRPO+RLPT K=4": rlpt(4),
    "GRPO+RLPT K=8": rlpt(8),
    "GRPO+RLPT K=16": rlpt(16),
    "GRPO+RLPT K=8 ref": rlpt(8, "reference"),
    "DAPO": DAPO,
    "DAPO+RLPT K=8": [*DAPO, *rlpt(8)],
}
TESTBED_SETTINGS = ["GRPO (unrestricted)", "GRPO+RLPT K=4", "GRPO+RLPT K=8", "GRPO+RLPT K=16"]
"""No `K=8 ref` here: at a fixed checkpoint the reference is a copy of that checkpoint, so
it ranks tokens as the policy does (in training it stays at the warm start)."""


def bootstrap_interval(grads: torch.Tensor, reps: int, seed: int) -> tuple[float, float]:
    """90% percentile interval of the covariance trace, resampling batches."""
    gen = torch.Generator().manual_seed(seed)
    g = grads.double()
    vals = []
    for _ in range(reps):
        idx = torch.randint(0, len(g), (len(g),), generator=gen)
        x = g[idx]
        vals.append(float(((x - x.mean(0)) ** 2).sum() / (len(x) - 1)))
    vals.sort()
    return vals[int(0.05 * reps)], vals[int(0.95 * reps) - 1]


def measure(settings: list[str], model_path: Path, make: Callable[[str, list[str]], Config],
            batches: int, seed: int, title: str) -> None:
    """Print the variance table of `settings` at the checkpoint `model_path`."""
    t0 = time.perf_counter()
    rows = []
    for name in settings:
        c = build_components(make(name, SETTINGS[name]), model_path=str(model_path))
        grads, mass = [], []
        for i in range(batches):
            g, m = batch_gradient(c, 10_000 + i)
            grads.append(g)
            mass.append(m.get("rlpt_mass", 1.0))
        c.close()
        st = gradient_variance(grads, unbiased=True)
        lo, hi = bootstrap_interval(torch.stack(grads), 200, seed)
        rows.append((name, st, lo, hi, sum(mass) / len(mass)))
    print(f"fixed checkpoint: {title}; {batches} independent batches per setting; "
          f"{time.perf_counter() - t0:.0f}s")
    base = max(rows[0][1]["total_variance"], 1e-30)
    print("| setting | var (trace) | 90% interval | ratio to GRPO | ‖mean grad‖² | "
          "var / ‖mean‖² | cos to mean | P_t mass |")
    print("|---|---|---|---|---|---|---|---|")
    for name, st, lo, hi, mass in rows:
        v, m2 = st["total_variance"], st["mean_grad_sq_norm"]
        print(f"| {name} | {v:.4g} | {lo:.3g} - {hi:.3g} | {v / base:.2f} | {m2:.3g} | "
              f"{v / max(m2, 1e-30):.3g} | {st['mean_cosine_to_mean']:.3f} | {mass:.3f} |")
    k8 = next(st for name, st, *_ in rows if name == "GRPO+RLPT K=8")
    rel = (k8["total_variance"] / max(k8["mean_grad_sq_norm"], 1e-30)) / max(
        base / max(rows[0][1]["mean_grad_sq_norm"], 1e-30), 1e-30)
    print(f"RLPT K=8 vs GRPO: grad variance ratio {k8['total_variance'] / base:.2f}, "
          f"relative (per unit of mean gradient) ratio {rel:.2f}", flush=True)


def testbed(args: argparse.Namespace) -> None:
    from testbed import build_testbed, testbed_config

    start = build_testbed(args.seed, args.quick)
    out = Path("bench_out/grad_variance_testbed")

    def make(name: str, overrides: list[str]) -> Config:
        return testbed_config(args.seed, out / name.replace(" ", "_"),
                              ["algorithm.loss=grpo", *overrides], quick=args.quick)

    measure(TESTBED_SETTINGS, start, make, args.batches, args.seed,
            f"testbed warm start seed {args.seed}")
    cfg = testbed_config(args.seed, out / "trained", ["algorithm.loss=grpo",
                                                      f"train.steps={args.trained_steps}",
                                                      "train.eval_every=0"], quick=args.quick)
    t0 = time.perf_counter()
    train(cfg, overwrite=True)
    trained = Path(cfg.run_dir) / "checkpoints" / f"step_{args.trained_steps:06d}" / "model"
    print(f"trained {args.trained_steps} GRPO steps in {time.perf_counter() - t0:.0f}s -> "
          f"{trained}")
    measure(TESTBED_SETTINGS, trained, make, args.batches, args.seed,
            f"testbed after {args.trained_steps} GRPO steps (seed {args.seed})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--batches", type=int, default=16)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--testbed", action="store_true",
                    help="the issue-18 testbed, at its warm start and after GRPO training")
    ap.add_argument("--trained-steps", type=int, default=30)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    if args.quick:
        args.batches = 3
        args.trained_steps = min(args.trained_steps, 2)
    torch.set_num_threads(2)
    if args.testbed:
        testbed(args)
        return
    model_path = warm_start(args.seed, args.quick)

    def make(name: str, overrides: list[str]) -> Config:
        return make_config(args.seed, Path("bench_out/grad_variance") / name.replace(" ", "_"),
                           overrides, args.quick)

    measure(list(SETTINGS), model_path, make, args.batches, args.seed,
            f"SFT warm start seed {args.seed}")


if __name__ == "__main__":
    main()
