"""Performance harness: sgncert against same-run baselines, and scaling.

    python bench/run.py                 # everything (~10 min on 2 cores); writes bench/results.json
    python bench/run.py --only sweep    # one group: sweep | sampled | large | scaling
    python bench/run.py --no-plot       # skip bench/scaling.png

Every measurement runs in a fresh subprocess (so compilation is included and the peak
resident memory, ru_maxrss, is that case's alone; JAX's device buffers count in it on
CPU). Cases:

1. sweep: the baseline's quantities per point (mu, L, gamma, closed-form weights,
   alpha_*, alpha_true, beta) computed with sgncert's functions, the full
   ``run_sweep(lq64, lam=0:2.5:61)`` in-process (which also computes exact Euler / RK4
   thresholds and rational checks per point) and the CLI ``sgncert sweep ... -o`` end to
   end, against the research code's method
   (bench/baselines.py: 161-ratio grid, dense eigenvalues / SVD per point, Python loops);
   the two in-process cases again with the opt-in persistent compilation cache
   (SGNCERT_JAX_CACHE, filled by an earlier run), since XLA compilation is a large part
   of a 61-point sweep.
2. sampled: the constants stage of an 8-player game with 32-dim blocks (d = 256, 1024
   samples + centre; bench/games/ring8x32.yaml): ``certify(game, tight=False,
   bands=False)`` against a straightforward jit + vmap baseline (full Jacobian per point,
   dense eigvalsh and matrix 2-norms per block, bench/baselines.py); plus the CLI
   ``sgncert certify`` end to end; and the same certification with the cost templates
   switched off (``structure=None``: jacfwd of the whole F, blocks gathered from it), an
   ablation that shows what the block-row Jacobians buy.
3. large: 64 players x 16 dims (d = 1024), 1024 samples: ``certify(game, tight=False,
   bands=False)`` (bands: 2 SDPs per pair, 4032 for 64 players, are not part of this target).
4. scaling: time and peak memory of ``certify(..., tight=False, bands=False)`` on ring games
   with 16-dim blocks as samples double (d = 256) and as d doubles (128 samples); plotted
   to bench/scaling.png.

Results, with the machine (CPU count, JAX devices and their kind), go to
bench/results.json. On a GPU machine the same command runs unchanged with a CUDA JAX.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
TARGETS = {"sweep": 20.0, "sampled_s": 20.0, "large_s": 120.0}


# ---------------------------------------------------------------------------- children


def _peak_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def _setup():
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(BENCH))
    import jax

    from sgncert.util.jaxenv import configure_process

    configure_process()  # this process is the benchmark's: synchronous dispatch, as the CLI has it
    jax.config.update("jax_enable_x64", True)  # the baselines compute in float64 too
    return jax


def child(case: str, args: dict) -> dict:
    jax = _setup()
    import numpy as np

    from sgncert.games.spec import game_from_dict, load_game

    out: dict = {}
    if case == "sweep_ours":
        from sgncert.analysis.sweep import run_sweep

        game = load_game(ROOT / "games" / "lq64.yaml")
        t = time.perf_counter()
        doc = run_sweep(game, ["lam=0:2.5:61"])
        out["seconds"] = time.perf_counter() - t
        out["sgn_last_certified"] = doc["boundaries"]["sgn"]["last_certified"]
    elif case == "sweep_ours_constants":  # the baseline's quantities only, with sgncert's functions
        from sgncert.analysis.constants import exact_constants, value_and_jacobian, weighted_constants
        from sgncert.games.spec import with_params
        from sgncert.theory.smallgain import perron_weights, sgn_margin

        game = load_game(ROOT / "games" / "lq64.yaml")
        t = time.perf_counter()
        last = None
        for lam in np.linspace(0.0, 2.5, 61):
            g = with_params(game, {"lam": float(lam)})
            _, J = value_and_jacobian(g, g.region.center)
            k = exact_constants(g, J)
            w = perron_weights(k.mu, k.L).weights
            margin = sgn_margin(k.mu, k.L, w)
            weighted_constants(g, w, J=J)
            if margin > 0:
                last = float(lam)
        out["seconds"] = time.perf_counter() - t
        out["sgn_last_certified"] = last
    elif case == "sweep_baseline":
        from baselines import research_sweep

        game = load_game(ROOT / "games" / "lq64.yaml")
        R = np.asarray(game.params["R"])
        lams = np.linspace(0.0, 2.5, 61)
        t = time.perf_counter()
        rows = research_sweep(R, lams)
        out["seconds"] = time.perf_counter() - t
        out["sgn_last_certified"] = max(r["lam"] for r in rows if r["certified"])
    elif case in ("sampled_ours", "sampled_ours_unstructured", "large_ours", "scaling"):
        import importlib.util

        from sgncert.analysis.certify import certify

        spec = importlib.util.spec_from_file_location("make_games", BENCH / "games" / "make_games.py")
        make_games = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(make_games)
        ring_spec = make_games.ring_spec

        if case in ("sampled_ours", "sampled_ours_unstructured"):
            game = load_game(BENCH / "games" / "ring8x32.yaml")
            if case == "sampled_ours_unstructured":  # ablation: dense jacfwd of F, no cost templates
                import dataclasses

                game = dataclasses.replace(game, structure=None)
        elif case == "large_ours":
            game = load_game(BENCH / "games" / "ring64x16.yaml")
        else:
            game = game_from_dict(ring_spec(args["players"], args["dim"], samples=args["samples"]), BENCH / "games")
        t = time.perf_counter()
        c = certify(game, tight=False, bands=False)
        out["seconds"] = time.perf_counter() - t
        out.update(
            {
                "d": game.dim,
                "samples": c.constants.samples,
                "certified": c.certified,
                "beta": c.weighted.beta,
                "mu_min": float(np.min(c.constants.mu)),
                "L_max": float(np.max(c.constants.L)),
                "gamma": c.constants.gamma,
                "alpha_true": c.weighted.alpha_true,
                "sgn_margin": c.margin,
            }
        )
    elif case == "sampled_baseline":
        from baselines import naive_sampled
        from sgncert.analysis.sampling import sample_region

        game = load_game(BENCH / "games" / "ring8x32.yaml")
        pts = sample_region(game.region, game.sampling)
        t = time.perf_counter()
        res = naive_sampled(game, pts)
        out["seconds"] = time.perf_counter() - t
        out.update(
            {
                "d": game.dim,
                "samples": int(pts.shape[0]),
                "beta": res["beta"],
                "mu_min": float(np.min(res["mu"])),
                "L_max": float(np.max(res["L"])),
                "gamma": res["gamma"],
                "alpha_true": res["alpha_true"],
            }
        )
    else:
        raise SystemExit(f"unknown case {case}")
    out["peak_rss_mb"] = _peak_mb()
    out["devices"] = [str(d) for d in jax.devices()]
    return out


# ---------------------------------------------------------------------------- parent


def run_child(case: str, timeout: float = 1800, script: Path | None = None, **args) -> dict:
    """Run ``script --child case --args JSON`` (default: this file) in a fresh process: its
    last stdout line as JSON, plus the wall time (or the exit code and stderr's tail)."""
    cmd = [sys.executable, str(script or Path(__file__).resolve()), "--child", case, "--args", json.dumps(args)]
    t = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-3000:])
        return {"error": f"exit {proc.returncode}", "wall": wall}
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    res["wall"] = wall
    return res


def run_cli(argv: list[str], timeout: float = 1800) -> dict:
    """Wall time and peak RSS of a CLI command (``/usr/bin/time``-free: getrusage of children)."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "sgncert", *argv], cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    out = {"wall": wall, "exit": proc.returncode, "cmd": "sgncert " + " ".join(argv)}
    if after > before:
        out["peak_rss_mb"] = after / 1024.0
    if proc.returncode not in (0, 1):
        out["stderr"] = proc.stderr[-1500:]
    return out


def machine() -> dict:
    info = {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": platform.processor(),
    }
    try:
        probe = subprocess.run(
            [
                sys.executable,
                "-c",
                "import jax; print(jax.__version__); "
                "print([str(d) for d in jax.devices()]); print(jax.devices()[0].device_kind)",
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        lines = probe.stdout.strip().splitlines()
        info.update({"jax": lines[0], "jax_devices": lines[1], "device_kind": lines[2]})
    except Exception as exc:  # noqa: BLE001
        info["jax"] = f"unavailable: {exc}"
    try:
        info["load_average_at_start"] = os.getloadavg()
    except OSError:
        pass
    return info


def row(case, ours, base, target, kind, peak=None, note=""):
    ratio = base / ours if ours and base else None
    if kind == "ratio":
        ok = ratio is not None and ratio >= target
        tgt = f">= {target:g}x"
    elif kind == "both":  # no slower than the baseline and under target seconds
        ok = ours is not None and ours < target and (base is None or ours <= base)
        tgt = f"<= baseline, < {target:g} s"
    else:
        ok = ours is not None and ours < target
        tgt = f"< {target:g} s"
    return {
        "case": case,
        "ours_s": ours,
        "baseline_s": base,
        "ratio": ratio,
        "target": tgt,
        "pass": bool(ok),
        "peak_rss_mb": peak,
        "note": note,
    }


def print_table(rows):
    head = f"{'case':44s} {'ours s':>8s} {'base s':>8s} {'ratio':>7s} {'target':>24s} {'pass':>5s} {'peak MB':>8s}"
    print(head)
    print("-" * len(head))
    for r in rows:
        f = lambda v, p=2: "" if v is None else f"{v:.{p}f}"
        print(
            f"{r['case']:44s} {f(r['ours_s']):>8s} {f(r['baseline_s']):>8s} {f(r['ratio'], 1):>7s} "
            f"{r['target']:>24s} {'yes' if r['pass'] else 'NO':>5s} {f(r['peak_rss_mb'], 0):>8s}"
        )


def plot(scaling: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FormatStrFormatter

    blue, vermillion = "#0072B2", "#D55E00"  # Okabe-Ito
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.4))
    for ax, key, xlabel, title in (
        (axes[0], "samples", "samples (d = 256)", "samples double"),
        (axes[1], "dim", "dimension d (128 samples)", "dimension doubles"),
    ):
        pts = [p for p in scaling[key] if "seconds" in p]
        x = [p["x"] for p in pts]
        ax.loglog(x, [p["seconds"] for p in pts], "o-", color=blue, lw=2, label="time (s)")
        ax.set_xscale("log", base=2)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("seconds (certify, incl. compilation)", color=blue)
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
        ax2 = ax.twinx()
        ax2.plot(x, [p["peak_rss_mb"] for p in pts], "s--", color=vermillion, lw=2, label="peak RSS (MB)")
        ax2.set_xscale("log", base=2)
        ax2.set_ylim(0, 1.25 * max(p["peak_rss_mb"] for p in pts))  # linear from 0: flat means bounded
        ax2.set_ylabel("peak resident memory (MB)", color=vermillion)
        ax.yaxis.set_major_formatter(FormatStrFormatter("%g"))
        ax.yaxis.set_minor_formatter(FormatStrFormatter("%g"))
        if key == "dim":
            ax.axvline(90, color="grey", ls=":", lw=1)
            ax.text(95, ax.get_ylim()[0] * 1.05, "large path (d > 64)", color="grey", fontsize=8)
        lines = ax.get_lines()[:1] + ax2.get_lines()[:1]
        ax.legend(lines, [ln.get_label() for ln in lines], loc="upper left", fontsize=9)
    fig.suptitle("sgncert sampled certification: ring games, 16-dim blocks (bench/run.py)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--child")
    ap.add_argument("--args", default="{}")
    ap.add_argument("--only", choices=["sweep", "sampled", "large", "scaling"], action="append")
    ap.add_argument("--no-plot", action="store_true")
    ap.add_argument("--plot-only", action="store_true", help="redraw bench/scaling.png from bench/results.json")
    a = ap.parse_args()
    if a.child:
        print(json.dumps(child(a.child, json.loads(a.args))))
        return
    if a.plot_only:
        plot(json.loads((BENCH / "results.json").read_text())["scaling"], BENCH / "scaling.png")
        return
    groups = a.only or ["sweep", "sampled", "large", "scaling"]
    path = BENCH / "results.json"
    doc = json.loads(path.read_text()) if path.exists() and a.only else {}
    doc["machine"] = machine()
    doc["command"] = "python bench/run.py" + "".join(f" --only {g}" for g in (a.only or []))
    rows = {r["case"]: r for r in doc.get("rows", [])}

    def add(*args, **kwargs):  # a table row, replacing the one of the same case from an earlier run
        r = row(*args, **kwargs)
        rows[r["case"]] = r

    if "sweep" in groups:
        ours = run_child("sweep_ours")
        same = run_child("sweep_ours_constants")
        base = run_child("sweep_baseline")
        with tempfile.TemporaryDirectory() as cache:  # the opt-in persistent compilation cache, filled once
            os.environ["SGNCERT_JAX_CACHE"] = cache
            try:
                run_child("sweep_ours")
                warm = run_child("sweep_ours")
                same_warm = run_child("sweep_ours_constants")
            finally:
                del os.environ["SGNCERT_JAX_CACHE"]
        with tempfile.TemporaryDirectory() as tmp:
            cli = run_cli(["sweep", "games/lq64.yaml", "--param", "lam=0:2.5:61", "-o", str(Path(tmp) / "s.json")])
        doc["sweep"] = {
            "ours": ours,
            "ours_constants": same,
            "baseline": base,
            "cli": cli,
            "ours_warm_cache": warm,
            "ours_constants_warm_cache": same_warm,
        }
        add(
            "lq64 sweep, 61 points: same quantities",
            same.get("seconds"),
            base.get("seconds"),
            20.0,
            "ratio",
            same.get("peak_rss_mb"),
            "mu, L, gamma, weights, alpha_*, alpha_true, beta per point",
        )
        add(
            "same quantities, warm compilation cache",
            same_warm.get("seconds"),
            base.get("seconds"),
            20.0,
            "ratio",
            same_warm.get("peak_rss_mb"),
            "SGNCERT_JAX_CACHE set and filled by an earlier run",
        )
        add(
            "lq64 sweep, 61 points: run_sweep (in-process)",
            ours.get("seconds"),
            base.get("seconds"),
            20.0,
            "ratio",
            ours.get("peak_rss_mb"),
            "also exact thresholds + rational checks",
        )
        add(
            "run_sweep, warm compilation cache",
            warm.get("seconds"),
            base.get("seconds"),
            20.0,
            "ratio",
            warm.get("peak_rss_mb"),
            "SGNCERT_JAX_CACHE set and filled by an earlier run",
        )
        add(
            "lq64 sweep, 61 points (CLI end to end)",
            cli["wall"],
            base.get("seconds"),
            20.0,
            "ratio",
            cli.get("peak_rss_mb"),
            "includes interpreter, imports, JSON/CSV",
        )
    if "sampled" in groups:
        ours = run_child("sampled_ours")
        plain = run_child("sampled_ours_unstructured")
        base = run_child("sampled_baseline")
        cli = run_cli(["certify", "bench/games/ring8x32.yaml", "--no-write", "--json"])
        doc["sampled"] = {"ours": ours, "ours_unstructured": plain, "baseline": base, "cli": cli}
        add(
            "8 x 32 (d 256), 1025 samples: constants",
            ours.get("seconds"),
            base.get("seconds"),
            20.0,
            "both",
            ours.get("peak_rss_mb"),
        )
        add(
            "8 x 32 without cost templates (ablation)",
            plain.get("seconds"),
            base.get("seconds"),
            20.0,
            "both",
            plain.get("peak_rss_mb"),
            "structure=None: jacfwd of the whole F",
        )
        add(
            "8 x 32: sgncert certify CLI end to end",
            cli["wall"],
            base.get("seconds"),
            20.0,
            "both",
            cli.get("peak_rss_mb"),
            "incl. bands (28 pairs x 2 SDPs)",
        )
    if "large" in groups:
        ours = run_child("large_ours")
        doc["large"] = {"ours": ours}
        add(
            "64 x 16 (d 1024), 1025 samples: constants",
            ours.get("seconds"),
            None,
            120.0,
            "time",
            ours.get("peak_rss_mb"),
            "no baseline (dense: ~3 O(d^3) eigenproblems a point)",
        )
    if "scaling" in groups:
        scaling = {"samples": [], "dim": []}
        for n in (128, 256, 512, 1024):
            res = run_child("scaling", players=16, dim=16, samples=n)
            res["x"] = n
            scaling["samples"].append(res)
            print(f"scaling samples={n}: {res.get('seconds', 0):.2f} s, {res.get('peak_rss_mb', 0):.0f} MB", flush=True)
        for d in (64, 128, 256, 512, 1024):
            res = run_child("scaling", players=d // 16, dim=16, samples=128)
            res["x"] = d
            scaling["dim"].append(res)
            print(f"scaling d={d}: {res.get('seconds', 0):.2f} s, {res.get('peak_rss_mb', 0):.0f} MB", flush=True)
        doc["scaling"] = scaling
        if not a.no_plot:
            plot(scaling, BENCH / "scaling.png")
    doc["rows"] = list(rows.values())
    print_table(doc["rows"])
    path.write_text(json.dumps(doc, indent=2, default=float) + "\n")
    print(f"wrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
