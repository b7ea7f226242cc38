#!/usr/bin/env bash
# Regenerate certificates/ from games/: one certificate per bundled game.
# SOURCE_DATE_EPOCH=0 pins the "created" timestamp, so an unchanged game gives an unchanged file.
set -euo pipefail
cd "$(dirname "$0")/.."
for game in games/*.yaml; do
  out="certificates/$(basename "${game%.yaml}").cert.json"
  rc=0
  SOURCE_DATE_EPOCH=0 python -m sgncert certify "$game" -o "$out" --json > /dev/null || rc=$?  # this checkout, not an installed copy
  if [ "$rc" -gt 1 ]; then echo "certify failed on $game (exit $rc)" >&2; exit "$rc"; fi
  echo "$out: $(python -c 'import json,sys; d=json.load(open(sys.argv[1])); b=d.get("verdict",{}).get("best"); print("certified by", b["proof"], "rate", b["rate"]) if b else print("NOT certified"), print("   ", d["constants"]["provenance"], "SGN rate", d["rate"])' "$out")"
done
