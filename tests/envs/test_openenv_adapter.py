"""The OpenEnv adapter on a local OpenEnv environment (tests/envs/openenv_local.py)."""

import re

import pytest

pytest.importorskip("openenv", reason="the openenv extra (pip install 'focusrl[openenv]') "
                    "is part of the dev extra; CI installs it")

from focusrl.configtools import ConfigError  # noqa: E402
from focusrl.envs.config import EnvConfig  # noqa: E402
from focusrl.envs.openenv_adapter import OpenEnvAdapter  # noqa: E402
from focusrl.models import build_char_tokenizer  # noqa: E402
from focusrl.rollout.episodes import EpisodeRunner  # noqa: E402
from focusrl.rollout.scripted import ScriptedEngine  # noqa: E402
from focusrl.types import GenerationRequest, SamplingParams  # noqa: E402

ARGS = {"env": "openenv_local:SayNumberEnvironment", "env_args": {"high": 9},
        "observation_field": "prompt"}


def test_openenv_episode_through_the_runner():
    tok = build_char_tokenizer()
    tasks = OpenEnvAdapter.make_tasks(3, __import__("random").Random(0))
    def policy(task, history):  # wrong once, then the number the environment asked for
        return re.findall(r"say (\d)", history)[-1] if "no, say" in history else "0"

    runner = EpisodeRunner(lambda: OpenEnvAdapter(**ARGS), tok, EnvConfig(max_turns=4))
    out = runner.run(ScriptedEngine(tok, policy),
                     [GenerationRequest(t, 1, i) for i, t in enumerate(tasks)],
                     SamplingParams(max_new_tokens=8))
    for s in out:
        target = re.findall(r"say (\d)", s.prompt_text)[0]
        assert s.response_text == f"0<eos>no, say {target}\n{target}<eos>"
        assert s.meta["env_turn_rewards"] == [0.0, 1.0] and s.meta["env_correct"] == 1.0
        assert s.loss_mask == [1, 1] + [0] * 10 + [1, 1]


def test_openenv_adapter_config_errors_name_the_argument():
    with pytest.raises(ConfigError, match="give it as 'package.module:ClassName'"):
        OpenEnvAdapter(env="openenv_local")
    with pytest.raises(ConfigError, match="action_field='text' is not a field of SayAction"):
        OpenEnvAdapter(**{**ARGS, "action_field": "text"})
    with pytest.raises(ConfigError, match="not an OpenEnv Environment subclass"):
        OpenEnvAdapter(env="random:Random")
    env = OpenEnvAdapter(**{**ARGS, "observation_field": "nope"})
    with pytest.raises(Exception, match="set env.args.observation_field to one of"):
        env.reset(OpenEnvAdapter.make_tasks(1, __import__("random").Random(0))[0])
