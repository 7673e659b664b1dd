"""A process sandbox for untrusted Python (standard library only). See runner.py."""

from focusrl.rewards.sandbox.isolation import namespaces_available
from focusrl.rewards.sandbox.runner import (
    SandboxConfig,
    SandboxLimits,
    SandboxPool,
    SandboxResult,
    run_program,
)

__all__ = ["SandboxConfig", "SandboxLimits", "SandboxPool", "SandboxResult",
           "namespaces_available", "run_program"]
