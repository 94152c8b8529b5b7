#!/usr/bin/env bash
# Installs refmatte + clipmat with everything the tests need into ./.venv, on a fresh
# Debian/Ubuntu machine with Python 3.10+ (run as root or with sudo for system packages).
# Re-running is cheap: what is installed already is kept.
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}

apt_install() {  # system packages, only when missing
  local missing=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  local SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq "${missing[@]}"
}

if ! "$PY" -c "import ensurepip, venv" >/dev/null 2>&1; then
  command -v apt-get >/dev/null && apt_install python3-venv
fi

# `refmatte preview` pages and the `clipmat serve` page are tested in a real headless browser
# (the serve page through ChromeDriver, which must match the browser: Debian ships both).
if ! command -v chromium >/dev/null && ! command -v chromium-browser >/dev/null && ! command -v google-chrome >/dev/null; then
  # Debian names it chromium, older Ubuntu chromium-browser; without either the browser tests skip.
  { command -v apt-get >/dev/null && { apt_install chromium || apt_install chromium-browser; }; } \
    || echo "note: could not install chromium; the browser tests will be skipped."
fi
if ! command -v chromedriver >/dev/null && command -v chromium >/dev/null; then
  { command -v apt-get >/dev/null && apt_install chromium-driver; } \
    || echo "note: could not install chromium-driver; the serve page test will be skipped."
fi

# WordNet for the synonyms table (nltk reads it offline once installed into the venv).
if [ ! -f /usr/share/wordnet/index.sense ] && command -v apt-get >/dev/null; then
  apt_install wordnet-base wordnet-sense-index || echo "note: could not install WordNet; synonyms build will say how."
fi

if [ ! -x .venv/bin/python ]; then
  # --system-site-packages: reuse a torch already installed on the machine (GBs) if any.
  "$PY" -m venv --system-site-packages .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -e ".[dev,people,ray,baselines,export,datasets,serve]"

# pymatting compiles its kernels with numba on first use (~30 s): do it once, here.
.venv/bin/python - <<'PY'
import numpy as np
from refmatte.foreground import estimate_foreground
estimate_foreground(np.zeros((8, 8, 3), np.uint8), np.full((8, 8), 128, np.uint8))
PY
if [ -f /usr/share/wordnet/index.sense ]; then .venv/bin/refmatte synonyms install-wordnet >/dev/null; fi
echo "setup done: .venv/bin/refmatte and .venv/bin/clipmat are ready."
