"""Multi-turn episodes through the engine boundary: model turn, environment turn, ...

Token in, token out. The model's sampled ids are kept exactly (never decoded and
re-encoded); each environment observation is tokenised once, appended, and masked. One
episode becomes ONE `Sample`: `prompt_ids` is the first observation, `response_ids` every
later token (model and environment turns), `loss_mask` 1 on model tokens and 0 on
environment tokens, `logprobs` the engine's on model tokens and 0 on environment tokens.

Only the `RolloutEngine` protocol is used: each round, the next model turn of every live
episode is ONE batched `engine.generate` call with `GenerationRequest(prompt_ids=history)`,
so any engine that honours `prompt_ids` (HF, vLLM) runs episodes unchanged.

Chat templates are applied turn by turn (`TurnCodec`): the first observation is rendered as
a user turn with the generation prompt; each later observation is the template's text for
"close the assistant turn, user turn, open the assistant turn", rendered once and appended.
The history is never re-rendered. At the end of each episode the runner re-renders it
(re-tokenises the decoded text, or re-applies the chat template to the messages) and
compares with the kept ids: a difference is counted (`episode_token_drift`) and warned
about, and the kept ids are still what trains (what the model actually saw and sampled).

Synchronous: episodes of one step run on one policy version. Asynchronous
(rollout.max_staleness > 0, distributed/asynchronous.py): the producer thread runs the
episodes on the Ray rollout workers, and a weight sync may land between two turns of one
episode. Each model token keeps the log-prob of the policy that sampled it (its own turn's
behaviour policy, which is what the importance weight needs), and the episode's
`policy_version` is the OLDEST of its turns, so the staleness bound is checked against the
stalest token (tests/envs/test_episodes_async.py).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from focusrl.envs.base import EnvError, Environment, StepResult, check_observation, check_step
from focusrl.envs.config import EnvConfig
from focusrl.rollout.base import RolloutEngine
from focusrl.types import GenerationRequest, Prompt, Sample, SamplingParams

log = logging.getLogger(__name__)


class EnvTimeout(Exception):
    """An environment call ran past env.step_timeout_s."""


def call_with_timeout(fn: Callable[..., Any], args: tuple, timeout_s: float) -> Any:
    """fn(*args) in a daemon thread; EnvTimeout after `timeout_s` (0 = wait forever).
    A hung call cannot be killed from Python: its thread is abandoned (it is a daemon)."""
    if timeout_s <= 0:
        return fn(*args)
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = fn(*args)
        except BaseException as e:  # handed to the caller below
            box["error"] = e

    t = threading.Thread(target=target, daemon=True, name="focusrl-env-call")
    t.start()
    t.join(timeout_s)
    if t.is_alive():
        raise EnvTimeout(f"no answer after {timeout_s:g} s")
    if "error" in box:
        raise box["error"]
    return box["value"]


@dataclass
class EpisodeStats:
    """Counts of one batch of episodes (summed into the step's metrics)."""

    episodes: int = 0
    turns: int = 0
    env_errors: int = 0
    env_timeouts: int = 0
    turn_limit: int = 0
    token_limit: int = 0
    token_drift: int = 0

    def counts(self) -> dict[str, int]:
        return {f"episode_{k}" if k != "episodes" else k: v for k, v in vars(self).items()}


class TurnCodec:
    """Text of one turn -> token ids, rendered once (plain text, or the chat template)."""

    def __init__(self, tokenizer: Any, chat: bool | None = None):
        self.tok = tokenizer
        self.chat = bool(getattr(tokenizer, "chat_template", None)) if chat is None else chat
        if self.chat:
            self._closer, self._user_open = self._template_pieces()

    def encode(self, text: str) -> list[int]:
        return list(self.tok(text, add_special_tokens=False).input_ids)

    def first_turn(self, observation: str) -> list[int]:
        if not self.chat:
            return self.encode(observation)
        return self.encode(self._render([{"role": "user", "content": observation}], True))

    def env_turn(self, observation: str, stop_text: str = "") -> list[int]:
        """The observation as the next turn. `stop_text`: the text of the stop token that
        ended the model's turn ('' if it was cut), which already opens the template's
        assistant closer (e.g. '<|im_end|>' of '<|im_end|>\\n')."""
        if not self.chat:
            return self.encode(observation)
        closer = self._closer
        if stop_text and closer.startswith(stop_text):
            closer = closer[len(stop_text):]
        return self.encode(closer + self._user_open.format(observation=observation))

    def rerender(self, messages: Sequence[dict[str, str]], ids: Sequence[int]) -> list[int]:
        """What re-rendering the whole history would give (for the drift check)."""
        if not self.chat:
            return self.encode(self.tok.decode(list(ids), skip_special_tokens=False))
        last = messages[-1]["role"] == "user"
        return self.encode(self._render(list(messages), add_generation_prompt=last))

    def _render(self, messages: list[dict[str, str]], add_generation_prompt: bool) -> str:
        return self.tok.apply_chat_template(messages, tokenize=False,
                                            add_generation_prompt=add_generation_prompt)

    def _template_pieces(self) -> tuple[str, str]:
        """(text closing an assistant turn, text of a user turn + assistant opener) cut out
        of two renderings with marker contents."""
        a, u = "\x00A\x00", "\x00U\x00"
        base = [{"role": "user", "content": "q"}, {"role": "assistant", "content": a}]
        before = self._render(base, False)
        after = self._render(base + [{"role": "user", "content": u}], True)
        if not after.startswith(before) or a not in before or u not in after:
            raise EnvError("the tokenizer's chat template renders earlier turns differently "
                           "once a user turn follows; episodes cannot append turns to it. Use "
                           "a template that renders turns independently.")
        closer = before[before.index(a) + len(a):]
        user_open = after[len(before):].replace("{", "{{").replace("}", "}}").replace(
            u, "{observation}")
        return closer, user_open


@dataclass
class _Episode:
    request: GenerationRequest
    env: Environment
    env_name: str
    prompt_ids: list[int] = field(default_factory=list)
    response: list[int] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)
    mask: list[int] = field(default_factory=list)
    messages: list[dict[str, str]] = field(default_factory=list)
    turn_spans: list[tuple[int, int]] = field(default_factory=list)
    turn_rewards: list[float] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)
    policy_version: int | None = None
    end: str = ""
    """'' while live; then done | turn_limit | token_limit | error | timeout."""

    def append(self, ids: Sequence[int], logprobs: Sequence[float] | None) -> None:
        self.response.extend(ids)
        self.logprobs.extend(logprobs if logprobs is not None else [0.0] * len(ids))
        self.mask.extend([1 if logprobs is not None else 0] * len(ids))


class EpisodeRunner:
    """Runs groups of episodes of one environment class through an engine."""

    def __init__(self, make_env: Callable[[], Environment], tokenizer: Any, cfg: EnvConfig,
                 chat: bool | None = None):
        self.make_env = make_env
        self.tok = tokenizer
        self.cfg = cfg
        self.codec = TurnCodec(tokenizer, chat)
        self._local = threading.local()
        self._drift_warnings = 0

    @property
    def stats(self) -> EpisodeStats:
        """This thread's counts since its last `take_stats()`. Per thread, because the
        asynchronous rollout runs several batches at once, each in its own thread, and
        each batch reports its own counts (tests/envs/test_episodes_async.py)."""
        if not hasattr(self._local, "stats"):
            self._local.stats = EpisodeStats()
        return self._local.stats

    @stats.setter
    def stats(self, value: EpisodeStats) -> None:
        self._local.stats = value

    def take_stats(self) -> EpisodeStats:
        stats, self.stats = self.stats, EpisodeStats()
        return stats

    def run(self, engine: RolloutEngine, requests: Sequence[GenerationRequest],
            params: SamplingParams) -> list[Sample]:
        """`request.num_samples` episodes per request (one group per request), in request
        order, each as one Sample (rewards and advantages are left to the trainer)."""
        episodes = [self._start(req) for req in requests for _ in range(req.num_samples)]
        while live := [e for e in episodes if not e.end]:
            left = max(self.cfg.max_total_tokens - len(e.response) for e in live)
            turn_params = replace(params, n=1, max_new_tokens=min(params.max_new_tokens, left))
            outs = engine.generate([GenerationRequest(e.request.prompt, 1, e.request.group_id,
                                                      prompt_ids=e.prompt_ids + e.response)
                                    for e in live], turn_params)
            if len(outs) != len(live):
                raise RuntimeError(f"engine returned {len(outs)} samples for {len(live)} "
                                   "requests of one sample each")
            for e, out in zip(live, outs):
                self._model_turn(e, out)
        return [self._finish(e) for e in episodes]

    # -- one episode ----------------------------------------------------------------
    def _start(self, req: GenerationRequest) -> _Episode:
        env = self.make_env()
        e = _Episode(req, env, type(env).name)
        self.stats.episodes += 1
        try:
            obs = call_with_timeout(env.reset, (req.prompt,), self.cfg.step_timeout_s)
        except Exception as err:  # the environment failed, not the trainer: end, count
            obs = self._failed(e, "reset", err)
            e.prompt_ids = self.codec.first_turn(req.prompt.text)
            e.messages.append({"role": "user", "content": req.prompt.text})
            return e
        check_observation(e.env_name, "reset", obs)
        e.prompt_ids = self.codec.first_turn(obs)
        e.messages.append({"role": "user", "content": obs})
        return e

    def _model_turn(self, e: _Episode, out: Sample) -> None:
        cfg = self.cfg
        left = cfg.max_total_tokens - len(e.response)
        ids, lps = list(out.response_ids[:left]), list(out.logprobs[:left])
        stopped = out.finished and len(out.response_ids) <= left
        start = len(e.response)
        e.append(ids, lps)
        e.turn_spans.append((start, len(e.response)))
        v = out.policy_version
        e.policy_version = v if e.policy_version is None else min(e.policy_version, v)
        self.stats.turns += 1
        text = self.tok.decode(ids, skip_special_tokens=True)
        e.messages.append({"role": "assistant", "content": text})
        if not stopped and len(e.response) >= cfg.max_total_tokens:
            self._limit(e, "token_limit")
            return
        try:
            raw = call_with_timeout(e.env.step, (text,), cfg.step_timeout_s)
        except Exception as err:
            self._failed(e, "step", err)
            return
        res: StepResult = check_step(e.env_name, raw)
        e.turn_rewards.append(res.reward)
        e.info.update(res.info)
        if res.done:
            e.end = "done"
        elif len(e.turn_spans) >= cfg.max_turns:
            self._limit(e, "turn_limit")
        else:
            stop_text = self.tok.decode(ids[-1:]) if stopped and ids else ""
            obs_ids = self.codec.env_turn(res.observation, stop_text)
            if len(e.response) + len(obs_ids) >= cfg.max_total_tokens:
                self._limit(e, "token_limit")  # no room left for another model turn
                return
            e.append(obs_ids, None)
            e.messages.append({"role": "user", "content": res.observation})

    def _limit(self, e: _Episode, why: str) -> None:
        e.end = why
        setattr(self.stats, why, getattr(self.stats, why) + 1)

    def _failed(self, e: _Episode, where: str, err: BaseException) -> str:
        timeout = isinstance(err, EnvTimeout)
        e.end = "timeout" if timeout else "error"
        e.turn_rewards.append(self.cfg.error_reward)
        e.info["env_error"] = f"{where}: {type(err).__name__}: {err}"
        if timeout:
            self.stats.env_timeouts += 1
        else:
            self.stats.env_errors += 1
        log.warning("environment '%s' %s %s on task %r (%s); episode ended with reward %g",
                    e.env_name, where, "timed out" if timeout else "raised",
                    e.request.prompt.id, err, self.cfg.error_reward)
        return ""

    def _finish(self, e: _Episode) -> Sample:
        kept = e.prompt_ids + e.response
        drift = self.codec.rerender(e.messages, kept)[: len(kept)] != kept
        if drift:
            self.stats.token_drift += 1
            if self._drift_warnings < 5:
                self._drift_warnings += 1
                log.warning("episode of task %r: re-rendering its history would give other "
                            "tokens than the ones generated; training on the generated ones "
                            "(counted as episode_token_drift)", e.request.prompt.id)
        p: Prompt = e.request.prompt
        meta = {**p.meta, "env_return": sum(e.turn_rewards),
                "env_turn_rewards": list(e.turn_rewards), "env_turn_spans": list(e.turn_spans),
                "env_correct": float(bool(e.info.get("correct", False))),
                "env_end": e.end, "env_info": dict(e.info), "env_token_drift": drift}
        return Sample(
            prompt_id=p.id, group_id=e.request.group_id, prompt_ids=e.prompt_ids,
            response_ids=e.response, logprobs=e.logprobs,
            response_text=self.tok.decode(e.response, skip_special_tokens=False),
            prompt_text=self.tok.decode(e.prompt_ids, skip_special_tokens=False),
            answer=p.answer, meta=meta, finished=e.end == "done", loss_mask=e.mask,
            policy_version=e.policy_version or 0)
