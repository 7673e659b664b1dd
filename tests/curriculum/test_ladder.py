"""Difficulty ladder: rungs by difficulty, promotion on windowed pass@k, checkpointing."""

from __future__ import annotations

import pytest

from focusrl.curriculum.ladder import LadderSampler
from focusrl.types import Prompt, Sample


def _prompts() -> list[Prompt]:
    return [Prompt(id=f"d{d}-{i}", text="", meta={"difficulty": d})
            for d in (5.6, 2.0, 3.5) for i in range(3)]


def _group(prompt: Prompt, gid: int, rewards: list[float]) -> list[Sample]:
    return [Sample(prompt_id=prompt.id, group_id=gid, prompt_ids=[], response_ids=[],
                   logprobs=[], reward=r) for r in rewards]


def test_starts_on_the_easiest_rung_and_draws_only_from_it():
    ladder = LadderSampler(_prompts(), samples_per_prompt=4, seed=0)
    assert ladder.difficulty == 2.0
    assert {p.meta["difficulty"] for p, _ in ladder.next_prompts(7)} == {2.0}


def test_promotes_when_windowed_pass_at_k_reaches_the_threshold():
    ladder = LadderSampler(_prompts(), 4, seed=0, window_groups=2, pass_k=2,
                           promote_threshold=0.5)
    (p, _), = ladder.next_prompts(1)
    # pass@2 with n=4, c=1: 1 - C(3,2)/C(4,2) = 1 - 3/6 = 0.5; with c=0: 0; window of 2
    ladder.observe(_group(p, 0, [1, 0, 0, 0]))
    assert ladder.rung == 0  # window not full yet
    ladder.observe(_group(p, 1, [0, 0, 0, 0]))
    assert ladder.rung == 0  # mean (0.5 + 0) / 2 = 0.25 < 0.5
    ladder.observe(_group(p, 2, [1, 1, 1, 0]))  # c=3: n-c < k so pass@2 = 1
    assert ladder.rung == 1 and ladder.difficulty == 3.5  # window [0, 1]: mean 0.5
    assert len(ladder.window) == 0


def test_old_rung_samples_do_not_count_and_the_top_rung_stays():
    ladder = LadderSampler(_prompts(), 2, seed=0, window_groups=1, promote_threshold=1.0,
                           start_rung=2)
    easy = next(p for p in _prompts() if p.meta["difficulty"] == 2.0)
    ladder.observe(_group(easy, 0, [1, 1]))
    assert ladder.window == type(ladder.window)([], maxlen=1)
    (hard, _), = ladder.next_prompts(1)
    ladder.observe(_group(hard, 1, [1, 1]))
    assert ladder.rung == 2  # no rung above


def test_state_dict_round_trips_exactly():
    a = LadderSampler(_prompts(), 2, seed=3, window_groups=4)
    (p, _), = a.next_prompts(1)
    a.observe(_group(p, 0, [1, 0]))
    b = LadderSampler(_prompts(), 2, seed=3, window_groups=4)
    b.load_state_dict(a.state_dict())
    assert b.state_dict() == a.state_dict()
    assert [q.id for q, _ in a.next_prompts(5)] == [q.id for q, _ in b.next_prompts(5)]


def test_prompts_without_difficulty_are_refused():
    with pytest.raises(ValueError, match="no meta\\['difficulty'\\]"):
        LadderSampler([Prompt(id="x", text="")], 2, seed=0)
