"""Checkpoints that resume exactly: weights, optimizer, scheduler, RNG states, data position.

Layout: <run_dir>/checkpoints/step_000050/{model (save_pretrained), tokenizer,
optimizer.pt, trainer_state.pt}. A checkpoint is written to a temporary directory and
renamed into place, so a crash never leaves a half-written checkpoint that `--resume`
would pick up; `latest` names the newest complete one.
"""

from __future__ import annotations

import os
import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

from focusrl.trainer.logging import no_progress_bars


def rng_state() -> dict[str, Any]:
    return {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
    }


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if state.get("cuda") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(
    run_dir: str | Path,
    step: int,
    model: Any,
    tokenizer: Any,
    optimizer: torch.optim.Optimizer | None,
    trainer_state: dict[str, Any],
    keep: int = 2,
) -> Path:
    """Atomically write checkpoint `step`; prune to the newest `keep`."""
    root = Path(run_dir) / "checkpoints"
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"step_{step:06d}"
    tmp = root / f".tmp_step_{step:06d}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    with no_progress_bars():  # no "Writing model shards" bar per checkpoint in the log
        model.save_pretrained(tmp / "model", safe_serialization=True)
    tokenizer.save_pretrained(tmp / "model")
    if optimizer is not None:
        torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
    torch.save({**trainer_state, "rng": rng_state(), "step": step}, tmp / "trainer_state.pt")
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    latest_tmp = root / ".latest.tmp"
    latest_tmp.write_text(final.name)
    os.replace(latest_tmp, root / "latest")
    checkpoints = sorted(p for p in root.glob("step_*") if p.is_dir())
    for old in checkpoints[:-keep] if keep > 0 else []:
        shutil.rmtree(old, ignore_errors=True)
    return final


def latest_checkpoint(run_dir: str | Path) -> Path | None:
    root = Path(run_dir) / "checkpoints"
    pointer = root / "latest"
    if pointer.exists():
        path = root / pointer.read_text().strip()
        if path.exists():
            return path
    found = sorted(p for p in root.glob("step_*") if p.is_dir()) if root.exists() else []
    return found[-1] if found else None


def load_trainer_state(ckpt: Path) -> dict[str, Any]:
    return torch.load(ckpt / "trainer_state.pt", weights_only=False)


def load_optimizer(ckpt: Path, optimizer: torch.optim.Optimizer) -> None:
    path = ckpt / "optimizer.pt"
    if path.exists():
        optimizer.load_state_dict(torch.load(path, weights_only=False))


def load_policy_weights(model: Any, model_dir: Path) -> None:
    """Copy weights saved with save_pretrained into an existing model object."""
    from transformers import AutoModelForCausalLM

    dtype = next(model.parameters()).dtype
    saved = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=dtype)
    model.load_state_dict(saved.state_dict())
