"""The code reward (HumanEval harness in the sandbox) and scoring while generating."""

from __future__ import annotations

import gzip
import json
import time

import pytest

from focusrl.rewards.async_scoring import AsyncScorer
from focusrl.rewards.base import RewardPipeline
from focusrl.rewards.code_exec import CodeReward, extract_code, humaneval_job
from focusrl.rewards.config import RewardConfig, RewardPartConfig
from focusrl.types import Sample


@pytest.fixture(scope="module")
def task(shared_data):
    with gzip.open(shared_data / "humaneval" / "HumanEval.jsonl.gz", "rt") as f:
        return json.loads(f.readline())  # HumanEval/0: has_close_elements


def _sample(task, response, where="answer"):
    tests = {"test": task["test"], "entry_point": task["entry_point"]}
    return Sample(task["task_id"], 0, [], [], [], prompt_text=task["prompt"],
                  response_text=response, answer=tests if where == "answer" else None,
                  meta=tests if where == "meta" else {})


def test_humaneval_job_layout():
    job = humaneval_job("def f():\n", "def f():\n", "    return 1",
                        "def check(c):\n    assert c() == 1", "f")
    assert (job.solution, job.prelude, job.entry_point) == ("def f():\n    return 1\n",
                                                            "def f():\n", "f")
    assert job.tests == "def check(c):\n    assert c() == 1"


def test_fenced_whole_solution_is_used_without_the_prompt():
    text = "Here:\n```python\ndef f(x):\n    return x\n```\nDone."
    assert extract_code(text, "f") == ("def f(x):\n    return x\n", True)
    assert extract_code("```\n    return x\n```", "f") == ("    return x\n", False)
    assert extract_code(text, "f", "raw") == (text, False)


def test_code_reward_scores_completions_in_the_sandbox(task):
    reward = CodeReward(workers=2)
    fenced = f"```python\n{task['prompt']}{task['canonical_solution']}```"
    samples = [_sample(task, task["canonical_solution"]),
               _sample(task, task["canonical_solution"], where="meta"),
               _sample(task, fenced),
               _sample(task, "    return True\n"),
               _sample(task, "    while True:\n        pass\n")]
    reward.pool.cfg.limits.cpu_seconds = 2
    assert reward.score(samples) == [1.0, 1.0, 1.0, 0.0, 0.0]
    assert [s.meta["sandbox"]["status"] for s in samples] == [
        "pass", "pass", "pass", "fail", "timeout"]
    reward.close()


def test_code_reward_explains_missing_tests_and_bad_options(task):
    reward = CodeReward(workers=1)
    bare = Sample("x", 0, [], [], [], response_text="pass")
    with pytest.raises(ValueError, match="has no tests"):
        reward.score([bare])
    reward.close()
    with pytest.raises(ValueError, match="unknown sandbox option"):
        CodeReward(sandbox={"wokers": 3})


class Sleepy:
    """A rewarder that takes `seconds` per batch (stands in for sandbox scoring)."""

    def __init__(self, seconds):
        self.seconds = seconds

    def score(self, samples):
        time.sleep(self.seconds)
        return [float(len(s.response_text)) for s in samples]


def test_async_scorer_overlaps_scoring_with_generation():
    pipe = RewardPipeline(RewardConfig(parts=[RewardPartConfig(kind="x", name="len")]),
                          {"len": Sleepy(0.3)})
    chunks = [[Sample(f"p{c}{i}", c, [], [], [], response_text="x" * (c + i))
               for i in range(2)] for c in range(3)]
    start = time.perf_counter()
    with AsyncScorer(pipe) as scorer:
        futures = []
        for chunk in chunks:
            time.sleep(0.3)  # "generate" this chunk, while the previous one is scored
            futures.append(scorer.submit(chunk))
        stats = [f.result() for f in futures]
    elapsed = time.perf_counter() - start
    assert all(s.failures == [] for s in stats)
    assert [[s.reward for s in chunk] for chunk in chunks] == [[0, 1], [1, 2], [2, 3]]
    assert scorer.busy_seconds == pytest.approx(0.9, abs=0.25)
    assert elapsed < 0.9 + 0.9 - 0.4  # serial would be 1.8 s; overlap hides >= 0.4 s
