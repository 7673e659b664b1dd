"""The generated config reference in docs/ matches the dataclasses."""

from pathlib import Path

from focusrl.cli import config_reference_markdown

DOC = Path(__file__).resolve().parents[1] / "docs" / "config.md"


def test_config_reference_is_up_to_date():
    assert DOC.read_text() == config_reference_markdown(), (
        "docs/config.md is stale; regenerate with: python -c \"from focusrl.cli import "
        "config_reference_markdown as m; open('docs/config.md','w').write(m())\"")
