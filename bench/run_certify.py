"""Wall-clock measurements of the command line with same-run baselines.

    python bench/run_certify.py [--repeat 3]

Targets: `sgncert --help` < 0.5 s without importing jax or cvxpy; `sgncert certify
games/lq64.yaml` < 5 s on 2 cores. Each command is compared with a baseline measured in
the same run: a bare interpreter (for --help) and `import jax` (the floor of any JAX run).
Writes bench/results_certify.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def wall(cmd: list[str], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        subprocess.run(cmd, cwd=ROOT, capture_output=True, check=False)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    py = sys.executable
    cases = {
        "python -c pass (baseline)": [py, "-c", "pass"],
        "sgncert --help": [py, "-m", "sgncert", "--help"],
        "python -c 'import jax' (baseline)": [py, "-c", "import jax; jax.numpy.zeros(1)"],
        "sgncert certify games/lq64.yaml": [py, "-m", "sgncert", "certify", "games/lq64.yaml", "--no-write", "--json"],
        "sgncert certify games/scalar.yaml": [
            py,
            "-m",
            "sgncert",
            "certify",
            "games/scalar.yaml",
            "--no-write",
            "--json",
        ],
        "sgncert certify games/logistic_duel.yaml (4097 samples)": [
            py,
            "-m",
            "sgncert",
            "certify",
            "games/logistic_duel.yaml",
            "--no-write",
            "--json",
        ],
    }
    results = {name: wall(cmd, args.repeat) for name, cmd in cases.items()}
    heavy = (
        subprocess.run(
            [
                py,
                "-c",
                "import sys; from sgncert.cli import main\ntry: main(['--help'])\n"
                "except SystemExit: pass\nprint([m for m in ('jax','cvxpy') if m in sys.modules])",
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    rows = [
        ("sgncert --help", results["sgncert --help"], results["python -c pass (baseline)"], 0.5),
        ("certify lq64", results["sgncert certify games/lq64.yaml"], results["python -c 'import jax' (baseline)"], 5.0),
        (
            "certify scalar",
            results["sgncert certify games/scalar.yaml"],
            results["python -c 'import jax' (baseline)"],
            None,
        ),
        (
            "certify logistic_duel",
            results["sgncert certify games/logistic_duel.yaml (4097 samples)"],
            results["python -c 'import jax' (baseline)"],
            None,
        ),
    ]
    print(f"{'command':28s} {'wall s':>8s} {'baseline s':>10s} {'ratio':>7s} {'target s':>9s}")
    for name, t, base, target in rows:
        print(f"{name:28s} {t:8.3f} {base:10.3f} {t / base:7.2f} {target if target else '':>9}")
    print(f"heavy modules imported by --help: {heavy}")
    out = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "repeat": args.repeat,
        "wall_seconds": results,
        "help_imports": heavy,
        "rows": [{"command": n, "wall": t, "baseline": b, "ratio": t / b, "target": tg} for n, t, b, tg in rows],
    }
    (ROOT / "bench" / "results_certify.json").write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
