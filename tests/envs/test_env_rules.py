"""Each built-in environment's rules, on hand-made episodes (step calls and scripted
episodes through the real runner), and the contract checks on environments."""

import random

import pytest

from focusrl.envs.base import EnvError, StepResult, check_step
from focusrl.envs.clarify import ClarifyEnv
from focusrl.envs.config import EnvConfig
from focusrl.envs.games import GuessNumberEnv
from focusrl.envs.tools import CalculatorEnv, PythonToolEnv, calculate, parse_action
from focusrl.models import build_char_tokenizer
from focusrl.rollout.episodes import EpisodeRunner
from focusrl.rollout.scripted import ScriptedEngine
from focusrl.types import GenerationRequest, Prompt, SamplingParams


@pytest.mark.parametrize("expr, out", [
    ("123*7", "861"), ("(2+3)**2", "25"), ("7/2", "3.5"), ("8/2", "4"), ("-3+1", "-2"),
    ("17//5", "3"), ("17%5", "2")])
def test_calculator_evaluates_arithmetic(expr, out):
    assert calculate(expr) == out


@pytest.mark.parametrize("expr", ["__import__('os')", "a+1", "2**1000", "1/0", "2*", "[1]"])
def test_calculator_refuses_anything_but_arithmetic(expr):
    assert calculate(expr).startswith("error:")


def test_parse_action_splits_the_verb():
    assert parse_action("  CALC 2*3 ") == ("calc", "2*3")
    assert parse_action("python\nprint(1)") == ("python", "print(1)")
    assert parse_action("") == ("", "")


def test_calculator_episode_rules():
    env = CalculatorEnv()
    task = Prompt("t", "123*7=?\n", "861", {"expression": "123*7"})
    assert env.reset(task) == "123*7=?\n"
    assert env.step("calc 123*7") == StepResult("= 861\n", 0.0, False, {"tool_calls": 1})
    assert env.step("python print(1)").observation.startswith("say 'calc ...'")
    assert env.step("answer 861") == StepResult("", 1.0, True, {"correct": True})
    env.reset(task)
    assert env.step("answer 860") == StepResult("", 0.0, True, {"correct": False})


def test_tool_cost_is_charged_per_call():
    env = CalculatorEnv(tool_cost=0.1)
    env.reset(Prompt("t", "2*2=?\n", "4"))
    assert env.step("calc 2*2").reward == pytest.approx(-0.1)


def test_python_tool_runs_code_in_the_sandbox():
    env = PythonToolEnv(sandbox={"workers": 1})
    env.reset(Prompt("t", "123*7=?\n", "861"))
    assert env.step("python print(123*7)").observation == "= 861\n"
    assert env.step("python raise ValueError('x')").observation.startswith("= error:")


def test_clarify_rules_reward_correctness_minus_asking():
    env = ClarifyEnv(ask_cost=0.2)
    env.reset(Prompt("t", "say x\n", "42", {"needs_question": True}))
    r1 = env.step("ask what is x?")
    assert (r1.observation, r1.reward, r1.done, r1.info["asked"]) == ("x=42\n", -0.2, False, True)
    r2 = env.step("answer 42")
    assert (r2.reward, r2.done, r2.info["correct"], r2.info["asked"]) == (1.0, True, True, True)
    env.reset(Prompt("t", "x=42. say x\n", "42", {"needs_question": False}))
    r = env.step("answer 41")
    assert (r.reward, r.info["correct"], r.info["asked"]) == (0.0, False, False)


def test_clarify_tasks_state_x_only_when_no_question_is_needed():
    tasks = ClarifyEnv.make_tasks(200, random.Random(0))
    need = [t for t in tasks if t.meta["needs_question"]]
    assert 60 < len(need) < 140
    for t in tasks:
        assert (t.answer in t.text) != t.meta["needs_question"]


def test_guess_number_gives_higher_lower_hints():
    env = GuessNumberEnv(high=16, step_cost=0.05)
    env.reset(Prompt("g", "guess 1..16\n", 11))
    assert env.step("guess 4") == StepResult("higher\n", -0.05, False, {"correct": False})
    assert env.step("guess 12") == StepResult("lower\n", -0.05, False, {"correct": False})
    assert env.step("banana").observation == "say 'guess <number>'\n"
    assert env.step("guess 11") == StepResult("", 1.0, True, {"correct": True})


def _scripted_episode(env_cls, turns, task, **env_args):
    tok = build_char_tokenizer()
    script = iter(turns)
    runner = EpisodeRunner(lambda: env_cls(**env_args), tok,
                           EnvConfig(name=env_cls.name, max_turns=8, max_total_tokens=200))
    engine = ScriptedEngine(tok, lambda p, h: next(script))
    [s] = runner.run(engine, [GenerationRequest(task, 1, 0)], SamplingParams(max_new_tokens=20))
    return s, runner.take_stats()


def test_binary_search_episode_through_the_runner():
    s, stats = _scripted_episode(GuessNumberEnv, ["guess 8", "guess 12", "guess 10", "guess 11"],
                                 Prompt("g", "guess 1..16\n", 11), step_cost=0.1)
    assert s.response_text == ("guess 8<eos>higher\nguess 12<eos>lower\nguess 10<eos>higher\n"
                               "guess 11<eos>")
    assert s.meta["env_turn_rewards"] == [-0.1, -0.1, -0.1, 1.0]
    assert s.meta["env_return"] == pytest.approx(0.7)
    assert s.meta["env_correct"] == 1.0 and s.finished and s.meta["env_end"] == "done"
    assert stats.turns == 4 and stats.episodes == 1


def test_clarify_episode_through_the_runner():
    s, _ = _scripted_episode(ClarifyEnv, ["ask", "answer 42"],
                             Prompt("c", "say x\n", "42", {"needs_question": True}))
    assert s.response_text == "ask<eos>x=42\nanswer 42<eos>"
    assert s.meta["env_return"] == pytest.approx(0.8)
    assert s.meta["env_info"]["asked"] and s.meta["env_correct"] == 1.0


@pytest.mark.parametrize("result, field", [
    (("obs", 1.0, False), "tuple of 3 items"),
    ((3, 1.0, False, {}), "observation of type int"),
    (("obs", "1", False, {}), "reward='1'"),
    (("obs", float("nan"), False, {}), "reward=nan"),
    (("obs", 1.0, 1, {}), "done=1"),
    (("obs", 1.0, False, []), "info of type list"),
    ({"observation": "x"}, "returned dict"),
])
def test_wrong_step_types_name_the_environment_and_the_field(result, field):
    with pytest.raises(EnvError) as err:
        check_step("my_env", result)
    assert "environment 'my_env'" in str(err.value) and field in str(err.value)
