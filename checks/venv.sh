#!/usr/bin/env bash
# Ensures .build/venv-NAME exists with REQUIREMENTS (a file in checks/) installed from PyPI;
# reinstalls when the requirements file changed. Prints the venv's bin directory.
# Usage: checks/venv.sh NAME REQUIREMENTS [--no-deps]
#   --no-deps: install exactly the pinned list (it must name every dependency itself).
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.build/venv-$1
req=checks/$2
stamp="$venv/.requirements"
if [ ! -f "$stamp" ] || ! cmp -s "$req" "$stamp"; then
  rm -rf "$venv"
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install -q --disable-pip-version-check ${3:-} -r "$req" >&2
  cp "$req" "$stamp"
fi
echo "$PWD/$venv/bin"
