#!/usr/bin/env bash
# Install fis with its test dependencies into .venv and run the test suite.
# Usage: bash scripts/test.sh [pytest args...]
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[test]'
set +e
.venv/bin/python -m pytest "$@"
status=$?
set -e
# pytest exit code 5 means "no tests collected": not a failure of the project.
if [ "$status" -eq 5 ]; then status=0; fi
exit "$status"
