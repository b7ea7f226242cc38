"""Sweeps on a local Dask cluster: 2 worker processes against 1, and against no cluster, in
the same run (the rows must be the same bytes every time).

    python bench/run_cluster.py        # writes bench/results_cluster.json

The sweep: bench/games/ring8x32.yaml (8 players x 32 dims, sampled) over 12 values of its
coupling a, 255 samples a point (about 2 s each), without boundary searches; each case in a
fresh process (cluster start and each worker's compilation included).
"""

from __future__ import annotations

import hashlib
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ARGS = ["bench/games/ring8x32.yaml", "--param", "a=0.2:0.4:12", "--samples", "255", "--boundary-rtol", "0", "--json"]


def run(extra: list[str]) -> tuple[float, str]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "sweep.json"
        t = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "sgncert", "sweep", *ARGS, "-o", str(out), *extra],
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
        wall = time.perf_counter() - t
        rows = json.loads(out.read_text())["rows"]
    return wall, hashlib.sha256(json.dumps(rows, sort_keys=True).encode()).hexdigest()


def main() -> None:
    cases = {"no cluster": [], "1 worker": ["--workers", "1"], "2 workers": ["--workers", "2"]}
    results: dict = {"machine": platform.platform(), "cores": __import__("os").cpu_count(), "cases": {}}
    for name, extra in cases.items():
        wall, digest = run(extra)
        results["cases"][name] = {"wall_s": wall, "rows_sha256": digest}
        print(name, f"{wall:.1f} s", digest[:12])
    c = results["cases"]
    results["speedup 2 workers / 1 worker"] = c["1 worker"]["wall_s"] / c["2 workers"]["wall_s"]
    results["same rows"] = len({v["rows_sha256"] for v in c.values()}) == 1
    print(json.dumps({k: v for k, v in results.items() if k != "cases"}, indent=1))
    (ROOT / "bench" / "results_cluster.json").write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
