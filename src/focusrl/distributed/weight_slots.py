"""The policy copies inside one rollout worker, and which generation uses which.

A rollout worker serves several calls at once (a threaded Ray actor): the chunks of
the batches in flight and the weight loads. It holds resources.rollout_worker_copies
copies of the policy ("slots"), each with its own engine:
- a generation asks for the weights of the pool's load number `least` or newer (the
  load that was newest when the chunk was issued), waits until such a slot is loaded,
  and runs on the newest loaded slot, which it holds (as a reader) until it is done;
- a weight load goes into a slot nobody reads: with one copy it waits for the running
  generations and holds back new ones (in place); with two or more it takes an older,
  idle copy, so generations on the previous version go on while the new one loads and
  the next batch starts at once (double buffering: batches of consecutive versions
  overlap, which asynchronous RL needs to hide more than one generation time).
Loads are numbered by the pool; one that arrives after a newer one (threads may reorder
them) is skipped.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any


@dataclass
class Slot:
    """One copy of the policy and the engine that generates with it."""

    model: Any
    engine: Any
    load: int = 0
    """The pool's number of the weight load this copy holds (0: the initial weights)."""
    readers: int = 0
    loading: bool = False


class WeightSlots:
    """Readers (generations) share a slot; a writer (weight load) takes an idle one."""

    def __init__(self, slots: list[Slot]) -> None:
        if not slots:
            raise ValueError("WeightSlots needs at least one slot")
        self.slots = slots
        self._cond = threading.Condition()
        self._writers_waiting = 0

    @property
    def newest_load(self) -> int:
        with self._cond:
            return max(s.load for s in self.slots)

    def _newest(self) -> Slot | None:
        ready = [s for s in self.slots if not s.loading]
        return max(ready, key=lambda s: s.load) if ready else None

    def _idle(self) -> Slot | None:
        """A slot a load may overwrite: nobody reads it and, with more than one slot, it is
        not the newest (generations keep starting on that one meanwhile)."""
        newest = self._newest()
        idle = [s for s in self.slots if not s.readers and not s.loading
                and (len(self.slots) == 1 or s is not newest)]
        return min(idle, key=lambda s: s.load) if idle else None

    @contextlib.contextmanager
    def reading(self, least: int) -> Iterator[Slot]:
        """The newest loaded slot once its load is >= `least`, held until the block ends."""
        def ready() -> Slot | None:
            if len(self.slots) == 1 and self._writers_waiting:
                return None  # one copy: a waiting load goes first (no starvation)
            s = self._newest()
            return s if s is not None and s.load >= least else None

        with self._cond:
            self._cond.wait_for(lambda: ready() is not None)
            slot = ready()
            assert slot is not None
            slot.readers += 1
        try:
            yield slot
        finally:
            with self._cond:
                slot.readers -= 1
                self._cond.notify_all()

    @contextlib.contextmanager
    def writing(self, load: int) -> Iterator[Slot | None]:
        """An idle slot to load `load` into (None: a newer load is in already, skip)."""
        with self._cond:
            self._writers_waiting += 1
            try:
                self._cond.wait_for(lambda: self._idle() is not None)
            finally:
                self._writers_waiting -= 1
            slot = None if load <= max(s.load for s in self.slots) else self._idle()
            if slot is not None:
                slot.loading = True
        if slot is None:
            yield None
            return
        try:
            yield slot
        finally:
            with self._cond:
                slot.load = load
                slot.loading = False
                self._cond.notify_all()
