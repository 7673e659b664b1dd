"""The episode runner: token in / token out through the real HF engine, turn and token
limits, re-rendering drift, failing environments, chat templates turn by turn."""

import logging
import time

import pytest
import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

from focusrl.algorithms.logprobs import token_logprobs
from focusrl.envs.base import EnvError, Environment, StepResult
from focusrl.envs.config import EnvConfig
from focusrl.envs.games import GuessNumberEnv
from focusrl.models import build_char_tokenizer, build_tiny_model
from focusrl.rollout.episodes import EpisodeRunner
from focusrl.rollout.hf_engine import HFEngine
from focusrl.rollout.scripted import ScriptedEngine
from focusrl.trainer.batching import build_batch, response_logits
from focusrl.types import GenerationRequest, Prompt, Sample, SamplingParams


class Recorder:
    """The real engine, with every generate call's requests and samples kept."""

    def __init__(self, engine):
        self.engine, self.calls = engine, []
        self.policy_version = 0

    def generate(self, requests, params):
        out = self.engine.generate(requests, params)
        self.calls.append(([list(r.prompt_ids) for r in requests], out))
        return out


class Chatty(Environment):
    """Never done: answers every turn with a fixed observation."""

    name = "chatty"

    def reset(self, task):
        return task.text

    def step(self, action):
        return StepResult("ok\n", 0.5, False, {})


@pytest.fixture(scope="module")
def hf():
    torch.set_num_threads(1)
    tok = build_char_tokenizer()
    model = build_tiny_model(tok, hidden_size=32, num_layers=2, num_heads=2,
                             intermediate_size=64, seed=0)
    return HFEngine(model, tok, "cpu", seed=0), tok


def test_token_in_token_out_over_several_turns(hf):
    """Every model turn's ids and log-probs are the engine's, unchanged; each request
    continues exactly the episode's ids so far; environment ids are masked; and a
    teacher-forced forward of the final sample reproduces the engine's log-probs, so the
    model saw exactly these tokens as its context."""
    engine, tok = hf
    rec = Recorder(engine)
    runner = EpisodeRunner(Chatty, tok, EnvConfig(max_turns=4, max_total_tokens=200))
    reqs = [GenerationRequest(Prompt("a", "go\n"), 2, 7),
            GenerationRequest(Prompt("b", "hi\n"), 1, 8)]
    episodes = runner.run(rec, reqs, SamplingParams(max_new_tokens=6, temperature=1.0))
    assert [(s.prompt_id, s.group_id) for s in episodes] == [("a", 7), ("a", 7), ("b", 8)]
    assert len(rec.calls) == 4  # one batched call per round, all live episodes together
    obs = tok("ok\n", add_special_tokens=False).input_ids
    for i, s in enumerate(episodes):
        expect_ids, expect_lp, expect_mask = [], [], []
        for turn, (histories, outs) in enumerate(rec.calls):
            assert histories[i] == s.prompt_ids + expect_ids  # the history, exactly
            expect_ids += outs[i].response_ids
            expect_lp += outs[i].logprobs
            expect_mask += [1] * len(outs[i].response_ids)
            if turn < 3:
                expect_ids, expect_lp, expect_mask = (expect_ids + obs, expect_lp + [0.0] * 3,
                                                      expect_mask + [0] * 3)
        assert s.response_ids == expect_ids and s.logprobs == expect_lp
        assert s.loss_mask == expect_mask
        assert s.meta["env_end"] == "turn_limit" and not s.finished
        assert s.meta["env_turn_rewards"] == [0.5, 0.5, 0.5, 0.5]
    batch = build_batch(episodes, tok.pad_token_id, torch.device("cpu"))
    with torch.no_grad():
        logp = token_logprobs(response_logits(engine.model, batch), batch.tokens)
    model_tokens = batch.mask.bool()
    assert torch.allclose(logp[model_tokens], batch.sampler_logp[model_tokens], atol=1e-4)
    assert runner.take_stats().turn_limit == 3


def test_turn_limit_and_token_limit():
    tok = build_char_tokenizer()
    engine = ScriptedEngine(tok, lambda p, h: "guess 1")  # always wrong for secret 9
    task = Prompt("g", "guess 1..16\n", 9)
    limited = EpisodeRunner(GuessNumberEnv, tok, EnvConfig(max_turns=3, max_total_tokens=500))
    [s] = limited.run(engine, [GenerationRequest(task, 1, 0)], SamplingParams(max_new_tokens=20))
    assert len(s.meta["env_turn_spans"]) == 3 and s.meta["env_end"] == "turn_limit"
    assert limited.take_stats().turn_limit == 1
    # "guess 1<eos>" = 8 tokens, "higher\n" = 7: turn 1 + obs = 15, turn 2 is cut at 20
    short = EpisodeRunner(GuessNumberEnv, tok, EnvConfig(max_turns=9, max_total_tokens=20))
    [s] = short.run(engine, [GenerationRequest(task, 1, 0)], SamplingParams(max_new_tokens=20))
    assert len(s.response_ids) == 20 and s.meta["env_end"] == "token_limit"
    assert s.meta["env_turn_spans"] == [(0, 8), (15, 20)] and not s.finished
    assert s.loss_mask == [1] * 8 + [0] * 7 + [1] * 5
    assert short.take_stats().token_limit == 1


def _merging_tokenizer():
    """Characters a, b, <eos> plus the merge a+b -> 'ab': re-encoding 'a','b' merges."""
    vocab = {"<pad>": 0, "<eos>": 1, "a": 2, "b": 3, "ab": 4, "Ċ": 5}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[("a", "b")]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tok.decoder = decoders.ByteLevel()
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="<eos>")


class IdEngine:
    """Emits fixed ids (as a model may: 'a', 'b' where the tokenizer would merge)."""

    policy_version = 0

    def __init__(self, ids):
        self.ids = ids

    def generate(self, requests, params):
        return [Sample(r.prompt.id, r.group_id, list(r.prompt_ids), list(self.ids),
                       [-1.0] * len(self.ids)) for r in requests]


class OneStep(Environment):
    name = "one_step"

    def reset(self, task):
        return task.text

    def step(self, action):
        return StepResult("", 1.0, True, {"correct": True})


def test_rerendering_drift_is_detected_counted_and_warned_never_retokenised(caplog):
    tok = _merging_tokenizer()
    runner = EpisodeRunner(OneStep, tok, EnvConfig(max_turns=2))
    task = [GenerationRequest(Prompt("p", "b"), 1, 0)]
    with caplog.at_level(logging.WARNING):
        [s] = runner.run(IdEngine([2, 3, 1]), task, SamplingParams(max_new_tokens=4))
    assert s.response_ids == [2, 3, 1]  # kept as sampled, not merged into [4, 1]
    assert s.meta["env_token_drift"] is True and runner.take_stats().token_drift == 1
    assert "re-rendering its history would give other tokens" in caplog.text
    [s] = runner.run(IdEngine([4, 1]), task, SamplingParams(max_new_tokens=4))
    assert s.meta["env_token_drift"] is False and runner.take_stats().token_drift == 0


CHAT = ("{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}<eos>\n{% endfor %}"
        "{% if add_generation_prompt %}assistant: {% endif %}")


def test_chat_template_turn_by_turn_matches_a_full_render():
    tok = build_char_tokenizer()
    tok.chat_template = CHAT
    engine = ScriptedEngine(tok, lambda p, h: "guess 3")
    runner = EpisodeRunner(GuessNumberEnv, tok, EnvConfig(max_turns=2, max_total_tokens=200))
    [s] = runner.run(engine, [GenerationRequest(Prompt("g", "guess 1..16\n", 9), 1, 0)],
                     SamplingParams(max_new_tokens=20))
    assert runner.codec.chat
    assert s.prompt_text == "user: guess 1..16\n<eos>\nassistant: "
    assert s.response_text == "guess 3<eos>\nuser: higher\n<eos>\nassistant: guess 3<eos>"
    assert runner.take_stats().token_drift == 0


def test_chat_template_that_rewrites_content_is_caught_as_drift():
    tok = build_char_tokenizer()
    tok.chat_template = CHAT.replace("m['content']", "m['content'] | trim")
    engine = ScriptedEngine(tok, lambda p, h: " guess 3 ")  # the template would trim it
    runner = EpisodeRunner(GuessNumberEnv, tok, EnvConfig(max_turns=1))
    [s] = runner.run(engine, [GenerationRequest(Prompt("g", "guess\n", 9), 1, 0)],
                     SamplingParams(max_new_tokens=20))
    assert s.response_text == " guess 3 <eos>"
    assert runner.take_stats().token_drift == 1


class Raises(Environment):
    name = "raises"

    def reset(self, task):
        return task.text

    def step(self, action):
        raise RuntimeError("boom")


class Hangs(Raises):
    name = "hangs"

    def step(self, action):
        time.sleep(30)


class WrongType(Raises):
    name = "wrong_type"

    def step(self, action):
        return ("obs", "high", False, {})


@pytest.mark.parametrize("env, counter, end", [(Raises, "env_errors", "error"),
                                               (Hangs, "env_timeouts", "timeout")])
def test_failing_environment_ends_its_episode_with_the_fallback_reward(env, counter, end, caplog):
    tok = build_char_tokenizer()
    runner = EpisodeRunner(env, tok, EnvConfig(step_timeout_s=0.3, error_reward=-1.0))
    engine = ScriptedEngine(tok, lambda p, h: "hi")
    with caplog.at_level(logging.WARNING):
        out = runner.run(engine, [GenerationRequest(Prompt("t", "q\n"), 2, 0)],
                         SamplingParams(max_new_tokens=8))
    assert [s.meta["env_end"] for s in out] == [end, end]
    assert [s.meta["env_return"] for s in out] == [-1.0, -1.0]
    assert getattr(runner.take_stats(), counter) == 2
    assert f"environment '{env.name}' step" in caplog.text


def test_wrong_return_type_is_an_error_naming_the_environment_and_field():
    tok = build_char_tokenizer()
    runner = EpisodeRunner(WrongType, tok, EnvConfig())
    with pytest.raises(EnvError, match="environment 'wrong_type': step returned reward='high'"):
        runner.run(ScriptedEngine(tok, lambda p, h: "hi"),
                   [GenerationRequest(Prompt("t", "q\n"), 1, 0)], SamplingParams())
