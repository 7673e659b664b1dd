"""A run directory belongs to one run: default names, the ownership check, the summary.

A new run never writes into a directory that already holds another run's artefacts
(its config, metrics or checkpoints): that mixed runs before (an old run's checkpoints
outlived the new run's, `--resume` then picked up the wrong run). Starting anew there is
an error that names the three ways out: `--resume`, another `run_dir`, `--overwrite`.
Only focusrl's own artefacts count; other files (a user's notes, a data file) neither
block a run nor are ever deleted. An SFT warm start and the RL run on top of it may
share one directory (the quickstart does), so the RL check ignores the SFT artefacts.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

from focusrl.trainer.checkpoint import latest_checkpoint
from focusrl.trainer.logging import read_metrics

RL_ARTEFACTS = ("config.yaml", "metrics.jsonl", "checkpoints")
"""What `focusrl train` writes into a run directory."""
SFT_ARTEFACTS = ("sft_model", "sft_metrics.jsonl")
"""What `focusrl sft` (and the quickstart's warm start) writes."""


class RunDirError(ValueError):
    """The run directory already holds another run; the message says the ways out."""


def default_run_dir(names: list[str], root: str = "runs") -> str:
    """`runs/<names joined by +>-<UTC timestamp>`, e.g. runs/grpo_arithmetic+rlpt-20261129-
    151204; a numbered suffix when two runs start in the same second."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    base = Path(root) / f"{'+'.join(names) or 'focusrl'}-{stamp}"
    path, n = base, 2
    while path.exists():
        path, n = Path(f"{base}-{n}"), n + 1
    return str(path)


def claim_run_dir(run_dir: str | Path, artefacts: tuple[str, ...] = RL_ARTEFACTS,
                  overwrite: bool = False, command: str = "train") -> None:
    """Make `run_dir` this run's own: raise RunDirError when it already holds any of
    `artefacts`, or, with `overwrite`, delete exactly those (nothing else)."""
    run_dir = Path(run_dir)
    found = [name for name in artefacts if (run_dir / name).exists()]
    if not found:
        return
    if overwrite:
        for name in found:
            path = run_dir / name
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink()
        print(f"--overwrite: removed the previous run's {', '.join(found)} from {run_dir}",
              flush=True)
        return
    ckpt = latest_checkpoint(run_dir)
    held = ", ".join(found) + (f"; newest checkpoint {ckpt.name}" if ckpt else "")
    resume = ("pass --resume to continue it, " if command == "train" else "")
    raise RunDirError(
        f"run_dir '{run_dir}' already holds a run ({held}). A run directory belongs to one "
        f"run: {resume}choose another directory (run_dir=runs/NEW, or leave run_dir unset "
        "for a fresh timestamped one), or pass --overwrite to delete that run's files and "
        "start again there.")


def resume_point(run_dir: str | Path) -> Path | None:
    """The checkpoint `--resume` continues from; None (start over, said aloud) when the
    run exists but stopped before its first checkpoint; RunDirError when `run_dir` holds
    no run at all (a typo, or a fresh timestamped default)."""
    run_dir = Path(run_dir)
    ckpt = latest_checkpoint(run_dir)
    if ckpt is None and not (run_dir / "config.yaml").exists():
        raise RunDirError(
            f"--resume: '{run_dir}' holds no run (no config.yaml, no checkpoints/). Pass the "
            "run's directory, e.g. `focusrl train runs/NAME --resume` (its config.yaml is "
            "used), or set run_dir=runs/NAME; without --resume a new run starts.")
    if ckpt is None:
        print(f"--resume: {run_dir} has no checkpoint yet; starting it again from step 0",
              flush=True)
    return ckpt


def _fmt(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def run_summary(run_dir: str | Path, total_steps: int, first_step: int, last_step: int,
                resumed_from: Path | None = None) -> str:
    """The lines a run ends with: what this invocation did, the last step's reward and
    accuracy, the last held-out eval, and where the checkpoint and metrics are. Read
    back from the run directory, so it is the same whether the run trained, resumed or
    had nothing left to do."""
    run_dir = Path(run_dir)
    metrics = run_dir / "metrics.jsonl"
    rows = read_metrics(metrics) if metrics.exists() else []
    if last_step < first_step:
        done = f"nothing to do: the run is already at step {first_step - 1}/{total_steps}"
    else:
        done = f"trained steps {first_step}-{last_step} of {total_steps}"
    if resumed_from is not None:
        done += f" (resumed from {resumed_from})"
    lines = [f"run {run_dir}: {done}"]
    trained = [r for r in rows if "reward_mean" in r]
    if trained:
        last = trained[-1]
        skipped = sum(1 for r in rows if r.get("skipped_updates"))
        lines.append(f"  last step {last['step']}: reward {_fmt(last['reward_mean'])}, "
                     f"accuracy {_fmt(last.get('accuracy', float('nan')))}"
                     + (f"; {skipped} step(s) without an update" if skipped else ""))
    evals = [r for r in rows if any(k.startswith("eval/") for k in r)]
    if evals:
        ev = evals[-1]
        parts = ", ".join(f"{k[5:]} {_fmt(v)}" for k, v in ev.items() if k.startswith("eval/"))
        lines.append(f"  held-out eval at step {ev['step']}: {parts}")
    ckpt = latest_checkpoint(run_dir)
    lines.append(f"  checkpoint: {ckpt if ckpt else 'none written'}")
    lines.append(f"  metrics: {metrics if rows else 'none written'}")
    return "\n".join(lines)
