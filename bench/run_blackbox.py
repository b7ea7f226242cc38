"""Black-box games and matrix-free players, against same-run baselines.

    python bench/run_blackbox.py                 # every case (~3 min on 2 cores); writes bench/results_blackbox.json
    python bench/run_blackbox.py --only blackbox # or: --only nn

Every case runs in a fresh subprocess (compilation included; peak resident memory is the
case's own), and reports its wall time, the number of XLA compilations and peak memory.

1. blackbox: ``bench/games/ring8x32_blackbox.yaml``, the 8 x 32 ring game with its costs
   in a Python hook (no cost templates: sgncert sees a black box), 1024 Sobol samples plus
   the centre.
   - baseline: the plain script a JAX user writes for mu and L only: ``jit(vmap(jacfwd(F)))``
     over all samples, then ``jnp.linalg.eigvalsh`` of every diagonal block and
     ``jnp.linalg.norm(ord=2)`` of every off-diagonal block.
   - ours: ``certify(game, tight=False, bands=False)``: mu, L, gamma, beta(w) and
     alpha_true(w) (and beta(1) for the Euclidean proof), the whole certification.
   - ours, streamed: the same with the Jacobians not kept (recomputed for each pass), the
     ablation that shows what keeping them buys.
   Target: ours <= 0.75 x baseline.
2. switch: black-box rings of 4, 6, 8 and 12 players of 16 dims (d = 64 to 192), 1024
   samples, certified with the dense path and with the large path forced: where the
   large path starts to win (``DENSE_MAX_DIM``).
3. nn: ``bench/games/mlp_duel.py``, two MLP players of about 10^5 parameters each,
   ``certify(game, tight=False, bands=False)``, which takes the matrix-free path
   (:mod:`sgncert.analysis.matrix_free`) by itself at this size: mu, L, gamma, beta(w),
   alpha_true(w) (and beta(1)) at 16 samples plus the centre. Target: under 10 minutes
   and 4 GB on 2 cores; the time excludes building the game (solving its equilibrium by
   gradient play), reported beside it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
GAME = BENCH / "games" / "ring8x32_blackbox.yaml"
TARGET_RATIO = 0.75
NN_TARGET_S, NN_TARGET_MB = 600.0, 4096.0


def _child(case: str) -> dict:
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(BENCH / "games"))
    import jax
    import jax.monitoring

    from run import _peak_mb
    from sgncert.util.jaxenv import configure_process

    configure_process()  # as the command line has it
    jax.config.update("jax_enable_x64", True)
    compiles: list[float] = []
    jax.monitoring.register_event_duration_secs_listener(
        lambda name, secs, **kw: compiles.append(secs) if name.endswith("backend_compile_duration") else None
    )
    import numpy as np

    from sgncert.games.spec import load_game

    out: dict = {}
    t = time.perf_counter()
    if case == "baseline":
        import jax.numpy as jnp

        from sgncert.analysis.sampling import sample_region

        game = load_game(GAME)
        points = jnp.asarray(sample_region(game.region, game.sampling))
        F, p = game.pseudo_gradient, game.jax_params()
        N = game.n_players
        offs = np.concatenate([[0], np.cumsum(game.block_sizes)]).astype(int)
        jac = jax.jit(jax.vmap(jax.jacfwd(F), in_axes=(0, None)))
        eigmin = jax.jit(lambda B: jnp.linalg.eigvalsh(0.5 * (B + B.swapaxes(-1, -2)))[..., 0])
        norm2 = jax.jit(lambda B: jnp.linalg.norm(B, ord=2, axis=(-2, -1)))
        J = jac(points, p)

        def block(i, j):
            return J[:, offs[i] : offs[i + 1], offs[j] : offs[j + 1]]

        mu = np.array([float(jnp.min(eigmin(block(i, i)))) for i in range(N)])
        L = np.array([[0.0 if i == j else float(jnp.max(norm2(block(i, j)))) for j in range(N)] for i in range(N)])
        out.update(mu=mu.tolist(), L_max=float(L.max()), samples=int(points.shape[0]))
    elif case in ("ours", "ours_streamed"):
        from sgncert.analysis import constants
        from sgncert.analysis.certify import certify

        if case == "ours_streamed":
            constants.KEEP_SHARE = 10**18  # no memory for kept Jacobians: every pass recomputes them
        game = load_game(GAME)
        c = certify(game, tight=False, bands=False)
        out.update(
            mu=c.constants.mu.tolist(),
            L_max=float(np.max(c.constants.L)),
            gamma=c.constants.gamma,
            beta=c.weighted.beta,
            alpha_true=c.weighted.alpha_true,
            samples=c.constants.samples,
            certified=c.certified,
        )
    elif case.startswith("switch"):  # switch:<players>:<path>, 16-dim players, the dense / large path forced
        import dataclasses

        import make_games

        from sgncert.analysis import constants
        from sgncert.analysis.certify import certify
        from sgncert.games.spec import game_from_dict

        _, players, path = case.split(":")
        spec = make_games.ring_spec(int(players), 16)
        spec["costs"] = {"python": "ring_hook.py:costs"}
        constants.DENSE_MAX_DIM = 10**9 if path == "dense" else 0
        game = game_from_dict(spec, BENCH / "games")
        game = dataclasses.replace(game, structure=None)
        c = certify(game, tight=False, bands=False)
        out.update(d=game.dim, mu=c.constants.mu.tolist(), beta=c.weighted.beta, gamma=c.constants.gamma)
    elif case == "nn":
        import mlp_duel

        from sgncert.analysis.certify import certify

        t_build = time.perf_counter()
        game = mlp_duel.game(samples=16)
        out["build_seconds"] = time.perf_counter() - t_build  # includes solving the equilibrium
        t = time.perf_counter()
        c = certify(game, tight=False, bands=False)  # d > 4096: the matrix-free path, automatically
        out.update(
            params_per_player=list(game.block_sizes),
            matrix_free=None if c.matrix_free is None else c.matrix_free.record(),
            mu=c.constants.mu.tolist(),
            L=c.constants.L.tolist(),
            gamma=c.constants.gamma,
            beta=c.weighted.beta,
            alpha_true=c.weighted.alpha_true,
            samples=c.constants.samples,
            certified=c.certified,
        )
    else:
        raise SystemExit(f"unknown case {case}")
    out["seconds"] = time.perf_counter() - t
    out["compiles"] = len(compiles)
    out["compile_seconds"] = sum(compiles)
    out["peak_rss_mb"] = _peak_mb()
    out["devices"] = [str(d) for d in jax.devices()]
    return out


def markdown(doc: dict) -> str:
    """The README's table: every case with its time, ratio to the baseline, compilations and peak memory."""
    rows = [
        "| case | wall | ratio to baseline | XLA compilations | peak memory | target |",
        "|---|---|---|---|---|---|",
    ]
    bb = doc.get("blackbox", {})
    labels = {
        "baseline": "plain script: jit + vmap jacfwd, block eigvalsh / norm (mu, L only)",
        "ours": "sgncert certify (mu, L, gamma, beta(w), alpha_true(w), beta(1)), Jacobians kept",
        "ours_streamed": "the same, Jacobians recomputed for each pass (ablation)",
    }
    for case in ("baseline", "ours", "ours_streamed"):
        r = bb.get(case)
        if not r or "seconds" not in r:
            continue
        ratio = r.get("ratio_to_baseline")
        target = r.get("target", "")
        if target:
            target += " (met)" if r.get("pass") else " (missed)"
        rows.append(
            f"| 8 x 32 black box, 1025 samples: {labels[case]} | {r['seconds']:.1f} s | "
            f"{'1' if case == 'baseline' else f'{ratio:.2f}x'} | {r['compiles']} | {r['peak_rss_mb']:.0f} MB | {target} |"
        )
    nn = doc.get("nn")
    if nn and "seconds" in nn:
        p = nn["params_per_player"]
        rows.append(
            f"| two MLP players ({p[0]} + {p[1]} parameters), 17 points, matrix-free | {nn['seconds']:.0f} s | | "
            f"{nn['compiles']} | {nn['peak_rss_mb']:.0f} MB | {nn['target']} ({'met' if nn['pass'] else 'missed'}) |"
        )
    return "\n".join(rows)


def run_child(case: str) -> dict:
    """The case in a fresh process (bench/run.py's harness, this file as the child)."""
    from run import run_child as run_script

    return run_script(case, script=Path(__file__).resolve())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--child")
    ap.add_argument("--args", default="{}", help="(the harness passes it; these cases take none)")
    ap.add_argument("--only", choices=["blackbox", "nn", "switch"], action="append")
    ap.add_argument("--repeat", type=int, default=1, help="alternate the blackbox cases this many times")
    ap.add_argument("--table", action="store_true", help="print the README's table from bench/results_blackbox.json")
    a = ap.parse_args()
    if a.child:
        print(json.dumps(_child(a.child)))
        return
    if a.table:
        print(markdown(json.loads((BENCH / "results_blackbox.json").read_text())))
        return
    groups = a.only or ["blackbox", "nn", "switch"]
    path = BENCH / "results_blackbox.json"
    doc = json.loads(path.read_text()) if path.exists() and a.only else {}
    doc["machine"] = {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "load_average_at_start": os.getloadavg(),
    }
    doc["command"] = "python bench/run_blackbox.py" + "".join(f" --only {g}" for g in (a.only or []))
    if "blackbox" in groups:
        runs: dict[str, list] = {"baseline": [], "ours": [], "ours_streamed": []}
        for _ in range(a.repeat):  # interleaved, so machine load affects every case alike
            for case in runs:
                runs[case].append(run_child(case))
        best = {case: min(rs, key=lambda r: r.get("seconds", float("inf"))) for case, rs in runs.items()}
        base = best["baseline"].get("seconds")
        for case in ("ours", "ours_streamed"):
            s = best[case].get("seconds")
            best[case]["ratio_to_baseline"] = s / base if s and base else None
        best["ours"]["target"] = f"<= {TARGET_RATIO} x baseline"
        best["ours"]["pass"] = bool(
            best["ours"]["ratio_to_baseline"] and best["ours"]["ratio_to_baseline"] <= TARGET_RATIO
        )
        mu_diff = max(abs(x - y) / abs(y) for x, y in zip(best["ours"]["mu"], best["baseline"]["mu"]))
        best["ours"]["mu_rel_diff_to_baseline"] = mu_diff
        doc["blackbox"] = best
    if "switch" in groups:  # where the large path overtakes the dense one, on black boxes
        doc["switch"] = [
            {
                "players": n,
                "d": 16 * n,
                **{path: run_child(f"switch:{n}:{path}").get("seconds") for path in ("dense", "large")},
            }
            for n in (4, 6, 8, 12)
        ]
    if "nn" in groups:
        nn = run_child("nn")
        nn["target"] = f"< {NN_TARGET_S:g} s, < {NN_TARGET_MB:g} MB"
        nn["pass"] = bool(nn.get("seconds", 1e9) < NN_TARGET_S and nn.get("peak_rss_mb", 1e9) < NN_TARGET_MB)
        doc["nn"] = nn
    path.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"{'case':34s} {'seconds':>8s} {'ratio':>6s} {'compiles':>8s} {'peak MB':>8s}")
    for name, r in list((doc.get("blackbox") or {}).items()) + (
        [("nn (matrix-free)", doc["nn"])] if "nn" in doc else []
    ):
        ratio = r.get("ratio_to_baseline")
        print(
            f"{name:34s} {r.get('seconds', float('nan')):8.2f} {'' if ratio is None else f'{ratio:.2f}':>6s} "
            f"{r.get('compiles', 0):8d} {r.get('peak_rss_mb', float('nan')):8.0f}"
        )


if __name__ == "__main__":
    main()
