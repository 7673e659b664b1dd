"""Score one chunk of samples while the next is being generated.

`AsyncScorer.submit(samples)` returns a Future at once; a worker thread runs the reward
pipeline on the chunk (filling `reward_parts` and `reward` in place) and the future
resolves to that call's RewardStats. Threads suffice: the expensive rewarders either
release the GIL (torch, the sandbox's child processes, file and pipe waits) or run out
of process. Chunks are scored in submission order by default (`workers=1`), because
the pipeline keeps per-call state (`last`) and judges share one model.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor

from focusrl.rewards.base import RewardPipeline, RewardStats
from focusrl.types import Sample


class AsyncScorer:
    """A thread pool in front of a RewardPipeline; `busy_seconds` is the total scoring time
    (to compare with the time the caller spent waiting on futures)."""

    def __init__(self, pipeline: RewardPipeline, workers: int = 1):
        if workers < 1:
            raise ValueError(f"AsyncScorer: workers must be >= 1, got {workers}.")
        self.pipeline = pipeline
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix="reward")
        self._lock = threading.Lock()
        self.busy_seconds = 0.0

    def _score(self, samples: list[Sample]) -> RewardStats:
        start = time.perf_counter()
        try:
            return self.pipeline.score(samples)
        finally:
            with self._lock:
                self.busy_seconds += time.perf_counter() - start

    def submit(self, samples: Sequence[Sample]) -> Future[RewardStats]:
        """Start scoring `samples` (mutated in place when done); returns at once."""
        return self._executor.submit(self._score, list(samples))

    def close(self) -> None:
        self._executor.shutdown(wait=True)

    def __enter__(self) -> AsyncScorer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
