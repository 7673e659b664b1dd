"""Open a report in a real headless browser (Chromium): the DOM after its script ran, and a
screenshot. Used by the report's tests and by `focusrl report --screenshot`.

The browser gets a proxy that goes nowhere (127.0.0.1:9), so a page that needed the
network would fail to render: the report must be self-contained.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
INSTALL_HINT = ("install Chromium: `apt-get install -y chromium` (Debian/Ubuntu, as root; "
                "scripts/test.sh does this when run as root), or put a chromium/google-chrome "
                "binary on PATH")


def find_chromium() -> str | None:
    return next((p for p in map(shutil.which, CANDIDATES) if p), None)


def _run(html: str | Path, *args: str, timeout: float = 90) -> str:
    exe = find_chromium()
    if exe is None:
        raise FileNotFoundError(f"no Chromium found ({', '.join(CANDIDATES)}); {INSTALL_HINT}.")
    url = Path(html).resolve().as_uri()
    with tempfile.TemporaryDirectory(prefix="focusrl-chromium-") as profile:
        cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
               "--no-first-run", "--disable-extensions", "--disable-background-networking",
               "--proxy-server=http://127.0.0.1:9", f"--user-data-dir={profile}",
               *args, url]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if out.returncode != 0:
        raise RuntimeError(f"chromium failed ({out.returncode}): {out.stderr[-2000:]}")
    return out.stdout


def dump_dom(html: str | Path) -> str:
    """The page's DOM after its scripts ran."""
    return _run(html, "--dump-dom")


def screenshot(html: str | Path, png: str | Path, width: int = 1400, height: int = 2000
               ) -> Path:
    """A PNG of the top `width` x `height` CSS pixels of the page."""
    png = Path(png).resolve()
    png.parent.mkdir(parents=True, exist_ok=True)
    _run(html, f"--screenshot={png}", f"--window-size={width},{height}")
    if not png.exists():
        raise RuntimeError(f"chromium wrote no screenshot to {png}")
    return png
