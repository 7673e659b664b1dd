"""Optional dependencies and the extra that installs each, for errors that name the fix.

A missing optional package anywhere (math-verify for the math_verify reward, pyarrow for
parquet files, ...) reaches the CLI as an ImportError; `missing_extra_message` turns it
into one line naming `pip install 'focusrl[<extra>]'` instead of a traceback.
"""

from __future__ import annotations

EXTRAS: dict[str, str] = {
    "math_verify": "math",
    "latex2sympy2_extended": "math",
    "pyarrow": "data",
    "datasets": "data",
    "trl": "bench",
    "matplotlib": "bench",
    "scipy": "dev",
    "pytest": "dev",
}
"""Top-level module name -> the pyproject extra that installs it."""


def missing_module(err: BaseException) -> str | None:
    """The top-level name of the module whose import failed, following the error chain."""
    seen: BaseException | None = err
    while seen is not None:
        if isinstance(seen, ModuleNotFoundError) and seen.name:
            return seen.name.split(".")[0]
        seen = seen.__cause__ or seen.__context__
    return None


def missing_extra_message(err: ImportError) -> str | None:
    """`<what failed>; install it with pip install 'focusrl[extra]'`, or None when the
    missing module is not an optional dependency of focusrl (a real bug: re-raise)."""
    module = missing_module(err)
    if module is None or module not in EXTRAS:
        return None
    extra = EXTRAS[module]
    return (f"the optional package '{module}' is not installed ({err}). Install it with: "
            f"pip install 'focusrl[{extra}]'")
