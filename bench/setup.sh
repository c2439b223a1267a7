#!/usr/bin/env bash
# Installs what the benchmark needs, when it is missing, for the Python interpreter given as $1:
#   - Debian packages: wrk, Go, and the Go libraries the Gin references build from (offline, GOPATH mode);
#     valgrind, for bench/instructions.py;
#   - the pinned packages of bench/requirements.txt (reference servers, runner, charts);
#   - authgate itself (editable, from this repository) when it is not importable.
# bench/run.py calls it unless --no-setup is given; it is safe to run again.
set -euo pipefail

PYTHON=${1:-python3}
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(dirname "$HERE")

DEBS=(
  wrk
  golang-go
  golang-github-gin-gonic-gin-dev
  golang-github-golang-jwt-jwt-dev
  golang-golang-x-crypto-dev
  golang-github-jackc-pgx-v4-dev
  valgrind
)

missing=()
for deb in "${DEBS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$deb" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$deb")
  fi
done
if ((${#missing[@]})); then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; fi
  echo "bench/setup.sh: installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# Skip pip when every pin is already installed at its version (pip itself takes seconds to find that out).
if ! "$PYTHON" - "$HERE/requirements.txt" <<'PY'
import re, sys
from importlib.metadata import PackageNotFoundError, version
for line in open(sys.argv[1]):
    m = re.match(r"\s*([A-Za-z0-9_.-]+)(\[[^\]]*\])?==([^\s#;]+)", line)
    if not m:
        continue
    try:
        if version(m.group(1)) != m.group(3):
            sys.exit(1)
    except PackageNotFoundError:
        sys.exit(1)
PY
then
  echo "bench/setup.sh: pip install -r bench/requirements.txt"
  "$PYTHON" -m pip install --quiet --disable-pip-version-check -r "$HERE/requirements.txt"
fi

if ! "$PYTHON" -c "import authgate" 2>/dev/null; then
  echo "bench/setup.sh: pip install -e $REPO (authgate)"
  "$PYTHON" -m pip install --quiet --disable-pip-version-check -e "$REPO"
fi
