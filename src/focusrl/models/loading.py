"""Load a Hugging Face causal LM and tokenizer from a local path or hub id."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from focusrl.configtools import ConfigError

_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise ConfigError(f"model.device: '{device}' is not a device; use auto, cpu or "
                          "cuda[:N].") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError("model.device asks for cuda but no GPU is visible; use device=cpu.")
    return dev


def load_model_and_tokenizer(
    path: str, dtype: str = "float32", trust_remote_code: bool = False
) -> tuple[Any, Any]:
    """AutoModelForCausalLM + AutoTokenizer from `path` (a directory or hub id).

    Errors say whether the path is missing, not a model, or needs network access, and
    how to fix it. A tokenizer without a pad token gets its EOS token as pad.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    local = Path(path).expanduser()
    # a hub id is `name` or `org/name`; anything else that is not there is a missing path
    looks_local = (path.startswith((".", "/", "~")) or local.exists() or path.count("/") > 1
                   or path.endswith("/") or "\\" in path)
    if looks_local and not local.exists():
        raise ConfigError(f"model.path '{path}' does not exist (looked for the directory "
                          f"{local.absolute()}); give a model directory (with config.json, "
                          "e.g. a run's sft_model or checkpoints/step_N/model), a hub id, or "
                          "'tiny' for the built-in model.")
    if local.is_dir() and not (local / "config.json").exists():
        raise ConfigError(f"model.path '{path}' is a directory without config.json; point it at "
                          "a saved Hugging Face model (save_pretrained output).")
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(local) if looks_local else path,
                                                  trust_remote_code=trust_remote_code)
        model = AutoModelForCausalLM.from_pretrained(
            str(local) if looks_local else path,
            dtype=_DTYPES[dtype],
            trust_remote_code=trust_remote_code,
        )
    except OSError as e:
        if looks_local:
            raise ConfigError(f"could not load model '{path}': {e}. Fix: check the "
                              "directory (a save_pretrained output).") from None
        offline = " (HF_HUB_OFFLINE=1)" if os.environ.get("HF_HUB_OFFLINE") == "1" else ""
        raise ConfigError(
            f"could not load model '{path}': there is no local directory '{path}' (looked "
            f"in {Path.cwd()}), and as a hub id it failed{offline}: {e}. Fix: pass the path "
            "of a local model directory, or a hub id the hub can serve here.") from None
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    return model, tokenizer
