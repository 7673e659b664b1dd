"""Code correctness: run the response against its tests in the sandbox (HumanEval format).

The solution (`prompt + completion`) runs in the sandbox's candidate process; the tests
(`check(candidate)`, with the prompt as a trusted prelude for the helpers some tests
call) run in the separate harness process, and every call crosses between them as plain
data (see sandbox/_bootstrap.py). A *departure* from HumanEval's own harness, which runs
solution and tests in one interpreter: there the solution can read or rewrite the tests
and the verdict. The tests come from `Sample.answer` (a dict with `test` and
`entry_point`) or from `Sample.meta` (same keys); the code prompt (the function
signature and docstring) from `Sample.meta["code_prompt"]`, else `Sample.prompt_text`.

Extraction (`extract`): `raw` appends the response to the code prompt as is; `auto`
takes the last ```python fenced block when there is one, and when that block defines
the entry point itself it is the whole solution (the prompt is not prepended).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Literal

from focusrl.rewards.sandbox import (
    SandboxConfig,
    SandboxLimits,
    SandboxPool,
    SandboxResult,
    TestJob,
)
from focusrl.types import Sample

_FENCE = re.compile(r"```(?:python|py|Python)?[ \t]*\n(.*?)```", re.DOTALL)


def humaneval_job(prompt: str, prefix: str, completion: str, test: str, entry_point: str
                  ) -> TestJob:
    """A HumanEval task as a sandbox TestJob: passes when check(entry_point) raises nothing.
    `prefix` is prepended to the completion (the prompt, or '' for a whole solution)."""
    return TestJob(solution=f"{prefix}{completion}\n", tests=test, entry_point=entry_point,
                   prelude=prompt)


def extract_code(response: str, entry_point: str, mode: Literal["auto", "raw"] = "auto"
                 ) -> tuple[str, bool]:
    """(code, whether it is a whole solution that needs no prompt prefix)."""
    if mode == "raw":
        return response, False
    blocks = _FENCE.findall(response)
    if not blocks:
        return response, False
    code = blocks[-1]
    return code, bool(re.search(rf"^\s*def\s+{re.escape(entry_point)}\s*\(", code, re.M))


def code_tests(sample: Sample) -> tuple[str, str]:
    """(test code, entry point) of a sample, or a clear error saying where they go."""
    for source in (sample.answer, sample.meta):
        if isinstance(source, dict) and "test" in source and "entry_point" in source:
            return str(source["test"]), str(source["entry_point"])
    raise ValueError(f"code reward: sample of prompt {sample.prompt_id!r} has no tests; put "
                     "{'test': ..., 'entry_point': ...} in Sample.answer or Sample.meta "
                     "(HumanEval format).")


class CodeReward:
    """1.0 when the program passes its tests in the sandbox, else 0.0.

    Each sample's sandbox outcome is also written to `Sample.meta["sandbox"]`
    (status and reason) for logging.
    """

    def __init__(self, workers: int = 2, cpu_seconds: int = 10, wall_seconds: float = 15.0,
                 memory_mb: int = 1024,
                 isolation: Literal["auto", "jail", "namespace", "none"] = "auto",
                 extract: Literal["auto", "raw"] = "auto", sandbox: dict[str, Any] | None = None):
        if extract not in ("auto", "raw"):
            raise ValueError(f"code: extract must be 'auto' or 'raw', got {extract!r}.")
        limits = SandboxLimits(cpu_seconds=cpu_seconds, wall_seconds=wall_seconds,
                               memory_bytes=memory_mb << 20)
        cfg = SandboxConfig(limits=limits, isolation=isolation, workers=workers)
        for key, value in (sandbox or {}).items():
            if not hasattr(cfg, key) or key == "limits":
                raise ValueError(f"code: unknown sandbox option {key!r}; valid: "
                                 f"{sorted(k for k in vars(cfg) if k != 'limits')}.")
            setattr(cfg, key, value)
        self.pool = SandboxPool(cfg)
        self.extract = extract
        self.last_results: list[SandboxResult] = []

    def job(self, sample: Sample) -> TestJob:
        test, entry_point = code_tests(sample)
        code, whole = extract_code(sample.response_text, entry_point, self.extract)
        prompt = str(sample.meta.get("code_prompt", sample.prompt_text))
        return humaneval_job(prompt, "" if whole else prompt, code, test, entry_point)

    def score(self, samples: Sequence[Sample]) -> list[float]:
        jobs = [self.job(s) for s in samples]
        self.last_results = self.pool.run_many(jobs)
        for s, r in zip(samples, self.last_results):
            s.meta["sandbox"] = {"status": r.status, "detail": r.detail}
        return [float(r.passed) for r in self.last_results]

    def close(self) -> None:
        self.pool.close()
