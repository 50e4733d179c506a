#!/usr/bin/env bash
# Install the project with its test dependencies (and headless Chromium for the browser
# tests), then run the whole test suite. Used by the README's quick start and by CI.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -q
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q chromium chromium-driver
fi

# torch first: 2.13.0 is the CPU build; a bare requirement would pull a CUDA build
python -m pip install -q torch==2.13.0 -e '.[test]'

ruff check .
python -m pytest "$@"
