#!/usr/bin/env bash
# Installs what the end-to-end tests (tests/e2e/) need: Debian's Chromium at /usr/bin/chromium and the Python
# `playwright` package in the project's virtual environment. Idempotent and non-interactive, for CI on a clean
# Debian machine as root. It never asks Playwright to download a browser of its own: the tests drive the system
# Chromium through `executable_path`, and browser downloads are not possible where CI runs.
#
# Usage: scripts/install-browser.sh [VENV]   (VENV defaults to .venv)
set -euo pipefail

venv="${1:-.venv}"
python="$venv/bin/python"
started=$SECONDS

say() { printf 'install-browser: %s\n' "$*"; }

if [[ ! -x "$python" ]]; then
    say "no Python at $python; pass the virtual environment as the first argument" >&2
    exit 2
fi

if [[ -x /usr/bin/chromium ]]; then
    say "chromium already installed: $(/usr/bin/chromium --version 2>/dev/null || echo 'version unknown')"
else
    if [[ $(id -u) -ne 0 ]]; then
        say "/usr/bin/chromium is missing and installing it needs root (apt-get)" >&2
        exit 1
    fi
    say "installing chromium and fonts-liberation with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends chromium fonts-liberation </dev/null
    say "installed: $(/usr/bin/chromium --version 2>/dev/null || echo 'version unknown')"
fi

if "$python" -c 'import playwright' 2>/dev/null; then
    say "playwright already installed in $venv: $("$python" -m pip show playwright 2>/dev/null | sed -n 's/^Version: //p')"
else
    say "installing playwright into $venv with pip"
    "$python" -m pip install --quiet --disable-pip-version-check playwright </dev/null
    say "installed playwright $("$python" -m pip show playwright 2>/dev/null | sed -n 's/^Version: //p')"
fi

say "done in $((SECONDS - started)) s"
