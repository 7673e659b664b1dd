"""The example configs ship inside the package (focusrl/examples/, package data; the
repository's top-level examples/ links there), so an installed package has them too:
`focusrl examples DIR` copies them out."""

from __future__ import annotations

import shutil
from pathlib import Path

EXAMPLES_DIR = Path(__file__).resolve().parent / "examples"


def example_paths() -> list[Path]:
    return sorted(EXAMPLES_DIR.glob("*.yaml"))


def copy_examples(target: str | Path, overwrite: bool = False) -> list[Path]:
    """Copy every example config into `target`; existing files are an error unless
    `overwrite`. Returns the written paths."""
    target = Path(target)
    target.mkdir(parents=True, exist_ok=True)
    clash = [p.name for p in example_paths() if (target / p.name).exists()]
    if clash and not overwrite:
        raise ValueError(f"{target} already has {', '.join(clash)}; pass --overwrite to "
                              "replace them, or choose another directory.")
    return [Path(shutil.copy(p, target / p.name)) for p in example_paths()]
