"""Wall-clock time of a 61-point sweep of the 64-dimensional LQ game, end to end.

    python bench/run_sweep.py [--repeat 3] [--profile]

Target: `sgncert sweep games/lq64.yaml --param lam=0:2.5:61 -o /tmp/x.json` < 10 s wall
(a fresh process each time: interpreter, JAX import, spec loading, 61 certifications,
JSON + CSV). Compared with the same-run baselines `import jax` and a single
`sgncert certify games/lq64.yaml`. `--profile` also prints where the time of an
in-process sweep goes (cProfile, by module). Writes bench/results_sweep.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET_S = 10.0


def wall(cmd: list[str], repeat: int) -> tuple[float, list[float], int]:
    times, rc = [], 0
    for _ in range(repeat):
        t = time.perf_counter()
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, check=False)
        times.append(time.perf_counter() - t)
        rc = max(rc, proc.returncode)
        if proc.returncode not in (0, 1):
            sys.stderr.write(proc.stderr.decode(errors="replace")[-2000:])
    return statistics.median(times), times, rc


def profile_in_process() -> list[tuple[str, float]]:
    """Cumulative seconds of the main stages of one in-process sweep (after imports)."""
    import cProfile
    import pstats

    sys.path.insert(0, str(ROOT))
    from sgncert.util.jaxenv import configure_process

    configure_process()
    from sgncert.analysis.sweep import run_sweep
    from sgncert.games.spec import load_game

    game = load_game(ROOT / "games" / "lq64.yaml")
    prof = cProfile.Profile()
    prof.enable()
    run_sweep(game, ["lam=0:2.5:61"])
    prof.disable()
    stats = pstats.Stats(prof)
    wanted = {
        "run_sweep": "sweep.py",
        "certify": "certify.py",
        "exact_thresholds": "thresholds.py",
        "sgn_steps": "steps.py",
        "value_and_jacobian": "constants.py",
        "band_pairs": "band.py",
        "certified_margin": "exact.py",
        "with_params": "spec.py",
        "perron_weights": "smallgain.py",
    }
    out = []
    for (file, _, func), (_, _, _, cum, _) in stats.stats.items():
        if func in wanted and file.endswith(wanted[func]):
            out.append((f"{wanted[func]}:{func}", cum))
    return sorted(out, key=lambda kv: -kv[1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--profile", action="store_true")
    args = ap.parse_args()
    py = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        out = str(Path(tmp) / "x.json")
        sweep_cmd = [py, "-m", "sgncert", "sweep", "games/lq64.yaml", "--param", "lam=0:2.5:61", "-o", out]
        cases = {
            "python -c 'import jax' (baseline)": [py, "-c", "import jax; jax.numpy.zeros(1)"],
            "sgncert certify games/lq64.yaml (1 point)": [
                py,
                "-m",
                "sgncert",
                "certify",
                "games/lq64.yaml",
                "--no-write",
                "--json",
            ],
            "sgncert sweep games/lq64.yaml --param lam=0:2.5:61": sweep_cmd,
        }
        results = {name: wall(cmd, args.repeat) for name, cmd in cases.items()}
    sweep_name = "sgncert sweep games/lq64.yaml --param lam=0:2.5:61"
    t_sweep = results[sweep_name][0]
    print(f"{'command':55s} {'median s':>9s}  runs")
    for name, (t, runs, rc) in results.items():
        print(f"{name:55s} {t:9.3f}  {', '.join(f'{r:.2f}' for r in runs)}  (exit {rc})")
    print(f"target < {TARGET_S} s: {'met' if t_sweep < TARGET_S else 'NOT met'}")
    try:
        load = os.getloadavg()
    except OSError:
        load = None
    doc = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "load_average_at_end": load,
        },
        "repeat": args.repeat,
        "target_seconds": TARGET_S,
        "met": t_sweep < TARGET_S,
        "wall_seconds": {name: t for name, (t, _, _) in results.items()},
        "runs": {name: runs for name, (_, runs, _) in results.items()},
    }
    if args.profile:
        prof = profile_in_process()
        print("\nin-process sweep, cumulative seconds:")
        for name, cum in prof:
            print(f"  {name:40s} {cum:7.3f}")
        doc["profile_cumulative_seconds"] = dict(prof)
    (ROOT / "bench" / "results_sweep.json").write_text(json.dumps(doc, indent=2) + "\n")


if __name__ == "__main__":
    main()
