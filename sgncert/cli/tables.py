"""Rich tables summarising a certificate on the terminal."""

from __future__ import annotations

from typing import Any


def _f(x: Any, digits: int = 6) -> str:
    if x is None:
        return "inf"
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, (int, float)):
        return f"{x:.{digits}g}"
    return str(x)


def certificate_tables(doc: dict[str, Any]) -> list[Any]:
    """A list of rich renderables summarising a certificate dict."""
    from rich.table import Table
    from rich.text import Text

    names = [p["name"] for p in doc["game"]["players"]]
    k, sgn, steps = doc["constants"], doc["sgn"], doc["steps"]
    prov = k["provenance"]
    label = {
        "exact": "exact",
        "sampled": f"sampled ({k['samples']} points, {k['sampler']}, seed {k['seed']})",
        "sound": "sound",
    }.get(prov, prov)

    const = Table(title=f"{doc['game']['name']}: constants [{label}]", title_justify="left")
    const.add_column("player")
    const.add_column("dim", justify="right")
    const.add_column("mu_i", justify="right")
    for j in names:
        const.add_column(f"L_i,{j}", justify="right")
    const.add_column("weight w_i", justify="right")
    for i, p in enumerate(doc["game"]["players"]):
        row = [p["name"], str(p["dim"]), _f(k["mu"][i])]
        row += ["-" if i == j else _f(k["L"][i][j]) for j in range(len(names))]
        row.append(_f(doc["metric"]["weights"][i]))
        const.add_row(*row)

    margins = Table(title="margins", title_justify="left")
    margins.add_column("quantity")
    margins.add_column("value", justify="right")
    margins.add_column("meaning")
    eu = doc["euclidean"]["margin"]
    margins.add_row("Euclidean gamma", _f(eu), "strongly monotone in ||.||_2" if eu > 0 else "Euclidean test fails")
    margins.add_row("SGN margin alpha_*(w)", _f(sgn["margin"]), "proved by exact rational LDL^T")
    margins.add_row("tau(A) = sup_w alpha_*", _f(sgn["tau"]), "attained" if sgn.get("tau_attained") else "approached")
    margins.add_row("small-gain radius", _f(sgn["gain"]) if sgn["gain"] is not None else "n/a", "< 1 certifies")
    margins.add_row("alpha_true(w)", _f(sgn["alpha_true"]), "diagnostic: true weighted margin")
    margins.add_row("beta(w)", _f(k["beta"]), "Lipschitz constant in M(w)")

    st = Table(title="step sizes (one common step; weights never enter the update)", title_justify="left")
    st.add_column("method")
    st.add_column("max", justify="right")
    st.add_column("best", justify="right")
    st.add_column("factor/step", justify="right")
    st.add_row(
        "Euler (SGN, proved)", _f(steps["euler"]["max"]), _f(steps["euler"]["best"]), _f(steps["euler"]["factor"])
    )
    st.add_row("RK4 (SGN, proved)", _f(steps["rk4"]["max"]), _f(steps["rk4"]["best"]), _f(steps["rk4"]["factor"]))
    if "rk4_spectral_guideline" in steps:
        st.add_row("RK4 2.5/beta (spectral guideline only)", _f(steps["rk4_spectral_guideline"]), "", "")
    if "exact" in steps:
        ex = steps["exact"]
        st.add_row(
            "Euler exact: contraction in M / stability",
            _f(ex["euler"]["contraction"]),
            "",
            _f(ex["euler"]["stability"]),
        )
        st.add_row(
            "RK4 exact: contraction in M / stability", _f(ex["rk4"]["contraction"]), "", _f(ex["rk4"]["stability"])
        )

    band = Table(title=f"timescale band (w_j / w_i with C(w, {doc.get('band_alpha', 0)}) > 0)", title_justify="left")
    band.add_column("pair")
    band.add_column("low", justify="right")
    band.add_column("high", justify="right")
    for b in doc["band"]:
        band.add_row(f"w_{names[b['j']]} / w_{names[b['i']]}", _f(b["low"]), _f(b["high"]))
    if not doc["band"]:
        band.add_row("(empty)", "", "")

    if doc["certified"]:
        what = "on the samples (estimated constants)" if prov == "sampled" else "on the region"
        verdict = Text(
            f"CERTIFIED {what}: contraction rate {_f(doc['rate'])} in M(w); "
            f"Euler steps h < {_f(steps['euler']['max'])}",
            style="bold green",
        )
    else:
        verdict = Text(f"NOT CERTIFIED: {doc['reason']}", style="bold red")
    out: list[Any] = [const, margins, st, band]
    for note in doc.get("notes", []):
        out.append(Text(f"note: {note}", style="yellow"))
    out.append(verdict)
    return out
