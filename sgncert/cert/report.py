"""The report of ``sgncert verify``: one :class:`Check` per claim and a verdict.

Verdicts: ``valid`` (exit 0, every claim holds and the certificate certifies the game),
``not-certified`` (exit 4, every claim holds but no proof holds: an honest ``certified:
false``), ``invalid`` (exit 1, some claim is false; every failed claim is listed by name)
and ``undecidable`` (exit 3, some claim could not be decided).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from ..errors import EXIT_NEGATIVE, EXIT_NOT_CERTIFIED, EXIT_NUMERICAL, EXIT_OK
from ..util.jsondoc import jsonable

OK, FAILED, WARNING, UNDECIDABLE = "ok", "failed", "warning", "undecidable"


def number_text(x: Any) -> str:
    """A number as the report's messages write it: 12 significant digits, ``inf`` for None
    (an unbounded value), rationals as floats."""
    if x is None:
        return "inf"
    if isinstance(x, Fraction):
        x = float(x)
    return f"{x:.12g}" if isinstance(x, float) else str(x)


@dataclass
class Check:
    """One verified claim: ``name`` (e.g. ``constants.L[0][1]``), status and message."""

    name: str
    status: str  # ok | failed | warning | undecidable
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "status": self.status, "message": self.message}


@dataclass
class VerifyReport:
    """All checks of one certificate; ``verdict`` and ``exit_code`` summarise them."""

    checks: list[Check] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    simulation: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    certifies: bool = True  # the certificate states certified: true

    def add(self, name: str, status: str, message: str) -> Check:
        check = Check(name, status, message)
        self.checks.append(check)
        return check

    def ok(self, name: str, message: str) -> Check:
        return self.add(name, OK, message)

    def fail(self, name: str, message: str) -> Check:
        return self.add(name, FAILED, message)

    def undecidable(self, name: str, message: str) -> Check:
        return self.add(name, UNDECIDABLE, message)

    def warn(self, name: str, message: str) -> Check:
        return self.add(name, WARNING, message)

    def _with(self, status: str) -> list[Check]:
        return [c for c in self.checks if c.status == status]

    @property
    def failed(self) -> list[Check]:
        return self._with(FAILED)

    @property
    def warnings(self) -> list[Check]:
        return self._with(WARNING)

    @property
    def undecided(self) -> list[Check]:
        return self._with(UNDECIDABLE)

    @property
    def verdict(self) -> str:
        if self.failed:
            return "invalid"
        if self.undecided:
            return "undecidable"
        return "valid" if self.certifies else "not-certified"

    @property
    def exit_code(self) -> int:
        return {
            "valid": EXIT_OK,
            "invalid": EXIT_NEGATIVE,
            "undecidable": EXIT_NUMERICAL,
            "not-certified": EXIT_NOT_CERTIFIED,
        }[self.verdict]

    @staticmethod
    def names(checks: list[Check]) -> list[str]:
        """The distinct claim names of ``checks``, in order (a claim may have several checks)."""
        return list(dict.fromkeys(c.name for c in checks))

    def summary(self) -> str:
        if self.verdict == "invalid":
            names = self.names(self.failed)
            return f"INVALID: {len(names)} claim(s) failed: {', '.join(names)}"
        if self.verdict == "undecidable":
            names = self.names(self.undecided)
            return f"UNDECIDABLE: could not decide {len(names)} claim(s): {', '.join(names)}"
        extra = f" ({len(self.warnings)} warning(s))" if self.warnings else ""
        passed = len(self.checks) - len(self.warnings)
        if self.verdict == "not-certified":
            return f"VALID, NOT CERTIFIED: all {passed} checks passed{extra}; the certificate certifies nothing"
        return f"VALID: all {passed} checks passed{extra}"

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types; non-finite floats (a diverged simulation) become null."""
        counts = {s: len(self._with(s)) for s in (OK, FAILED, WARNING, UNDECIDABLE)}
        return {
            "kind": "sgncert.verify-report",
            "schema_version": "1",
            **self.info,
            "verdict": self.verdict,
            "exit_code": self.exit_code,
            "summary": self.summary(),
            "counts": counts,
            "checks": [c.to_dict() for c in self.checks],
            "notes": list(self.notes),
            "simulation": jsonable(self.simulation, nan="null"),
            "timings": {k: round(v, 4) for k, v in self.timings.items()},
        }
