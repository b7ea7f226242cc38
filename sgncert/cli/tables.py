"""Rich tables summarising a certificate on the terminal.

Numbers are printed in full (the shortest text that reads back as the same float) and never
truncated: numeric columns do not wrap, and a number that still cannot fit a very narrow
terminal is folded onto the next line, never cut or ellipsized.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

from ..cert.algebra import constrained


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
    elif isinstance(spec.get("openspiel"), dict):
        states = spec["openspiel"].get("states")
    elif "normal_form" in spec:
        states = 1
    if isinstance(states, int) and not isinstance(states, bool) and states > 0:
        return [p["dim"] - states for p in players]
    return [None] * len(players)


RULE_LABEL = {
    "euler": "Euler",
    "npg": "natural policy gradient",
    "rk4": "RK4",
}
VECTOR_HEAD = 4  # entries of a long vector shown in one line (the JSON has them all)


def vector(v: list[Any] | None, head: int = VECTOR_HEAD) -> str:
    """A vector in one line: every entry when short, else the first ``head`` and the count."""
    if v is None:
        return "n/a"
    if len(v) <= head + 1:
        return "[" + ", ".join(number(x) for x in v) + "]"
    return "[" + ", ".join(number(x) for x in v[:head]) + f", ... ({len(v)} entries)]"


def _metric(weights: list[Any] | None, fisher: bool = False) -> str:
    """A metric in words: the identity (the Fisher metric G in the Fisher geometry) or M(w)."""
    if weights is None:
        return "block metric (tight section)"
    if all(float(w) == 1.0 for w in weights):
        return "M = G (Fisher, w = 1)" if fisher else "M = I"
    return f"M(w), w = {vector(weights)}"


def _fisher(doc: dict[str, Any]) -> bool:
    return (doc.get("geometry") or {}).get("kind") == "fisher"


def _where(doc: dict[str, Any]) -> str:
    prov = doc["constants"]["provenance"]
    if prov == "sampled":
        return "on the samples (estimated constants)"
    return "over the whole region (sound constants, proved)" if prov == "sound" else "on the region"


def _proof_provenance(doc: dict[str, Any], method: str | None) -> str:
    """A proof's provenance (its own, else the constants')."""
    v = doc.get("verdict") or {}
    p = next((p for p in v.get("proofs") or [] if p["method"] == method), None)
    return str((p or {}).get("provenance") or doc["constants"]["provenance"])


def _holding(doc: dict[str, Any]) -> str:
    """Which proofs hold, and where: sound certificates separate the proofs over the region
    from those that rest on samples (the tight LMI of a non-affine game)."""
    v = doc["verdict"]
    holding = [p for p in v["proofs"] if p["holds"]]
    if doc["constants"]["provenance"] != "sound":
        return f"{_where(doc)} by {', '.join(p['method'] for p in holding)}"
    proved = [p["method"] for p in holding if p["provenance"] == "sound"]
    sampled = [p["method"] for p in holding if p["provenance"] != "sound"]
    parts = []
    if proved:
        parts.append(f"proved over the whole region by {', '.join(proved)}")
    if sampled:
        parts.append(f"on the samples by {', '.join(sampled)}")
    return "; ".join(parts)


def headline(doc: dict[str, Any]) -> Any:
    """The first line: the verdict, the best proof and its rate (docs/theory.md §12)."""
    from rich.text import Text

    v = doc.get("verdict")
    if not doc["certified"]:
        return Text("NOT CERTIFIED: no proof holds (reasons below)", style="bold red")
    if not isinstance(v, dict) or v.get("best") is None:  # an older certificate: SGN only
        return Text(f"CERTIFIED {_where(doc)} by sgn: rate {number(doc['rate'])} in M(w)", style="bold green")
    best = v["best"]
    rate = (
        f"rate {number(best['rate'])} in {_metric(best.get('weights'), _fisher(doc))}"
        if best.get("rate") is not None
        else "no flow rate proved (steps only)"
    )
    return Text(f"CERTIFIED {_holding(doc)}; best proof {best['proof']}: {rate}", style="bold green")


def _bound(v: Any) -> str:
    """A set's bound or centre: one number when every entry is the same, else the vector."""
    if isinstance(v, list):
        return number(v[0]) if len(set(map(str, v))) == 1 else vector(v)
    return number(v)


def _set_text(s: dict[str, Any]) -> str:
    ((kind, v),) = s.items()
    if kind == "box":
        return f"box [{_bound(v.get('low', '-inf'))}, {_bound(v.get('high', 'inf'))}]"
    if kind == "ball":
        return f"ball of radius {number(v['radius'])} around {_bound(v.get('center', 0))}"
    if kind == "simplex":
        return f"simplex (x >= 0, sum x = {number(v.get('total', 1))})"
    return "x >= 0" if kind == "nonnegative" else kind


def constraints_line(doc: dict[str, Any]) -> Any:
    """The players' sets and what is certified under them (docs/theory.md §13)."""
    from rich.text import Text

    players = doc["game"]["spec"]["players"]
    sets = "; ".join(f"{p['name']} in {_set_text(p['set'])}" for p in players if "set" in p)
    return Text(
        f"constraint sets: {sets}. Certified update: projected Euler x+ = P_X(x - h F(x)); "
        "RK4 and the block metric family are unconstrained only (nothing claimed for them here)"
    )


def best_steps_table(doc: dict[str, Any]) -> Any:
    """Per update rule, the largest proved step, the proof it comes from and its metric."""
    from rich.table import Table

    v = doc["verdict"]
    fisher = (doc.get("geometry") or {}).get("kind") == "fisher"
    sampled = ", on the samples" if doc["constants"]["provenance"] == "sampled" else ""
    t = Table(
        title=f"largest proved steps (one common step h; weights never enter the update{sampled})", title_justify="left"
    )
    t.add_column("update rule", overflow="fold")
    add_number_column(t, "h")
    t.add_column("proof", no_wrap=True)
    t.add_column("proved for", overflow="fold")
    t.add_column("metric", overflow="fold")
    best = v.get("best") or {}
    for rule in v["update_rules"]:
        s = (best.get("steps") or {}).get(rule)
        label = RULE_LABEL.get(rule, rule) + (" (natural-gradient flow)" if fisher and rule == "rk4" else "")
        if constrained(doc) and rule == "euler":
            label = "projected Euler"
        if s is None:
            add_row(t, label, number_cell("none"), "", "", "")
            continue
        if not s["attained"]:
            proved = "every 0 < step < h"
        else:
            proved = "h (and every smaller step)" if rule != "rk4" else "h itself"
            if s.get("factor") is not None:
                proved += f", factor {number(s['factor'])}"
        proof = s["proof"]
        if doc["constants"]["provenance"] == "sound" and _proof_provenance(doc, proof) != "sound":
            proof += " (on the samples)"
        add_row(t, label, number_cell(number(s["h"])), proof, proved, _metric(s.get("weights"), _fisher(doc)))
    return t


def proofs_table(doc: dict[str, Any]) -> Any:
    """Every proof tried: holds, rate, steps; then one line per failing proof saying why."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    v = doc["verdict"]
    rules = v["update_rules"]
    provs = {p["provenance"] for p in v["proofs"]}
    where = {"exact": "proved on the region", "sampled": "on the samples", "sound": "proved over the whole region"}
    label = where.get(provs.pop(), "") if len(provs) == 1 else None
    t = Table(title=plain(f"proofs tried ({label})" if label else "proofs tried"), title_justify="left")
    t.add_column("proof", no_wrap=True)
    t.add_column("holds", no_wrap=True)
    if label is None:
        t.add_column("constants", no_wrap=True)
    add_number_column(t, "rate")
    for rule in rules:
        add_number_column(t, f"{rule} h")
    for p in v["proofs"]:
        steps = p["steps"]
        row = [p["method"], "yes" if p["holds"] else "no"]
        if label is None:
            row.append({"sound": "proved over R", "sampled": "on the samples"}.get(p["provenance"], p["provenance"]))
        row.append(number_cell(_opt(p.get("rate"))))
        row += [number_cell(_opt((steps.get(r) or {}).get("h"))) for r in rules]
        add_row(t, *row)
    why = [
        Text(f"{p['method']} does not hold: {p['reason']}") for p in v["proofs"] if not p["holds"] and p.get("reason")
    ]
    return Group(t, *why)


def equilibrium_line(doc: dict[str, Any]) -> Any:
    """Where the equilibrium is: the centre (first entries) and the proved distance to x*."""
    from rich.text import Text

    c = doc["region"]["center"]
    eq = doc.get("equilibrium") or {}
    solved = eq.get("solved")
    name = "equilibrium x* ~ c" if solved else "centre c"
    text = f"{name} = {vector(c, 6)}"
    if eq.get("distance_bound_M") is not None:
        proof = eq.get("proof") or "sgn"
        sampled = " (on the samples)" if doc["constants"]["provenance"] == "sampled" else ""
        proved = "proved" if eq.get("in_region") is not False else "bound, valid only if x* lies in the region,"
        text += (
            f"; {proved}{sampled} ||c - x*||_M <= {number(eq['distance_bound_M'])} "
            f"(rate and metric of {proof}: {_metric(eq.get('weights') or doc['metric']['weights'], _fisher(doc))})"
        )
        if eq.get("in_region"):
            text += "; x* lies in the region"
    elif eq.get("residual_M") is not None:
        why = "no holding proof has a rate in a scalar metric" if doc["certified"] else "nothing certified"
        text += f"; residual {number(eq['residual_M'])}, no distance bound ({why})"
    return Text(text)


def _rule_label(doc: dict[str, Any], rule: str) -> str:
    return "projected Euler" if constrained(doc) and rule == "euler" else RULE_LABEL.get(rule, rule)


def _steps_text(doc: dict[str, Any], steps: dict[str, Any], rules: list[str]) -> str:
    """'Euler steps up to h = a (lmi), RK4 ...' for the steps given (best or one proof's)."""
    parts = []
    for rule in rules:
        s = steps.get(rule)
        if s is None:
            continue
        up = "up to" if s["attained"] else "below"
        src = f" ({s['proof']})" if s.get("proof") else ""
        parts.append(f"{_rule_label(doc, rule)} steps {up} h = {number(s['h'])}{src}")
    return ", ".join(parts) or "no step proved"


def _verdict(doc: dict[str, Any]) -> Any:
    """The closing line: what is certified and, where the equilibrium may lie outside the
    region, what is not (docs/theory.md §10, §12). The invariant ball is claimed for the
    dynamics proved in its own metric only: the flow and the equilibrium proof's steps."""
    from rich.text import Text

    if not doc["certified"]:
        return Text(f"NOT CERTIFIED: {doc['reason']}", style="bold red")
    what = _where(doc)
    v = doc.get("verdict")
    if doc["constants"]["provenance"] == "sound" and isinstance(v, dict):
        best = v.get("best") or {}
        used = {best.get("proof")} | {s.get("proof") for s in (best.get("steps") or {}).values() if s}
        if any(_proof_provenance(doc, m) != "sound" for m in used if m):
            what = "over the region (sound constants; steps of the lmi proof on the samples)"
    eq = doc.get("equilibrium") or {}
    fisher = _fisher(doc)
    own_steps = "Euler steps"  # the steps proved in the ball's metric
    if isinstance(v, dict) and v.get("best") is not None:
        best = v["best"]
        rate = _opt(best.get("rate"))
        metric = _metric(best.get("weights"), fisher)
        steps = "largest proved " + _steps_text(doc, best["steps"], v["update_rules"])
        proof = next((p for p in v["proofs"] if p["method"] == eq.get("proof")), None)
        own_steps = "" if proof is None else _steps_text(doc, proof["steps"], v["update_rules"])
        ball_metric = _metric(eq.get("weights"), fisher) if eq.get("weights") else metric
        ball_metric += f" of {eq['proof']}" if eq.get("proof") else ""
    else:  # an older certificate: SGN only
        rate, metric = number(doc["rate"]), "M(w)"
        steps = f"Euler steps h < {number(doc['steps']['euler']['max'])}"
        own_steps, ball_metric = steps, "M(w)"
    ball = doc.get("invariant_ball")
    if eq.get("in_region") is False:
        # strong monotonicity on R is proved, but the a-posteriori bound does not place the
        # equilibrium in R: no invariant ball, so no claim that play reaches x*
        weights = eq.get("weights") or doc["metric"]["weights"]
        radius_M = doc["region"]["radius"] * math.sqrt(min(weights))
        return Text(
            f"CERTIFIED {what}: F strongly monotone in {metric} with rate {rate} (trajectories that stay in the "
            f"region approach each other at this rate; at most one equilibrium in the region); "
            f"{steps}. NOT certified: convergence to the equilibrium, which may lie outside "
            f"the region (distance bound ||c - x*||_M <= {number(eq.get('distance_bound_M'))} in {ball_metric} "
            f"vs radius {number(radius_M)} of the M-ball around c inside the region; no invariant ball)",
            style="bold yellow",
        )
    text = (
        f"CERTIFIED {what}: contraction rate {rate} in {metric}; {steps}"
        if rate != "n/a"
        else f"CERTIFIED {what}: no flow rate proved; {steps}"
    )
    if eq.get("in_region") and isinstance(ball, dict) and ball.get("radius_M") is not None:
        steps_own = own_steps if own_steps and own_steps != "no step proved" else ""
        if constrained(doc):  # the certified dynamics is projected Euler: the flow is not projected
            dynamics = steps_own or "nothing"
        else:
            dynamics = "the flow" + (f" and {steps_own}" if steps_own else "")
        text += (
            f". The equilibrium lies in the region (||c - x*||_M <= {number(eq.get('distance_bound_M'))} "
            f"in {ball_metric}); {dynamics} started in the invariant M-ball of radius {number(ball['radius_M'])} "
            f"around it" + (" (intersected with X)" if constrained(doc) else "") + " stay in the region and converge "
            "to it (steps proved in another metric need not stay in this ball)"
        )
    return Text(text, style="bold green")


def sound_table(doc: dict[str, Any]) -> Any:
    """Sound constants: each proved bound, the sampled estimate of the same run and how far
    sampling alone was from the proof; the partition and what ended the search."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    names = [p["name"] for p in doc["game"]["players"]]
    k, so = doc["constants"], doc["constants"]["sound"]
    t = Table(
        title="sound bounds (proved over the whole region) and the sampled estimates of the same run",
        title_justify="left",
    )
    t.add_column("constant", overflow="fold")
    add_number_column(t, "proved bound")
    add_number_column(t, "sampled estimate")
    add_number_column(t, "relative gap")
    n = len(names)
    rows = [(f"mu_{names[i]} >=", k["mu"][i], so["sampled"]["mu"][i], so["gaps"]["mu"][i]) for i in range(n)]
    rows += [
        (f"L_{names[i]},{names[j]} <=", k["L"][i][j], so["sampled"]["L"][i][j], so["gaps"]["L"][i][j])
        for i in range(n)
        for j in range(n)
        if i != j
    ]
    rows += [
        ("gamma >=", doc["euclidean"]["margin"], so["sampled"]["gamma"], so["gaps"]["gamma"]),
        ("beta(w) <=", k["beta"], so["sampled"]["beta"], so["gaps"]["beta"]),
        ("alpha_true(w) >=", doc["sgn"].get("alpha_true"), so["sampled"]["alpha_true"], so["gaps"]["alpha_true"]),
    ]
    for name, bound, est, gap in rows:
        add_row(t, name, number_cell(_opt(bound)), number_cell(number(est)), number_cell(number(gap)))
    leaves = str(so["partition"]).split().count(".")
    state = (
        f"every bound within {number(so['tolerance'])} of its best point value"
        if so["complete"]
        else f"stopped by the {so['stopped']} budget at a relative gap of {number(so['reached'])} "
        f"(asked: {number(so['tolerance'])}); the bounds are proved, only looser"
    )
    line = Text(
        f"partition: {leaves} leaf boxes; {so['boxes']} boxes enclosed of a budget of "
        f"{so.get('budget_boxes', 'n/a')} (each split encloses two); {state}"
    )
    return Group(t, line)


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

    n = len(names)
    reduced = _reduced_dims(doc) if fisher else []
    dims = [
        f"{'?' if reduced[i] is None else reduced[i]} ({p['dim']})" if fisher else str(p["dim"])
        for i, p in enumerate(doc["game"]["players"])
    ]
    # one L column per player only while the table fits 100 columns; else couplings get their own table
    cells = [max(len(number(x)) for x in k["mu"]), max(len(number(x)) for row in k["L"] for x in row)]
    width = max(map(len, names)) + max(map(len, dims + ["dim (logits)"])) + cells[0] + n * cells[1] + 16 + 3 * (n + 4)
    wide = n > 2 or width > 100
    const = Table(title=plain(f"{doc['game']['name']}: constants [{label}]"), title_justify="left")
    const.add_column("player", overflow="fold")
    add_number_column(const, "dim (logits)" if fisher else "dim")
    add_number_column(const, "mu_i")
    if not wide:
        for j in names:
            add_number_column(const, f"L_i,{j}")
    add_number_column(const, "SGN weight w_i")
    for i, p in enumerate(doc["game"]["players"]):
        row = [p["name"], number_cell(dims[i]), number_cell(number(k["mu"][i]))]
        if not wide:
            row += [number_cell("-" if i == j else number(k["L"][i][j])) for j in range(n)]
        row.append(number_cell(number(doc["metric"]["weights"][i])))
        add_row(const, *row)
    couplings = None
    if wide:
        couplings = Table(title="couplings L_ij = sup ||J_ij||_2 (the zero ones omitted)", title_justify="left")
        couplings.add_column("i (affected)", overflow="fold")
        couplings.add_column("j (affecting)", overflow="fold")
        add_number_column(couplings, "L_ij")
        nonzero = [(i, j) for i in range(n) for j in range(n) if i != j and k["L"][i][j] != 0]
        for i, j in nonzero:
            add_row(couplings, names[i], names[j], number_cell(number(k["L"][i][j])))
        if not nonzero:
            add_row(couplings, "(all zero)", "", "")

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
        ("attained" if sgn.get("tau_attained") else "approached") + " (floating point; the margin decides)",
    )
    add_row(
        margins,
        "small-gain radius",
        number_cell(_opt(sgn.get("gain"))),
        "SGN needs < 1 (floating point; the margin decides)",
    )
    add_row(margins, "alpha_true(w)", number_cell(_opt(sgn.get("alpha_true"))), "diagnostic: true weighted margin")
    add_row(margins, "beta(w)", number_cell(number(k["beta"])), "Lipschitz constant in M(w)")

    st = Table(title="SGN step sizes (in M(w) with the SGN weights)", title_justify="left")
    st.add_column("method", overflow="fold")
    for header in ("max", "best", "factor/step"):
        add_number_column(st, header)

    def step_row(method: str, *values: str) -> None:
        add_row(st, method, *(number_cell(v) for v in values))

    first = "natural policy gradient" if fisher else ("projected Euler" if constrained(doc) else "Euler")
    step_row(
        f"{first} (SGN, proved)",
        number(steps["euler"]["max"]),
        number(steps["euler"]["best"]),
        number(steps["euler"]["factor"]),
    )
    if constrained(doc):
        step_row("RK4: unconstrained only (no step claimed)", "", "", "")
    else:
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
        for rule, label in (("euler", "Euler"), ("rk4", "RK4")):
            if ex.get(rule):  # two limits, each in the max column
                step_row(f"{label} exact: contraction in M(w) below", number(ex[rule]["contraction"]), "", "")
                step_row(f"{label} exact: stable (spectral) below", number(ex[rule]["stability"]), "", "")

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

    out: list[Any] = [headline(doc)]
    if constrained(doc):
        out.append(constraints_line(doc))
    if isinstance(doc.get("verdict"), dict):
        if doc["certified"]:
            out.append(best_steps_table(doc))
        out.append(proofs_table(doc))
    out.append(equilibrium_line(doc))
    out += [const] + ([couplings] if couplings is not None else []) + [margins]
    if isinstance(k.get("sound"), dict):
        out.append(sound_table(doc))
    out += [st, band]
    if doc.get("band_note"):
        out.append(Text(f"band note: {doc['band_note']}", style="yellow"))
    for note in doc.get("notes") or []:
        out.append(Text(f"note: {note}", style="yellow"))
    out.append(_verdict(doc))
    return out
