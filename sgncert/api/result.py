"""What :func:`sgncert.certify` returns: a certification with a face.

:class:`Result` is the :class:`~sgncert.analysis.certify.Certification` (every number as an
attribute: ``certified``, ``verdict``, ``margin``, ``weights``, ``constants``, ``steps``,
``tight``, ``sound``, ...) plus what a notebook user reaches for: a one-screen ``repr``, an
HTML table in Jupyter, and the certificate itself (``to_dict``, ``to_json``, ``save``: the
same document the command line writes).
"""

from __future__ import annotations

import dataclasses
import html
from pathlib import Path
from typing import Any

from ..analysis.certify import Certification
from ..cert.build import build_certificate, dumps, write_certificate

__all__ = ["Result"]


def _num(v: Any) -> str:
    return "n/a" if v is None else f"{float(v):.6g}"


@dataclasses.dataclass(repr=False)
class Result(Certification):
    """The certification of a game (docs/theory.md): numbers as attributes, the certificate
    on demand.

    Example:
        >>> result = sgncert.certify(sgncert.load_game("games/scalar.yaml"))  # doctest: +SKIP
        >>> result                                                           # doctest: +SKIP
        Result(scalar-sgn: CERTIFIED by sgn, euclidean, weighted, lmi; best rate 0.292893 (sgn) ...)
        >>> result.save("scalar.cert.json")                                  # doctest: +SKIP
    """

    @classmethod
    def of(cls, c: Certification) -> Result:
        """The result of a certification."""
        return cls(**{f.name: getattr(c, f.name) for f in dataclasses.fields(Certification)})

    # -- the certificate
    def to_dict(self, *, created: str | None = None) -> dict[str, Any]:
        """The certificate document (what ``sgncert certify`` writes), as plain JSON values."""
        return build_certificate(self, created=created)

    def to_json(self, *, created: str | None = None) -> str:
        """The certificate as canonical JSON text (sorted keys, indent 2)."""
        return dumps(self.to_dict(created=created))

    def save(self, path: str | Path, *, created: str | None = None) -> Path:
        """Write the certificate to ``path`` atomically; returns the path."""
        write_certificate(self, path, created=created)
        return Path(path)

    # -- reading it
    def headline(self) -> str:
        """One line: the verdict, the best rate and its proof."""
        v = self.verdict
        where = {"exact": "exact", "sampled": "on the samples", "sound": "sound"}.get(self.provenance, self.provenance)
        if v is None or not self.certified:
            return f"{self.game.name}: NOT CERTIFIED ({where}): {self.reason}"
        holding = ", ".join(p.method for p in v.proofs if p.holds)
        best = v.best
        rate = "no flow rate" if best is None or best.rate is None else f"best rate {_num(best.rate)} ({best.method})"
        return f"{self.game.name}: CERTIFIED ({where}) by {holding}; {rate}"

    def best_steps(self) -> dict[str, tuple[str, float]]:
        """Per update rule, (proof, largest proved step h)."""
        if self.verdict is None:
            return {}
        return {rule: (proof, step.h) for rule, (proof, step) in self.verdict.best_steps().items()}

    def __repr__(self) -> str:
        steps = ", ".join(f"{rule} h <= {_num(h)} ({proof})" for rule, (proof, h) in self.best_steps().items())
        mu = ", ".join(_num(m) for m in self.constants.mu)
        return (
            f"Result({self.headline()}; {steps or 'no step proved'}; mu = [{mu}], gamma = {_num(self.constants.gamma)})"
        )

    def _repr_html_(self) -> str:
        """Jupyter: the verdict, every proof and the constants as HTML tables."""
        e = html.escape
        rows = []
        for p in self.verdict.proofs if self.verdict is not None else ():
            steps = ", ".join(f"{rule} {_num(s.h)}" for rule, s in p.steps.items() if s is not None) or "-"
            why = "" if p.holds else e(p.reason or "")
            rows.append(
                f"<tr><td>{e(p.method)}</td><td>{'yes' if p.holds else 'no'}</td><td>{_num(p.rate)}</td>"
                f"<td>{e(steps)}</td><td>{e(p.provenance)}</td><td>{why}</td></tr>"
            )
        names = [pl.name for pl in self.game.players]
        consts = "".join(
            f"<tr><td>{e(n)}</td><td>{_num(m)}</td><td>{_num(w)}</td></tr>"
            for n, m, w in zip(names, self.constants.mu, self.weights)
        )
        color = "green" if self.certified else "red"
        return (
            f"<div><p style='color:{color}'><b>{e(self.headline())}</b></p>"
            "<table><tr><th>proof</th><th>holds</th><th>rate</th><th>largest steps</th><th>provenance</th>"
            f"<th>why not</th></tr>{''.join(rows)}</table>"
            "<table><tr><th>player</th><th>mu_i</th><th>SGN weight</th></tr>"
            f"{consts}</table><p>gamma = {_num(self.constants.gamma)}, SGN margin = {_num(self.margin)}</p></div>"
        )
