"""A process sandbox for untrusted Python (standard library only). See runner.py."""

from focusrl.rewards.sandbox.isolation import (
    effective_isolation,
    jail_available,
    namespaces_available,
)
from focusrl.rewards.sandbox.runner import (
    SandboxConfig,
    SandboxLimits,
    SandboxPool,
    SandboxResult,
    TestJob,
    run_program,
    run_tests,
)

__all__ = ["SandboxConfig", "SandboxLimits", "SandboxPool", "SandboxResult", "TestJob",
           "effective_isolation", "jail_available", "namespaces_available", "run_program",
           "run_tests"]
