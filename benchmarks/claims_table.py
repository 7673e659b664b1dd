"""Turn an ablation's per-seed raw JSON into a claims table: per arm the mean with a 95%
t-interval over seeds, the per-seed paired differences (arm - baseline, same seed), their
mean with a 95% t-interval and seed-to-seed spread, and a verdict per claim.

    python benchmarks/claims_table.py benchmarks/results/lpreg_vs_grpo \\
        --baseline GRPO --arm Lp-Reg --claim final_accuracy:higher --claim entropy_late:higher

Each `*.json` under the directory is one run: {"arm": ..., "seed": ..., "final": {metric:
value, ...}, ...}. Runs pair by seed; a seed missing from either arm is left out (and
reported). Verdict on "arm is <higher|lower> than baseline": held when the 95% interval of
the paired difference lies entirely on the claimed side of 0, refuted when it lies
entirely on the other side, inconclusive otherwise (or with fewer than 2 paired seeds).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from pathlib import Path

# two-sided 95% Student-t quantiles t_{0.975, df}, df = 1..30 (beyond: 1.96)
T975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201,
        2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069,
        2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042]


def t_interval(xs: list[float]) -> tuple[float, float, float, float]:
    """(mean, low, high, sd) of a 95% t-interval for the mean; nan bounds for n < 2."""
    m = statistics.fmean(xs)
    if len(xs) < 2:
        return m, math.nan, math.nan, math.nan
    sd = statistics.stdev(xs)
    half = (T975[len(xs) - 2] if len(xs) - 1 <= len(T975) else 1.96) * sd / math.sqrt(len(xs))
    return m, m - half, m + half, sd


def verdict(low: float, high: float, direction: str) -> str:
    if math.isnan(low):
        return "inconclusive"
    sign = 1 if direction == "higher" else -1
    lo, hi = sorted((sign * low, sign * high))
    return "held" if lo > 0 else "refuted" if hi < 0 else "inconclusive"


def load_runs(results: Path) -> dict[str, dict[int, dict]]:
    runs: dict[str, dict[int, dict]] = {}
    for f in sorted(results.glob("*.json")):
        r = json.loads(f.read_text())
        runs.setdefault(r["arm"], {})[int(r["seed"])] = r
    if not runs:
        raise SystemExit(f"no *.json runs under {results}; run the ablation first")
    return runs


def claims_table(results: Path, baseline: str, arm: str, claims: list[str]) -> str:
    runs = load_runs(results)
    for name in (baseline, arm):
        if name not in runs:
            raise SystemExit(f"no runs of arm {name!r} under {results}; arms: {sorted(runs)}")
    seeds = sorted(set(runs[baseline]) & set(runs[arm]))
    unpaired = sorted(set(runs[baseline]) ^ set(runs[arm]))
    fmt = "{:.4f} [{:.4f}, {:.4f}]".format
    lines = [f"{arm} vs {baseline}: {len(seeds)} paired seeds {seeds}"
             + (f" (unpaired, left out: {unpaired})" if unpaired else ""), "",
             f"| claim | {baseline} mean [95% CI] | {arm} mean [95% CI] | paired diff "
             "mean [95% CI] | diff sd over seeds | per-seed diffs | verdict |",
             "|---|---|---|---|---|---|---|"]
    for claim in claims:
        metric, _, direction = claim.partition(":")
        if direction not in ("higher", "lower"):
            raise SystemExit(f"--claim {claim!r}: write METRIC:higher or METRIC:lower")
        try:
            base = [float(runs[baseline][s]["final"][metric]) for s in seeds]
            ours = [float(runs[arm][s]["final"][metric]) for s in seeds]
        except KeyError:
            raise SystemExit(f"metric {metric!r} missing from a run's 'final'; have: "
                             f"{sorted(runs[arm][seeds[0]]['final'])}") from None
        diffs = [o - b for o, b in zip(ours, base)]
        b, o, d = t_interval(base), t_interval(ours), t_interval(diffs)
        lines.append(
            f"| {arm} {metric} {direction} | {fmt(*b[:3])} | {fmt(*o[:3])} | {fmt(*d[:3])} "
            f"| {d[3]:.4f} | {', '.join(f'{x:+.4f}' for x in diffs)} "
            f"| {verdict(d[1], d[2], direction)} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("results", type=Path)
    ap.add_argument("--baseline", required=True)
    ap.add_argument("--arm", required=True)
    ap.add_argument("--claim", action="append", required=True,
                    help="METRIC:higher|lower (the arm's claimed direction vs the baseline)")
    args = ap.parse_args(argv)
    print(claims_table(args.results, args.baseline, args.arm, args.claim))


if __name__ == "__main__":
    sys.exit(main())
