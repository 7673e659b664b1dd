"""What `cpu_malloc` (glibc malloc tuning, focusrl/runtime.py) buys on a training step.

    python benchmarks/cpu_malloc.py [--repeats 3] [--steps 8]

The vs_trl long setting (tiny model, 8 prompts x 8 samples, 128 response tokens, in bf16
where the CPU computes it natively (AVX512-BF16/AMX; model.mixed_precision=auto), else
fp32), run by the focusrl trainer with cpu_malloc=true and
cpu_malloc=false, alternating, --repeats times each, every run its own process (the
setting is process-wide). Per run: the median over steps 2..N of the step, rollout and
update seconds; per arm: the smallest run median (interference only adds time).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--prompts", type=int, default=8)
    ap.add_argument("--samples", type=int, default=8)
    ap.add_argument("--tokens", type=int, default=128)
    args = ap.parse_args()
    sys.path.insert(0, str(HERE))
    from focusrl.models.precision import cpu_has_native_bf16
    from vs_trl import build_tiny, spawn

    framework = "focusrl-bf16" if cpu_has_native_bf16() else "focusrl"
    print(f"precision: {'bf16 autocast' if cpu_has_native_bf16() else 'fp32'} "
          "(what model.mixed_precision=auto picks on this CPU)")

    keys = ("sec_per_step", "rollout_per_step", "update_per_step")
    best: dict[bool, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as model_dir:
        build_tiny(model_dir)
        print(f"{'cpu_malloc':<11} {'run':>3} {'step s':>8} {'rollout s':>10} {'update s':>9}")
        for i in range(args.repeats):
            for malloc in (True, False):
                setting = {"tokens": args.tokens, "steps": args.steps, "prompts": args.prompts,
                           "samples": args.samples, "long": True}
                worker = argparse.Namespace(
                    override=[f"cpu_malloc={'true' if malloc else 'false'}"])
                r = spawn(framework, model_dir, setting, worker)
                print(f"{str(malloc).lower():<11} {i:>3} {r[keys[0]]:>8.3f} {r[keys[1]]:>10.3f} "
                      f"{r[keys[2]]:>9.3f}", flush=True)
                arm = best.setdefault(malloc, {k: float("inf") for k in keys})
                for k in keys:
                    arm[k] = min(arm[k], r[k])
    on, off = best[True], best[False]
    print(f"best of {args.repeats}: on " + ", ".join(f"{k} {on[k]:.3f}" for k in keys))
    print(f"best of {args.repeats}: off " + ", ".join(f"{k} {off[k]:.3f}" for k in keys))
    print(f"cpu_malloc on/off time: step {on[keys[0]] / off[keys[0]]:.2f}, rollout "
          f"{on[keys[1]] / off[keys[1]]:.2f}, update {on[keys[2]] / off[keys[2]]:.2f}")


if __name__ == "__main__":
    main()
