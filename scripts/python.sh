#!/usr/bin/env bash
# Prints the Python interpreter the Makefile makes .venv with (`make PYTHON=...` overrides it).
#
# The distribution's /usr/bin/python3 when it is 3.11 or newer: Debian (like Fedora and the python.org Docker
# images) builds CPython with profile-guided and link-time optimisation, while pyenv's default build has neither
# and serves authgate's /ping about a tenth slower on the same machine (docs/benchmarks.md, twenty-first host).
# Otherwise, or when the distribution's interpreter cannot make a venv and python3-venv cannot be installed,
# `python3` from PATH.
set -euo pipefail

system=/usr/bin/python3
if [ -x "$system" ] && "$system" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  if ! "$system" -c 'import ensurepip, venv' 2>/dev/null && command -v apt-get >/dev/null 2>&1; then
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then SUDO="sudo -n"; fi
    # Debian ships venv's pip bootstrap separately; quietly, since make reads this script's output.
    { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-venv; } \
      >/dev/null 2>&1 || true
  fi
  if "$system" -c 'import ensurepip, venv' 2>/dev/null; then
    echo "$system"
    exit 0
  fi
  echo "scripts/python.sh: $system cannot make a venv (apt-get install python3-venv); using python3" >&2
fi
command -v python3
