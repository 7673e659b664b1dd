"""Each doctor rule fires on synthetic metrics made to trigger it, and none fires on a
healthy run. (<1 s)"""

from __future__ import annotations

import re

import pytest

from focusrl.config import Config
from focusrl.configtools import to_dict
from focusrl.report.config import DoctorConfig
from focusrl.report.doctor import RULES, Doctor, diagnose, scan
from focusrl.report.runs import flatten

CFG = DoctorConfig()
VALID_KEYS = set(flatten(to_dict(Config())))


def _edit(metrics, start, **values):
    """Set `values` on every record from step `start` on."""
    for r in metrics:
        if r["step"] >= start:
            r.update(values)
    return metrics


def _triggers(healthy):
    m = lambda: [dict(r) for r in healthy]  # noqa: E731
    hacked = m()
    for r in hacked:  # reward keeps rising, held-out accuracy falls after step 20
        if "eval/accuracy" in r and r["step"] > 20:
            r["eval/accuracy"] = 0.45 - 0.01 * r["step"]
    return {
        "entropy_collapse": _edit(m(), 30, entropy=0.01),
        "no_gradient_groups": _edit(m(), 30, groups_nonzero_adv=0.2),
        "high_truncation": _edit(m(), 30, truncated_frac=0.6),
        "logp_mismatch": _edit(m(), 30, logp_mismatch=0.2),
        "reward_failures": _edit(m(), 30, **{"reward_failures/code": 8.0}),
        "skipped_updates": _edit(m(), 38, skipped_updates=1.0),
        "kl_blowup": _edit(m(), 30, kl=5.0),
        "reward_hacking": hacked,
    }


def test_every_rule_has_a_trigger_case(healthy):
    assert set(_triggers(healthy)) == set(RULES)


def test_healthy_run_is_silent(healthy):
    assert diagnose(healthy, CFG) == []
    assert scan(healthy, CFG) == []
    for n in range(1, len(healthy) + 1):  # silent at every point of the run, too
        assert diagnose(healthy[:n], CFG) == []


@pytest.mark.parametrize("rule", sorted(RULES))
def test_rule_fires_alone_with_evidence_and_fix(healthy, rule):
    metrics = _triggers(healthy)[rule]
    found = diagnose(metrics, CFG)
    assert [f.rule for f in found] == [rule]
    f = found[0]
    assert f.step == 40 and f.evidence and f.fix
    keys = re.findall(r"\b((?:model|rollout|algorithm|optim|train|rewards|curriculum)"
                      r"(?:\.[a-z_]+)+)", f.fix)
    assert keys, f"{rule}: the fix names no config key: {f.fix}"
    for key in keys:  # every key the fix names exists
        assert key in VALID_KEYS, f"{rule}: the fix names '{key}', not a config key"


def test_evidence_quotes_the_numbers(healthy):
    f = diagnose(_triggers(healthy)["high_truncation"], CFG)[0]
    assert "60%" in f.evidence and "30%" in f.evidence
    f = diagnose(_triggers(healthy)["reward_failures"], CFG)[0]
    assert "code: 40" in f.evidence and "40 of 320" in f.evidence
    f = diagnose(_triggers(healthy)["reward_hacking"], CFG)[0]
    assert "step 20" in f.evidence and "step 40" in f.evidence


def test_thresholds_come_from_the_config(healthy):
    metrics = _edit([dict(r) for r in healthy], 30, truncated_frac=0.6)
    assert diagnose(metrics, DoctorConfig(max_truncated_frac=0.7)) == []
    assert [f.rule for f in diagnose(healthy, DoctorConfig(max_kl=0.05))] == ["kl_blowup"]


def test_one_noisy_step_does_not_fire(healthy):
    metrics = _edit([dict(r) for r in healthy], 40, truncated_frac=0.9)
    assert diagnose(metrics, CFG) == []  # mean over the window: (4 * 0.05 + 0.9) / 5 < 0.3


def test_doctor_reports_a_rule_when_it_starts_firing_once(healthy):
    metrics = _edit([dict(r) for r in healthy], 30, truncated_frac=0.6)
    doctor = Doctor(CFG)
    new_at = {r["step"]: [f.rule for f in doctor.check(r)] for r in metrics}
    fired = {s: rules for s, rules in new_at.items() if rules}
    assert fired == {32: ["high_truncation"]}  # window mean crosses 30% at step 32
    assert list(doctor.active) == ["high_truncation"]
    assert [(f.rule, f.step) for f in scan(metrics, CFG)] == [("high_truncation", 32)]
