"""Tight certified steps on random two-player LQ games (against the true limits).

    python bench/run_tight.py [--games 30] [--n 32] [--lam 0.83] [--independent-games 10]

Issue games: 64-dim (n = 32 per player), Q_i = R_i^T R_i + I with ||R_i|| = 1, couplings
lam 10 R (on player 1) and lam 0.05 R^T (on player 2), R random with ||R|| = 1, lam = 0.83.
Target: median certified / true Euler step >= 0.9 with the block family. Also run: the
scalar family, RK4, and (second table) games whose two couplings are *independent*
random matrices (S instead of R^T), where scalar weights cannot symmetrise the Jacobian
and block metrics matter (n = 8 per player by default: LMI search; the d = 64 descent
is slow on those, see the module notes in sgncert/analysis/tight.py). Writes bench/results_tight.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sgncert.analysis.tight import tight_step  # noqa: E402
from sgncert.theory.smallgain import perron_weights, sgn_margin  # noqa: E402
from sgncert.theory.steps import sgn_steps  # noqa: E402


def lq_game(seed: int, n: int, lam: float, independent: bool) -> np.ndarray:
    rng = np.random.default_rng(seed)

    def unit(A):
        return A / np.linalg.norm(A, 2)

    R1, R2 = unit(rng.standard_normal((n, n))), unit(rng.standard_normal((n, n)))
    R = unit(rng.standard_normal((n, n)))
    S = unit(rng.standard_normal((n, n))) if independent else R.T
    return np.block([[R1.T @ R1 + np.eye(n), lam * 10.0 * R], [lam * 0.05 * S, R2.T @ R2 + np.eye(n)]])


def sgn_euler(H: np.ndarray, n: int) -> float:
    """SGN Euler max step 2 alpha / beta^2 at the Perron weights (exact constants)."""
    blocks = [slice(0, n), slice(n, 2 * n)]
    mu = np.array([np.linalg.eigvalsh(0.5 * (H[b, b] + H[b, b].T))[0] for b in blocks])
    L = np.array([[0.0, np.linalg.norm(H[blocks[0], blocks[1]], 2)], [np.linalg.norm(H[blocks[1], blocks[0]], 2), 0.0]])
    w = perron_weights(mu, L).weights
    s = np.repeat(np.sqrt(w), n)
    K = s[:, None] * H / s[None, :]
    st = sgn_steps(sgn_margin(mu, L, w), float(np.linalg.norm(K, 2)))
    return st.euler_max if st else 0.0


def run(games: int, n: int, lam: float, independent: bool, methods, families) -> dict:
    rows = []
    for seed in range(games):
        H = lq_game(seed, n, lam, independent)
        row = {"seed": seed, "sgn_euler_max": sgn_euler(H, n)}
        for method in methods:
            for family in families:
                t = time.perf_counter()
                r = tight_step(H, [n, n], method=method, family=family, rel_tol=1e-4)
                row[f"{method}/{family}"] = {
                    "h": r.h,
                    "true": r.true_limit,
                    "ratio": r.ratio,
                    "factor": r.factor,
                    "checks": r.checks,
                    "solves": r.solves,
                    "search": r.search,
                    "seconds": time.perf_counter() - t,
                }
        row["sgn_ratio"] = row["sgn_euler_max"] / row["euler/scalar"]["true"] if "euler/scalar" in row else None
        rows.append(row)
        print(
            f"  game {seed:2d}: "
            + "  ".join(f"{k} {v['ratio']:.4f} ({v['seconds']:.2f}s)" for k, v in row.items() if isinstance(v, dict)),
            flush=True,
        )
    summary = {}
    for key in rows[0]:
        if isinstance(rows[0][key], dict):
            ratios = [r[key]["ratio"] for r in rows]
            secs = [r[key]["seconds"] for r in rows]
            summary[key] = {
                "median_ratio": statistics.median(ratios),
                "min_ratio": min(ratios),
                "max_ratio": max(ratios),
                "median_seconds": statistics.median(secs),
                "total_seconds": sum(secs),
            }
    sgn = [r["sgn_ratio"] for r in rows if r["sgn_ratio"] is not None]
    if sgn:
        summary["sgn/euler"] = {"median_ratio": statistics.median(sgn), "min_ratio": min(sgn), "max_ratio": max(sgn)}
    return {
        "games": games,
        "n_per_player": n,
        "lam": lam,
        "independent_couplings": independent,
        "summary": summary,
        "rows": rows,
    }


def table(res: dict) -> None:
    kind = "independent couplings" if res["independent_couplings"] else "issue games (couplings R, R^T)"
    print(f"\n{kind}: {res['games']} games, d = {2 * res['n_per_player']}, lam = {res['lam']}")
    print(f"{'method/family':16s} {'median':>8s} {'min':>8s} {'max':>8s} {'med s':>7s} {'total s':>8s}")
    for k, v in res["summary"].items():
        print(
            f"{k:16s} {v['median_ratio']:8.4f} {v['min_ratio']:8.4f} {v['max_ratio']:8.4f} "
            f"{v.get('median_seconds', float('nan')):7.2f} {v.get('total_seconds', float('nan')):8.1f}"
        )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--games", type=int, default=30)
    ap.add_argument("--n", type=int, default=32)
    ap.add_argument("--lam", type=float, default=0.83)
    ap.add_argument("--independent-games", type=int, default=10)
    ap.add_argument("--independent-n", type=int, default=8)
    args = ap.parse_args()
    out = {"python": platform.python_version(), "machine": platform.machine()}
    print("issue games (certified / true step):")
    out["issue"] = run(args.games, args.n, args.lam, False, ("euler", "rk4"), ("scalar", "block"))
    if args.independent_games > 0:
        print("independent couplings:")
        out["independent"] = run(
            args.independent_games, args.independent_n, args.lam, True, ("euler", "rk4"), ("scalar", "block")
        )
    table(out["issue"])
    if "independent" in out:
        table(out["independent"])
    target = out["issue"]["summary"]["euler/block"]["median_ratio"]
    print(
        f"\ntarget: median certified/true Euler step (block) >= 0.9: {target:.4f} "
        f"{'MET' if target >= 0.9 else 'NOT MET'}"
    )
    (ROOT / "bench" / "results_tight.json").write_text(json.dumps(out, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
