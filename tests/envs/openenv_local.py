"""A local OpenEnv environment for the adapter's tests: say the number the seed picked."""

import random

from openenv.core.env_server.interfaces import Environment
from openenv.core.env_server.types import Action, Observation, State
from pydantic import Field


class SayAction(Action):
    message: str = Field(..., description="what the agent says")


class SayObservation(Observation):
    prompt: str = Field(default="")


class SayNumberEnvironment(Environment):
    def __init__(self, high: int = 9):
        super().__init__()
        self.high = high
        self.target = 0
        self._state = State(step_count=0)

    def reset(self, seed=None, episode_id=None, **kwargs) -> SayObservation:
        self.target = random.Random(seed).randint(1, self.high)
        self._state = State(step_count=0)
        return SayObservation(prompt=f"say {self.target}\n")

    def step(self, action: SayAction, timeout_s=None, **kwargs) -> SayObservation:
        self._state.step_count += 1
        right = action.message.strip() == str(self.target)
        return SayObservation(prompt="" if right else f"no, say {self.target}\n", done=right,
                              reward=1.0 if right else None, metadata={"correct": right})

    @property
    def state(self) -> State:
        return self._state
