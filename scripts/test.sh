#!/usr/bin/env bash
# Set up (scripts/setup.sh: Debian packages, venv, KenLM tools; seconds when done before)
# and run the test suite. Extra arguments go to pytest, e.g. `bash scripts/test.sh -k cli`.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bash "$ROOT/scripts/setup.sh"
cd "$ROOT"
exec "${WINNOW_VENV:-$ROOT/.venv}/bin/python" -m pytest tests "$@"
