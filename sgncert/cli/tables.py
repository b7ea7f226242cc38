"""Rich tables summarising a certificate on the terminal.

Numbers are printed in full (the shortest text that reads back as the same float) and never
truncated: numeric columns do not wrap, and a number that still cannot fit a very narrow
terminal is folded onto the next line, never cut or ellipsized.
"""

from __future__ import annotations

import math
import numbers
from typing import Any


def number(x: Any) -> str:
    """A number as the terminal shows it: the shortest repr that round-trips for a float,
    ``inf`` for None (a ``null`` meaning +infinity), ``yes``/``no`` for a bool."""
    if x is None:
        return "inf"
    if isinstance(x, bool) or type(x).__name__ == "bool_":  # numpy bools are not bool
        return "yes" if x else "no"
    if isinstance(x, numbers.Integral):
        return str(int(x))
    if isinstance(x, numbers.Real):
        return repr(float(x))
    return str(x)


def _opt(x: Any) -> str:
    """An optional number: ``n/a`` when it is absent (None does not mean +infinity here)."""
    return "n/a" if x is None else number(x)


def number_cell(text: str) -> Any:
    """A table cell holding a number: folded (all digits kept) if its column ever gets too
    narrow, never truncated or ellipsized."""
    from rich.text import Text

    return Text(text, no_wrap=False, overflow="fold")


def add_number_column(table: Any, header: str) -> None:
    """A right-aligned numeric column that is never shrunk while text columns can give way."""
    table.add_column(plain(header), justify="right", no_wrap=True, overflow="fold")


def plain(text: str, style: str = "") -> Any:
    """Text shown as it is: never read as rich markup (a ``[...]`` in a title, a name or a
    note would otherwise vanish as a markup tag)."""
    from rich.text import Text

    return Text(text, style=style)


def add_row(table: Any, *row: Any) -> None:
    """A table row whose ``str`` cells are shown as they are (see ``plain``)."""
    table.add_row(*(plain(c) if isinstance(c, str) else c for c in row))


def _reduced_dims(doc: dict[str, Any]) -> list[int | None]:
    """Fisher geometry: each player's dimension after quotienting the softmax gauge (one
    all-ones direction per state; docs/theory.md §8), from ``geometry.reduced_dims`` or,
    failing that, from the embedded spec's state count; None where neither says."""
    players = doc["game"]["players"]
    reduced = (doc.get("geometry") or {}).get("reduced_dims")
    if isinstance(reduced, list) and len(reduced) == len(players):
        return list(reduced)
    spec = doc["game"].get("spec") or {}
    states: Any = None
    if isinstance(spec.get("markov"), dict):
        states = spec["markov"].get("states")
    elif "normal_form" in spec:
        states = 1
    if isinstance(states, int) and not isinstance(states, bool) and states > 0:
        return [p["dim"] - states for p in players]
    return [None] * len(players)


def _verdict(doc: dict[str, Any]) -> Any:
    """The closing line: what is certified and, where the equilibrium may lie outside the
    region, what is not (docs/theory.md §10)."""
    from rich.text import Text

    if not doc["certified"]:
        return Text(f"NOT CERTIFIED: {doc['reason']}", style="bold red")
    steps = doc["steps"]
    what = "on the samples (estimated constants)" if doc["constants"]["provenance"] == "sampled" else "on the region"
    rate, euler = number(doc["rate"]), number(steps["euler"]["max"])
    eq = doc.get("equilibrium") or {}
    ball = doc.get("invariant_ball")
    if eq.get("in_region") is False:
        # strong monotonicity on R is proved, but the a-posteriori bound does not place the
        # equilibrium in R: no invariant ball, so no claim that play reaches x*
        radius_M = doc["region"]["radius"] * math.sqrt(min(doc["metric"]["weights"]))
        return Text(
            f"CERTIFIED {what}: F strongly monotone in M(w) with rate {rate} (trajectories that stay in the "
            f"region approach each other at this rate; at most one equilibrium in the region); "
            f"Euler steps h < {euler}. NOT certified: convergence to the equilibrium, which may lie outside "
            f"the region (distance bound ||c - x*||_M <= {number(eq.get('distance_bound_M'))} vs radius "
            f"{number(radius_M)} of the M(w)-ball around c inside the region; no invariant ball)",
            style="bold yellow",
        )
    text = f"CERTIFIED {what}: contraction rate {rate} in M(w); Euler steps h < {euler}"
    if eq.get("in_region") and isinstance(ball, dict) and ball.get("radius_M") is not None:
        text += (
            f"; the equilibrium lies in the region (||c - x*||_M <= {number(eq.get('distance_bound_M'))}) and "
            f"play started in the invariant M(w)-ball of radius {number(ball['radius_M'])} around it stays in "
            f"the region and converges to it"
        )
    return Text(text, style="bold green")


def certificate_tables(doc: dict[str, Any]) -> list[Any]:
    """A list of rich renderables summarising a certificate dict."""
    from rich.table import Table
    from rich.text import Text

    names = [p["name"] for p in doc["game"]["players"]]
    k, sgn, steps = doc["constants"], doc["sgn"], doc["steps"]
    fisher = (doc.get("geometry") or {}).get("kind") == "fisher"
    prov = k["provenance"]
    label = {
        "exact": "exact",
        "sampled": f"sampled ({k['samples']} points, {k['sampler']}, seed {k['seed']})",
        "sound": "sound",
    }.get(prov, prov)
    if fisher:
        label += "; reduced Fisher frame K = E^T J E"

    const = Table(title=plain(f"{doc['game']['name']}: constants [{label}]"), title_justify="left")
    const.add_column("player", overflow="fold")
    add_number_column(const, "dim: reduced (logits)" if fisher else "dim")
    add_number_column(const, "mu_i")
    for j in names:
        add_number_column(const, f"L_i,{j}")
    add_number_column(const, "weight w_i")
    reduced = _reduced_dims(doc) if fisher else []
    for i, p in enumerate(doc["game"]["players"]):
        if fisher:
            dim = f"{'?' if reduced[i] is None else reduced[i]} ({p['dim']})"
        else:
            dim = str(p["dim"])
        row = [p["name"], number_cell(dim), number_cell(number(k["mu"][i]))]
        row += [number_cell("-" if i == j else number(k["L"][i][j])) for j in range(len(names))]
        row.append(number_cell(number(doc["metric"]["weights"][i])))
        add_row(const, *row)

    margins = Table(title="margins", title_justify="left")
    margins.add_column("quantity", overflow="fold")
    add_number_column(margins, "value")
    margins.add_column("meaning", overflow="fold")
    eu = doc["euclidean"]["margin"]
    if fisher:
        # gamma of K = E^T J E: in theta-space lambda_min(sym J) is 0 along the softmax gauge
        gamma_row = (
            "gamma (reduced Fisher frame)",
            "strongly monotone in the reduced Fisher frame" if eu > 0 else "reduced Fisher frame test fails",
        )
    else:
        gamma_row = ("Euclidean gamma", "strongly monotone in ||.||_2" if eu > 0 else "Euclidean test fails")
    add_row(margins, gamma_row[0], number_cell(number(eu)), gamma_row[1])
    add_row(margins, "SGN margin alpha_*(w)", number_cell(number(sgn["margin"])), "proved by exact rational LDL^T")
    add_row(
        margins,
        "tau(A) = sup_w alpha_*",
        number_cell(number(sgn["tau"])),
        "attained" if sgn.get("tau_attained") else "approached",
    )
    add_row(margins, "small-gain radius", number_cell(_opt(sgn.get("gain"))), "< 1 certifies")
    add_row(margins, "alpha_true(w)", number_cell(_opt(sgn.get("alpha_true"))), "diagnostic: true weighted margin")
    add_row(margins, "beta(w)", number_cell(number(k["beta"])), "Lipschitz constant in M(w)")

    st = Table(title="step sizes (one common step; weights never enter the update)", title_justify="left")
    st.add_column("method", overflow="fold")
    for header in ("max", "best", "factor/step"):
        add_number_column(st, header)

    def step_row(method: str, *values: str) -> None:
        add_row(st, method, *(number_cell(v) for v in values))

    step_row(
        "Euler (SGN, proved)",
        number(steps["euler"]["max"]),
        number(steps["euler"]["best"]),
        number(steps["euler"]["factor"]),
    )
    step_row(
        "RK4 (SGN, proved)",
        number(steps["rk4"]["max"]),
        _opt(steps["rk4"].get("best")),
        _opt(steps["rk4"].get("factor")),
    )
    if steps.get("rk4_spectral_guideline") is not None:
        step_row("RK4 2.5/beta (spectral guideline only)", number(steps["rk4_spectral_guideline"]), "", "")
    if steps.get("exact"):
        ex = steps["exact"]
        step_row(
            "Euler exact: contraction in M / stability",
            number(ex["euler"]["contraction"]),
            "",
            number(ex["euler"]["stability"]),
        )
        step_row(
            "RK4 exact: contraction in M / stability",
            number(ex["rk4"]["contraction"]),
            "",
            number(ex["rk4"]["stability"]),
        )

    band = Table(
        title=plain(f"timescale band (w_j / w_i with C(w, {number(doc.get('band_alpha', 0))}) > 0)"),
        title_justify="left",
    )
    band.add_column("pair", overflow="fold")
    add_number_column(band, "low")
    add_number_column(band, "high")
    # N > 2: each pair says whether the search settled both ends (the ends are proved either way)
    with_search = any("search" in b for b in doc["band"])
    if with_search:
        band.add_column("search", overflow="fold")
    for b in doc["band"]:
        row = [f"w_{names[b['j']]} / w_{names[b['i']]}", number_cell(number(b["low"])), number_cell(number(b["high"]))]
        if with_search:
            search = b.get("search")
            if search is None or search == "optimal":
                row.append("optimal" if search else "")
            else:
                row.append(plain(f"unsettled (ends proved, maybe not tight): {search}", style="yellow"))
        add_row(band, *row)
    if not doc["band"]:
        add_row(band, "(empty)", "", "", *([""] if with_search else []))

    out: list[Any] = [const, margins, st, band]
    if doc.get("band_note"):
        out.append(Text(f"band note: {doc['band_note']}", style="yellow"))
    for note in doc.get("notes") or []:
        out.append(Text(f"note: {note}", style="yellow"))
    out.append(_verdict(doc))
    return out
