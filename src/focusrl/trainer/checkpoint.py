"""Checkpoints that resume exactly, and that are verified before they are trusted.

Layout: <run_dir>/checkpoints/step_000050/{model/ (save_pretrained weights + tokenizer),
optimizer.pt, trainer_state.pt, manifest.json}. A checkpoint is written to a temporary
directory and renamed into place, so a crash never leaves a half-written checkpoint that
`--resume` would pick up; `latest` names the newest complete one.

`manifest.json` (written last, before the rename) lists every file with its size and
SHA-256. Loading checks the manifest, then reads every piece into memory before anything
is applied, so a truncated, garbage or deleted file is found before it can half-restore a
run. A damaged checkpoint is reported with its path and renamed `damaged_step_N` (kept for
inspection), and the previous complete one is used; when none is usable, one
`CheckpointError` lists what was wrong with each. Hashing costs one more read of each
checkpoint file on save and on resume; it buys exact detection of damage that keeps the
file size (reading the pieces catches truncation even without a manifest).

Write failures (disk full, permission denied) raise `CheckpointWriteError` naming the path
and the cause; the temporary directory is removed and the previous checkpoint and
`latest` stay as they were.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import random
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from focusrl.trainer.logging import no_progress_bars

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
ADAPTER_CONFIG = "adapter_config.json"
"""peft's adapter file: the model directory of a LoRA run's checkpoint."""
_STEP_DIR = re.compile(r"step_(\d+)")


class CheckpointError(ValueError):
    """No usable checkpoint: the message names each checkpoint and what is wrong with it."""


class CheckpointWriteError(OSError):
    """Writing a checkpoint failed (disk full, permission...); names the path and cause."""


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


def io_cause(e: BaseException) -> str:
    """A short human cause of a failed write: 'no space left on device', 'permission
    denied', ... (safetensors and torch wrap the OS error in their own exceptions)."""
    code = getattr(e, "errno", None)
    text = str(e)
    if code == errno.ENOSPC or "No space left" in text or "os error 28" in text:
        return "no space left on device"
    if code in (errno.EACCES, errno.EPERM) or "Permission denied" in text:
        return "permission denied"
    if code == errno.EROFS or "Read-only file system" in text:
        return "read-only file system"
    if code == errno.EDQUOT:
        return "disk quota exceeded"
    return os.strerror(code).lower() if code else f"{type(e).__name__}: {e}"


def _save_torch(obj: Any, path: Path) -> None:
    # through a Python file object, so a full disk surfaces as OSError(ENOSPC) and not
    # as torch's "unexpected pos N vs M"
    with path.open("wb") as f:
        torch.save(obj, f)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_manifest(ckpt: Path, step: int) -> None:
    files = {str(p.relative_to(ckpt)): {"size": p.stat().st_size, "sha256": _sha256(p)}
             for p in sorted(ckpt.rglob("*")) if p.is_file() and p.name != MANIFEST}
    (ckpt / MANIFEST).write_text(json.dumps({"step": step, "files": files}, indent=1))


def save_checkpoint(
    run_dir: str | Path,
    step: int,
    model: Any,
    tokenizer: Any,
    optimizer: torch.optim.Optimizer | None,
    trainer_state: dict[str, Any],
    keep: int = 2,
) -> Path:
    """Atomically write checkpoint `step` with its manifest; prune to the newest `keep`."""
    root = Path(run_dir) / "checkpoints"
    final = root / f"step_{step:06d}"
    tmp = root / f".tmp_step_{step:06d}"
    renamed = False
    try:
        root.mkdir(parents=True, exist_ok=True)
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir()
        save_model_dir(model, tokenizer, tmp / "model")
        if optimizer is not None:
            _save_torch(optimizer.state_dict(), tmp / "optimizer.pt")
        _save_torch({**trainer_state, "rng": rng_state(), "step": step}, tmp / "trainer_state.pt")
        write_manifest(tmp, step)
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
        renamed = True
        latest_tmp = root / ".latest.tmp"
        latest_tmp.write_text(final.name)
        os.replace(latest_tmp, root / "latest")
    except Exception as e:
        shutil.rmtree(tmp, ignore_errors=True)  # frees the space; the previous one is intact
        previous = (root / "latest").read_text().strip() if (root / "latest").is_file() else ""
        kept = (f"{final} is complete, but `latest` still names {previous or 'nothing'}"
                if renamed else f"Nothing of step {step} was kept")
        raise CheckpointWriteError(
            f"could not write checkpoint {final}: {io_cause(e)} ({e}). {kept}; the newest "
            f"complete checkpoint is {root / previous if previous else 'none'}. Free space or "
            f"fix permissions on {root}, then continue with --resume.") from e
    prune_checkpoints(root, step, keep)
    return final


def prune_checkpoints(root: Path, step: int, keep: int) -> None:
    """Keep checkpoint `step` (the one just written) and the newest `keep` - 1 before it, by
    step number; keep = 0 keeps all. Checkpoints past `step` (an abandoned continuation)
    are neither counted nor removed, so pruning can never remove the newest checkpoint."""
    if keep <= 0:
        return
    older = [p for p in _step_dirs(root) if int(p.name[5:]) < step]
    for old in older[:max(len(older) - (keep - 1), 0)]:
        shutil.rmtree(old, ignore_errors=True)


def _step_dirs(root: Path) -> list[Path]:
    """step_N directories, oldest first."""
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if p.is_dir() and _STEP_DIR.fullmatch(p.name)]
    return sorted(found, key=lambda p: int(p.name[5:]))


def checkpoint_candidates(run_dir: str | Path) -> list[Path]:
    """Checkpoints to try, newest first: the one `latest` names, then every step_N
    directory by step. A `latest` that is empty or names nothing is reported."""
    root = Path(run_dir) / "checkpoints"
    found = _step_dirs(root)[::-1]
    pointer = root / "latest"
    if not pointer.is_file():
        if found:
            log.warning("%s is missing; trying the step_N directories newest first", pointer)
        return found
    try:
        name = pointer.read_text().strip()
    except (OSError, UnicodeDecodeError) as e:
        name, why = "", f"is unreadable ({e})"
    else:
        why = "is empty" if not name else f"names '{name[:80]}', which is not a checkpoint"
    target = root / name
    if name and _STEP_DIR.fullmatch(name) and target.is_dir():
        return [target, *(p for p in found if p != target)]
    log.warning("%s %s; trying the step_N directories newest first (%s)", pointer, why,
                ", ".join(p.name for p in found) or "there are none")
    return found


def verify_files(ckpt: Path, require_optimizer: bool = True) -> None:
    """Raise CheckpointError unless every file of `ckpt` is present and matches its
    manifest (size and SHA-256). Checkpoints from before manifests: presence only."""
    lora = (ckpt / "model" / ADAPTER_CONFIG).is_file()  # a LoRA run saves its adapter only
    required = ["model/" + (ADAPTER_CONFIG if lora else "config.json"), "trainer_state.pt"]
    if require_optimizer:
        required.append("optimizer.pt")
    manifest_path = ckpt / MANIFEST
    if manifest_path.is_file():
        try:
            files = json.loads(manifest_path.read_text())["files"]
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise CheckpointError(f"{manifest_path} is unreadable ({e})") from None
        for rel, want in files.items():
            path = ckpt / rel
            if not path.is_file():
                raise CheckpointError(f"{path} is missing")
            size = path.stat().st_size
            if size != want["size"]:
                raise CheckpointError(f"{path} has {size} bytes, {want['size']} were written "
                                      "(truncated or overwritten)")
            if _sha256(path) != want["sha256"]:
                raise CheckpointError(f"{path} does not match the SHA-256 written with it "
                                      "(its content is damaged)")
        required += [f for f in ("optimizer.pt",) if f in files]
    for rel in required:
        if not (ckpt / rel).is_file():
            raise CheckpointError(f"{ckpt / rel} is missing")
    if not list((ckpt / "model").glob("*.safetensors")) + list((ckpt / "model").glob("*.bin")):
        raise CheckpointError(f"{ckpt / 'model'} has no weight file (*.safetensors)")


@dataclass
class LoadedCheckpoint:
    """Every piece of a verified checkpoint, in memory, not yet applied to anything."""

    path: Path
    trainer_state: dict[str, Any]
    optimizer_state: dict[str, Any] | None
    weights: dict[str, torch.Tensor]


def read_checkpoint(ckpt: Path, dtype: torch.dtype, require_optimizer: bool = True
                    ) -> LoadedCheckpoint:
    """Verify `ckpt` and read all of it; CheckpointError names the file and what is wrong."""
    verify_files(ckpt, require_optimizer)
    pieces: dict[str, Any] = {}
    for name in ("trainer_state.pt", "optimizer.pt"):
        path = ckpt / name
        if not path.is_file():
            pieces[name] = None
            continue
        try:
            pieces[name] = torch.load(path, weights_only=False)
        except Exception as e:  # noqa: BLE001 - zip, pickle and EOF errors alike
            raise CheckpointError(f"{path} is unreadable ({type(e).__name__}: "
                                  f"{str(e)[:160]})") from None
    if not isinstance(pieces["trainer_state.pt"], dict) or "step" not in pieces["trainer_state.pt"]:
        raise CheckpointError(f"{ckpt / 'trainer_state.pt'} holds no trainer state")
    try:
        weights = read_policy_weights(ckpt / "model", dtype)
    except Exception as e:  # noqa: BLE001 - safetensors, json and transformers errors
        raise CheckpointError(f"{ckpt / 'model'} has unreadable weights "
                              f"({type(e).__name__}: {e})") from None
    return LoadedCheckpoint(ckpt, pieces["trainer_state.pt"], pieces["optimizer.pt"], weights)


def load_usable_checkpoint(run_dir: str | Path, dtype: torch.dtype,
                           require_optimizer: bool = True) -> LoadedCheckpoint | None:
    """The newest checkpoint that reads completely; None when the run has none.

    Each damaged one is logged with its path and cause and renamed `damaged_step_N`
    once an older one has loaded (so pruning never keeps it in place of a good one).
    When every checkpoint is damaged, raises one CheckpointError listing them all."""
    problems: list[tuple[Path, str]] = []
    for ckpt in checkpoint_candidates(run_dir):
        try:
            loaded = read_checkpoint(ckpt, dtype, require_optimizer)
        except CheckpointError as e:
            log.warning("checkpoint %s is damaged: %s; trying the previous one", ckpt, e)
            problems.append((ckpt, str(e)))
            continue
        for bad, _ in problems:
            log.warning("resuming from %s (step %s) instead of the damaged %s, which is kept "
                        "as %s", ckpt, loaded.trainer_state["step"], bad.name, _set_aside(bad))
        return loaded
    if problems:
        listing = "; ".join(f"{p}: {why}" for p, why in problems)
        raise CheckpointError(
            f"no usable checkpoint in {Path(run_dir) / 'checkpoints'}: {listing}. Restore a "
            "checkpoint from a backup, or start the run again without --resume.")
    return None


def _set_aside(ckpt: Path) -> Path:
    target, n = ckpt.with_name(f"damaged_{ckpt.name}"), 1
    while target.exists():
        n += 1
        target = ckpt.with_name(f"damaged_{ckpt.name}.{n}")
    os.replace(ckpt, target)
    return target


def latest_checkpoint(run_dir: str | Path) -> Path | None:
    """The newest checkpoint whose files match its manifest (damaged ones are logged)."""
    for ckpt in checkpoint_candidates(run_dir):
        try:
            verify_files(ckpt, require_optimizer=False)
            return ckpt
        except CheckpointError as e:
            log.warning("checkpoint %s is damaged: %s; trying the previous one", ckpt, e)
    return None


def save_model_dir(model: Any, tokenizer: Any, path: str | Path) -> None:
    """`save_pretrained` of the model and tokenizer into `path` (a model directory any HF
    loader reads), without transformers' per-file "Writing model shards" progress bar."""
    with no_progress_bars():
        model.save_pretrained(path, safe_serialization=True)
    tokenizer.save_pretrained(path)


def read_policy_weights(model_dir: Path, dtype: torch.dtype) -> dict[str, torch.Tensor]:
    """The state dict of weights saved with save_pretrained (tied weights resolved); for a
    LoRA checkpoint (peft's adapter files), the adapter's weights."""
    from transformers import AutoModelForCausalLM

    if (model_dir / ADAPTER_CONFIG).is_file():
        from peft.utils import load_peft_weights

        return load_peft_weights(str(model_dir))
    return AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=dtype).state_dict()


def load_weights_into(model: Any, weights: dict[str, torch.Tensor]) -> None:
    """Load `read_policy_weights`' result into the live policy (a LoRA policy: its adapter)."""
    from focusrl.models.lora import is_lora

    if is_lora(model):
        from peft import set_peft_model_state_dict

        set_peft_model_state_dict(model, weights)
    else:
        model.load_state_dict(weights)
