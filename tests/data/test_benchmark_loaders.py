"""Benchmark loaders on the real shared data, multiple-choice and malformed files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from focusrl.data.config import DataConfig, FieldMap
from focusrl.data.sources import DataError, load_task_data


def _all(source: str, path: Path | str = "") -> DataConfig:
    return DataConfig(source=source, path=str(path), num_train=0, num_eval=0)


def test_gsm8k_has_official_splits_and_numeric_answers(shared_data):
    data = load_task_data(_all("gsm8k", shared_data / "gsm8k"))
    assert (len(data.train), len(data.eval)) == (7473, 1319)
    first = data.train[0]
    assert first.text.startswith("Natalia sold clips")
    assert first.answer == "72" and first.meta["solution"].endswith("#### 72")
    assert all("," not in p.answer for p in data.train + data.eval)
    assert len({p.id for p in data.train + data.eval}) == 7473 + 1319


def test_default_path_is_found_from_the_package_location(shared_data, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # nothing at ../shared/data from here
    monkeypatch.delenv("FOCUSRL_DATA_DIR", raising=False)
    data = load_task_data(DataConfig(source="gsm8k", num_train=10, num_eval=5))
    assert (len(data.train), len(data.eval)) == (10, 5)


def test_default_path_honours_the_data_dir_variable(tmp_path, monkeypatch):
    (tmp_path / "math500").mkdir()
    row = {"problem": "1+1?", "answer": "2", "subject": "Algebra", "level": 1,
           "unique_id": "u1"}
    (tmp_path / "math500" / "test.jsonl").write_text(json.dumps(row) + "\n")
    monkeypatch.setenv("FOCUSRL_DATA_DIR", str(tmp_path))
    data = load_task_data(DataConfig(source="math500", num_eval=0))
    assert [p.id for p in data.eval] == ["u1"]


def test_math500_keeps_subject_and_level(shared_data):
    data = load_task_data(_all("math500", shared_data / "math500"))
    assert len(data.eval) == 500
    p = data.eval[0]
    assert p.answer == "\\left( 3, \\frac{\\pi}{2} \\right)"
    assert p.meta["subject"] == "Precalculus" and p.meta["level"] == 2
    assert {q.meta["level"] for q in data.eval} == {1, 2, 3, 4, 5}


def test_humaneval_answer_is_the_test_record(shared_data):
    data = load_task_data(_all("humaneval", shared_data / "humaneval" / "HumanEval.jsonl.gz"))
    assert len(data.eval) == 164
    p = data.eval[0]
    assert p.id == "HumanEval/0"
    assert set(p.answer) == {"task_id", "prompt", "test", "entry_point"}
    assert p.answer["entry_point"] == "has_close_elements" == p.meta["entry_point"]
    assert "def check(candidate)" in p.meta["test"] and p.text == p.meta["prompt"]


def test_multiple_choice_lists_options_and_keeps_the_letter(tmp_path):
    f = tmp_path / "mc.jsonl"
    rows = [{"id": "q1", "question": "2+2?", "options": ["3", "4", "5"], "answer": "b",
             "subject": "math"},
            {"id": "q2", "question": "Sky?", "options": {"A": "blue", "B": "green"},
             "answer": 0}]
    f.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    data = load_task_data(DataConfig(source="multiple_choice", path=str(f), num_eval=0))
    q1, q2 = data.train
    assert q1.text == "2+2?\nA. 3\nB. 4\nC. 5\nAnswer with the letter of the correct option."
    assert (q1.answer, q2.answer) == ("B", "A")
    assert q1.meta["subject"] == "math" and q1.meta["options"] == ["3", "4", "5"]


def test_multiple_choice_rejects_an_answer_outside_the_options(tmp_path):
    f = tmp_path / "mc.jsonl"
    f.write_text(json.dumps({"question": "?", "options": ["x", "y"], "answer": "D"}) + "\n")
    with pytest.raises(DataError, match=r"mc.jsonl:1: answer 'D'"):
        load_task_data(DataConfig(source="multiple_choice", path=str(f), num_eval=0))


def test_malformed_jsonl_names_file_and_line(tmp_path):
    f = tmp_path / "bad.jsonl"
    f.write_text('{"prompt": "a", "answer": 1}\n\n{"prompt": "b", oops}\n')
    with pytest.raises(DataError, match=r"bad.jsonl:3: not valid JSON"):
        load_task_data(DataConfig(source="jsonl", path=str(f)))
    g = tmp_path / "gsm.jsonl"
    g.write_text('{"question": "q", "answer": "no hashes"}\n')
    with pytest.raises(DataError, match=r"gsm.jsonl:1: GSM8K answer has no"):
        load_task_data(DataConfig(source="gsm8k", path=str(g), eval_path=str(g)))


def test_missing_field_names_the_row(tmp_path):
    f = tmp_path / "mc.jsonl"
    f.write_text(json.dumps({"q": "?", "options": ["x", "y"], "answer": "A"}) + "\n")
    with pytest.raises(DataError, match=r"mc.jsonl:1: no field 'question'"):
        load_task_data(DataConfig(source="multiple_choice", path=str(f),
                                  fields=FieldMap(), num_eval=0))
