#!/usr/bin/env bash
# Headless Chromium for the HTML report's browser test (tests/report/test_report_html.py).
# As root with apt-get (CI, containers) it installs Debian's `chromium` when missing and then
# requires it (FOCUSRL_REQUIRE_BROWSER=1: the test fails rather than skips). Otherwise it
# says what to do, and the browser test is skipped.
if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 \
    || command -v google-chrome >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing chromium (apt-get) for the report's browser test ..."
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  command -v chromium >/dev/null 2>&1 || { echo "apt-get install chromium failed" >&2; exit 1; }
else
  echo "NOTE: no chromium on PATH, so the HTML report's browser test will be skipped." >&2
  echo "      Install it with: sudo apt-get install -y chromium (Debian/Ubuntu)," >&2
  echo "      or put a chromium / google-chrome binary on PATH." >&2
fi
