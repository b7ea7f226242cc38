"""Sound constants (``--bounds sound``): time, tightness against closed forms, and the
sampled certification of the same game in the same run as the baseline.

    python bench/run_sound.py            # writes bench/results_sound.json

Games: ``games/tanh_duel.yaml`` (2 players x 2 dims) and ``bench/games/sound_3x8.yaml``
(3 players x 8 dims, a ring), both with log-cosh curvature and tanh couplings on the box
``[-r, r]^d``, so that

    mu_i = a_i + sech^2(r)   (at the box's corners),   L_ij = |c_ij|   (at x_j = 0).

Targets: mu_i within 1% below the true infimum and L_ij within 1% above the true supremum;
2 x 2 in under 30 s and 3 x 8 in under 5 minutes on 2 cores. Each case runs in a fresh
process (compilation included), with its peak RSS; the search's budget is the default
(20000 boxes or 120 s, tolerance 1%), so gamma, beta and alpha_true of the 24-dim game
stop at the time budget (reported as reached, not as met).
"""

from __future__ import annotations

import json
import platform
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CASE = r"""
import json, math, resource, sys, time
import numpy as np
from sgncert.games.spec import load_game
from sgncert.analysis.certify import certify
from sgncert.analysis.sound import SoundBudget
path, bounds = sys.argv[1], sys.argv[2]
game = load_game(path)
t = time.perf_counter()
c = certify(game, bounds=bounds, budget=SoundBudget(), tight=False, bands=False)  # the default budget
wall = time.perf_counter() - t
k = c.constants
out = {"wall_s": wall, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
       "mu": k.mu.tolist(), "L": k.L.tolist(), "gamma": k.gamma, "certified": c.certified,
       "proofs": [p.method for p in c.verdict.proofs if p.holds]}
if c.sound is not None:
    r = c.sound
    out.update(boxes=r.boxes, leaves=r.leaves, stopped=r.stopped, reached=r.reached,
               gaps={f"{q.kind}{'' if q.i < 0 else q.i}{'' if q.j < 0 else q.j}{'' if q.w is None else '(w)'}": float(g)
                     for q, g in zip(r.keys, r.gaps)})
print(json.dumps(out))
"""


def closed_forms(path: str) -> tuple[list[float], dict[tuple[int, int], float]]:
    """True mu_i (infimum over the box) and the non-zero L_ij of the bench games."""
    import math

    import yaml

    spec = yaml.safe_load((ROOT / path).read_text())
    p, r = spec["params"], spec["region"]["radius"]
    sech2 = 1.0 / math.cosh(r) ** 2
    names = [q["name"] for q in spec["players"]]
    if names == ["x", "y"]:  # games/tanh_duel.yaml
        return [p["a"] + sech2, p["b"] + sech2], {(0, 1): abs(p["c"]), (1, 0): abs(p["e"])}
    N = len(names)  # the ring: player i is coupled to player i + 1
    mu = [p[f"a_{n}"] + sech2 for n in names]
    return mu, {(i, (i + 1) % N): abs(p[f"c_{names[i]}"]) for i in range(N)}


def run(path: str, bounds: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", CASE, path, bounds], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    results = {"machine": platform.platform(), "python": platform.python_version(), "cases": {}}
    for path, target in (("games/tanh_duel.yaml", 30.0), ("bench/games/sound_3x8.yaml", 300.0)):
        mu_true, L_true = closed_forms(path)
        sampled = run(path, "sampled")
        sound = run(path, "sound")
        mu_gap = [(t - s) / t for s, t in zip(sound["mu"], mu_true)]  # >= 0: below the truth
        L_gap = {f"{i},{j}": (sound["L"][i][j] - v) / v for (i, j), v in L_true.items()}
        sampled_over = [(s - t) / t for s, t in zip(sampled["mu"], mu_true)]  # > 0: sampling over-claims
        results["cases"][path] = {
            "sound": sound,
            "sampled (baseline, same run)": sampled,
            "ratio sound / sampled wall": sound["wall_s"] / sampled["wall_s"],
            "mu relative distance below the truth": mu_gap,
            "L relative distance above the truth": L_gap,
            "sampled mu relative distance above the truth": sampled_over,
            "target wall s": target,
            "targets met": bool(
                sound["wall_s"] < target
                and all(0 <= g <= 0.01 for g in mu_gap)
                and all(0 <= g <= 0.01 for g in L_gap.values())
            ),
        }
        print(path, json.dumps(results["cases"][path], indent=1))
    (ROOT / "bench" / "results_sound.json").write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
