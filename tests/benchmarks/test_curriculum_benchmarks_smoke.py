"""The curriculum benchmarks run end to end in smoke mode and report what they promise.

Numbers are not checked (a few tiny steps learn nothing); the structure is."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import pytest
import torch

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


@pytest.fixture(autouse=True)
def _keep_threads():
    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)


def test_curriculum_ablation_smoke(tmp_path, capsys):
    bench = _load("curriculum_ablation")
    records = bench.main(["--smoke", "--out", str(tmp_path)])
    out = capsys.readouterr().out.strip().splitlines()
    arms = bench.ARMS
    assert {(r["phase"], r["arm"]) for r in records} == {(p, a) for p in ("sft", "rl")
                                                         for a in arms}
    for r in records:
        assert 0.0 <= r["accuracy"] <= 1.0
        assert {"seed", "seconds", "extra_tokens", "extra_seconds",
                "accuracy_by_difficulty", "mean_drawn_difficulty"} <= set(r)
    edco = [r for r in records if r["arm"] == "edco"]
    assert all(r["extra_tokens"] > 0 and r["refreshes"] >= 1 for r in edco)
    assert all(r["extra_tokens"] == 0 for r in records if r["arm"] in ("uniform",
                                                                        "easy_to_hard"))
    rl = [r for r in records if r["phase"] == "rl"]
    assert len({r["samples_generated"] for r in rl}) == 1  # equal generation budget
    assert json.loads((tmp_path / "results.json").read_text()) == records
    assert sum(line.startswith(("sft ", "rl ")) and "±" in line for line in out) == 8
    assert out[-1].startswith("SUMMARY sft: edco") and "rl: edco" in out[-1]


def test_knapsack_vs_uniform_smoke(tmp_path, capsys):
    bench = _load("knapsack_vs_uniform")
    records = bench.main(["--smoke", "--out", str(tmp_path)])
    out = capsys.readouterr().out.strip().splitlines()
    assert [r["arm"] for r in records] == ["uniform", "knapsack"]
    for r in records:
        for key in ("nonzero_group_share", "nonzero_group_share_after_pass1",
                    "nonzero_sample_share", "nonzero_sample_share_after_pass1",
                    "accuracy", "start_accuracy"):
            assert 0.0 <= r[key] <= 1.0
        assert r["samples_generated"] <= r["steps"] * r["budget_per_step"]
    assert (tmp_path / "warm" / "sft_model" / "config.json").exists()
    assert json.loads((tmp_path / "results.json").read_text()) == records
    assert out[-1].startswith("SUMMARY knapsack vs uniform, same budget")
