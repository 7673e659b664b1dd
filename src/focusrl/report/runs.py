"""What the report reads from a run directory: metrics.jsonl, config.yaml, samples.jsonl;
the series to plot, grouped into sections; and the config keys in which runs differ."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from focusrl.configtools import ConfigError, from_dict
from focusrl.report.config import DoctorConfig
from focusrl.report.samples import read_samples

SECTIONS: list[tuple[str, list[str]]] = [
    ("Reward", [r"reward_mean", r"reward_std", r"reward/.*"]),
    ("Accuracy and held-out evaluation", [r"accuracy", r"eval/.*"]),
    ("Policy and update", [r"entropy", r"kl", r"clip_frac", r"ratio", r"grad_norm", r"lr",
                           r"loss"]),
    ("Responses", [r"response_length", r"truncated_frac", r"groups_nonzero_adv",
                   r"dynamic_.*"]),
    ("Train-inference mismatch and staleness", [
        r"logp_mismatch", r"mismatch_kl", r"is_weight_.*", r"mis_.*", r"stale.*",
        r"policy_version.*"]),
    ("RLPT support", [r"rlpt_.*"]),
    ("Time and throughput", [r"tokens_per_s", r"time_step", r"time_.*"]),
    ("Failures and skips", [r"reward_failures/.*", r"skipped_.*", r"empty_batch"]),
]
"""Plot sections, each a list of key patterns (full match), in display order."""
NOT_PLOTTED = {"step", "tokens", "num_samples", "samples_generated", "total_tokens"}
"""Counters whose curve tells nothing (the throughput plot uses tokens)."""


@dataclass
class Run:
    """One run directory as the report sees it."""

    name: str
    path: Path
    metrics: list[dict[str, Any]]
    config: dict[str, Any] = field(default_factory=dict)
    samples: list[dict[str, Any]] = field(default_factory=list)

    def series(self, key: str) -> list[tuple[float, float]]:
        """(step, value) for every record with a finite numeric `key`."""
        out = []
        for i, r in enumerate(self.metrics):
            v = r.get(key)
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
                out.append((float(r.get("step", i + 1)), float(v)))
        return out

    def doctor_config(self) -> DoctorConfig:
        """The run's own thresholds (its config.yaml `doctor` section), else the defaults."""
        try:
            return from_dict(DoctorConfig, self.config.get("doctor") or {})
        except ConfigError:
            return DoctorConfig()


def load_run(path: str | Path, name: str | None = None) -> Run:
    path = Path(path)
    metrics_path = path / "metrics.jsonl"
    if not metrics_path.exists():
        hint = (" It holds no file named metrics.jsonl; pass the run directory (the run's "
                "`run_dir`, e.g. runs/quickstart).") if path.is_dir() else ""
        raise FileNotFoundError(f"'{path}' is not a focusrl run directory.{hint}")
    metrics = []
    lines = metrics_path.read_text().splitlines()
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            metrics.append(json.loads(line))
        except json.JSONDecodeError as e:
            if n == len(lines):
                break  # a last line cut short by a crash (the run may still be writing)
            raise ValueError(f"{metrics_path}:{n}: not valid JSON ({e}); remove or repair "
                             "that line.") from e
    for r in metrics:  # derived: throughput in response tokens per second of the step
        if isinstance(r.get("tokens"), (int, float)) and r.get("time_step"):
            r["tokens_per_s"] = r["tokens"] / r["time_step"]
    cfg_path = path / "config.yaml"
    config = yaml.safe_load(cfg_path.read_text()) or {} if cfg_path.exists() else {}
    return Run(name or path.name, path, metrics, config, read_samples(path / "samples.jsonl"))


def load_runs(paths: Sequence[str | Path]) -> list[Run]:
    """Runs named by their directory names, made unique with their parents if needed."""
    if not paths:
        raise ValueError("focusrl report needs at least one run directory.")
    resolved = [Path(p).resolve() for p in paths]
    plain = [p.name for p in resolved]
    names = [f"{p.parent.name}/{p.name}" if plain.count(p.name) > 1 else p.name
             for p in resolved]
    return [load_run(p, n) for p, n in zip(paths, names)]


def plot_keys(runs: Sequence[Run]) -> list[tuple[str, list[str]]]:
    """(section, keys) with every numeric key any run logged; unmatched keys go to Other."""
    present: list[str] = []
    for run in runs:
        for r in run.metrics:
            for k, v in r.items():
                if (k not in present and k not in NOT_PLOTTED and isinstance(v, (int, float))
                        and not isinstance(v, bool)):
                    present.append(k)
    out, used = [], set()
    for title, patterns in SECTIONS:
        keys = [k for p in patterns for k in sorted(present)
                if re.fullmatch(p, k) and k not in used]
        keys = list(dict.fromkeys(keys))
        used.update(keys)
        if keys:
            out.append((title, keys))
    rest = [k for k in present if k not in used]
    if rest:
        out.append(("Other", sorted(rest)))
    return out


def flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def config_differences(runs: Sequence[Run]) -> list[tuple[str, list[str]]]:
    """(key, value in each run) for every resolved config key whose values differ
    (run_dir aside); a key a run lacks shows as '(absent)'."""
    flat = [flatten(r.config) for r in runs]
    keys = list(dict.fromkeys(k for f in flat for k in f))
    out = []
    for k in keys:
        if k == "run_dir":
            continue
        vals = [json.dumps(f[k]) if k in f else "(absent)" for f in flat]
        if len(set(vals)) > 1:
            out.append((k, vals))
    return out
