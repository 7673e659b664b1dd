"""The samples log stays bounded and heals after a resume; the metrics writer feeds its
loggers and the doctor, also across a resume. (<1 s)"""

from __future__ import annotations

import logging

from focusrl.report import samples
from focusrl.report.config import DoctorConfig
from focusrl.report.doctor import Doctor
from focusrl.trainer.logging import MetricsWriter


def _rows(step, n=2):
    return [{"step": step, "prompt": "p" * 5000, "response": str(i)} for i in range(n)]


def test_samples_log_keeps_the_newest_evaluations_and_drops_stale_rows(tmp_path):
    path = tmp_path / "samples.jsonl"
    for step in range(0, 10 * (samples.MAX_EVALS + 5), 10):
        samples.append_samples(path, step, _rows(step))
    rows = samples.read_samples(path)
    steps = sorted({r["step"] for r in rows})
    assert len(steps) == samples.MAX_EVALS and steps[-1] == 10 * (samples.MAX_EVALS + 4)
    samples.append_samples(path, 30 + steps[0], _rows(30 + steps[0], 1))  # a resumed run
    assert max(r["step"] for r in samples.read_samples(path)) == 30 + steps[0]


def test_sample_rows_cut_long_texts():
    class S:
        prompt_text, response_text, reward, truncated = "x" * 5000, "y", 1.0, False
        reward_parts = {"numeric": 1.0}

    row = samples.sample_row(4, S(), True)
    assert len(row["prompt"]) < samples.MAX_CHARS + 10 and row["prompt"].endswith("[...]")
    assert row["reward_parts"] == {"numeric": 1.0} and row["correct"] is True


class Recorder:
    def __init__(self):
        self.records, self.closed = [], False

    def log(self, record):
        self.records.append(record)

    def close(self):
        self.closed = True


def test_writer_feeds_loggers_and_doctor_and_keeps_history_on_resume(tmp_path, caplog):
    path, cfg = tmp_path / "metrics.jsonl", DoctorConfig(window=2)
    rec = Recorder()
    w = MetricsWriter(path, None, [rec], Doctor(cfg))
    for step in (1, 2, 3):
        w.write({"step": step, "truncated_frac": 0.9, "loss": float("nan")})
    assert [r["step"] for r in rec.records] == [1, 2, 3] and rec.records[0]["loss"] is None
    assert w.alerts == ["high_truncation"]
    w.close()
    assert rec.closed
    # resume from step 2: line 3 is dropped, steps 1-2 are the doctor's history, so the
    # rule fires on the first step after the resume without waiting a whole window
    doctor = Doctor(cfg)
    w2 = MetricsWriter(path, 2, [], doctor)
    assert [r["step"] for r in doctor.history] == [1, 2]
    with caplog.at_level(logging.WARNING):
        w2.write({"step": 3, "truncated_frac": 0.9})
    assert "doctor: high_truncation at step 3" in caplog.text
