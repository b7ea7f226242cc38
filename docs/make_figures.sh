#!/usr/bin/env bash
# Regenerate the README figures in docs/ from the bundled games and certificates.
# Deterministic: the same inputs and library versions give byte-identical PNGs.
# SGNCERT overrides the command (default: sgncert, else python -m sgncert).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${SGNCERT:-}" ]; then
  if command -v sgncert > /dev/null; then SGNCERT="sgncert"; else SGNCERT="python -m sgncert"; fi
fi
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
export CI=1  # no progress bars
run() { echo "+ sgncert $*"; $SGNCERT "$@" > /dev/null; }

run band games/scalar.yaml -o docs/band_scalar.png
run band certificates/three_player.cert.json -o docs/band_three_player.png
run sweep games/scalar.yaml --param lam=0:2.5:61 -o "$tmp/sweep_scalar.json" --plot docs/sweep_scalar.png
run plot phase games/scalar.yaml --param lam=0:2.5:61 -o docs/phase_scalar.png
run plot flow certificates/scalar.cert.json -o docs/flow_scalar.png
run plot flow certificates/lq64.cert.json -o docs/flow_lq64.png
run plot flow certificates/markov_general_sum.cert.json -o docs/flow_markov_general_sum.png  # Fisher geometry
ls -l docs/*.png
