"""Reader for Gambit strategic-form files (``.nfg``), payoff and outcome versions.

Payoff version::

    NFG 1 R "title" { "P1" "P2" } { 2 2 }
    "optional comment"
    u1(1,1) u2(1,1) u1(2,1) u2(2,1) ...

one payoff tuple per pure profile, player 1's strategy varying fastest.
Outcome version: the strategy counts are replaced by strategy-name lists
``{ { "U" "D" } { "L" "R" } }``, followed by outcomes ``{ "name" p1 p2 ... }`` and one
outcome index per profile (1-based; 0 means all payoffs zero). Numbers may be integers,
decimals, exponents or rationals like ``1/2``. Returns payoff arrays indexed
``[a_1, ..., a_N]`` (payoffs are utilities: players maximise them).
"""

from __future__ import annotations

import re
from fractions import Fraction
from pathlib import Path

import numpy as np

from ..errors import SpecError

_TOKEN = re.compile(r'\s*(?:("(?:[^"\\]|\\.)*")|([{}])|([^\s{}"]+))', re.S)
MAX_PROFILES = 1_000_000


def _tokens(text: str, where: str) -> list[str]:
    out, pos = [], 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise SpecError(f"{where}: cannot parse .nfg text at character {pos + 1}")
        out.append(m.group(1) or m.group(2) or m.group(3))
        pos = m.end()
    return out


def _number(tok: str, where: str) -> float:
    try:
        return float(Fraction(tok))
    except (ValueError, ZeroDivisionError):
        raise SpecError(f"{where}: expected a number, got {tok!r}") from None


def _unquote(tok: str) -> str:
    return tok[1:-1].replace('\\"', '"')


def parse_nfg(text: str, where: str = "<nfg>") -> tuple[list[str], list[np.ndarray]]:
    """(player names, payoff arrays of shape (A_1, ..., A_N)) from .nfg text."""
    t = _tokens(text, where)
    if len(t) < 4 or t[0] != "NFG" or t[1] != "1" or t[2] not in ("R", "D"):
        raise SpecError(f"{where}: not a Gambit .nfg file (expected the header 'NFG 1 R')")
    k = 3
    if t[k].startswith('"'):
        k += 1  # title
    if t[k] != "{":
        raise SpecError(f"{where}: expected '{{' before the player names")
    k += 1
    players = []
    while k < len(t) and t[k] != "}":
        if not t[k].startswith('"'):
            raise SpecError(f"{where}: expected a quoted player name, got {t[k]!r}")
        players.append(_unquote(t[k]))
        k += 1
    k += 1
    if not players or k >= len(t) or t[k] != "{":
        raise SpecError(f"{where}: expected the strategy counts or names after the players")
    k += 1
    counts, outcome_version = [], False
    while k < len(t) and t[k] != "}":
        if t[k] == "{":  # strategy names of one player
            outcome_version = True
            k += 1
            n = 0
            while k < len(t) and t[k] != "}":
                n += 1
                k += 1
            counts.append(n)
            k += 1
        else:
            c = _number(t[k], where)
            if c != int(c) or c < 1:
                raise SpecError(f"{where}: strategy count {t[k]!r} is not a positive integer")
            counts.append(int(c))
            k += 1
    k += 1
    if len(counts) != len(players):
        raise SpecError(f"{where}: {len(players)} players but {len(counts)} strategy counts")
    n_profiles = int(np.prod(counts))
    if n_profiles > MAX_PROFILES:
        raise SpecError(f"{where}: {n_profiles} pure profiles exceed the limit {MAX_PROFILES}")
    if k < len(t) and t[k].startswith('"'):
        k += 1  # comment
    N = len(players)
    if not outcome_version:
        values = [_number(tok, where) for tok in t[k:]]
        if len(values) != n_profiles * N:
            raise SpecError(f"{where}: expected {n_profiles * N} payoffs, found {len(values)}")
        flat = np.array(values).reshape(n_profiles, N)
    else:
        outcomes: list[list[float]] = []
        if k < len(t) and t[k] == "{":
            k += 1  # the list of outcomes
        while k < len(t) and t[k] == "{":
            k += 1
            if k < len(t) and t[k].startswith('"'):
                k += 1
            pay = []
            while k < len(t) and t[k] != "}":
                pay.append(_number(t[k].rstrip(","), where))
                k += 1
            k += 1
            if len(pay) != N:
                raise SpecError(f"{where}: outcome {len(outcomes) + 1} has {len(pay)} payoffs, expected {N}")
            outcomes.append(pay)
        if k < len(t) and t[k] == "}":
            k += 1
        idx = [_number(tok, where) for tok in t[k:]]
        if len(idx) != n_profiles:
            raise SpecError(f"{where}: expected {n_profiles} outcome indices, found {len(idx)}")
        table = np.vstack([np.zeros(N), np.array(outcomes).reshape(-1, N)])
        if any(i != int(i) or not 0 <= i < len(table) for i in idx):
            raise SpecError(f"{where}: an outcome index is out of range")
        flat = table[np.array(idx, dtype=int)]
    # profile index: player 1 varies fastest -> Fortran order over (A_1, ..., A_N)
    payoffs = [flat[:, i].reshape(counts, order="F") for i in range(N)]
    return players, payoffs


def read_nfg(path: Path, where: str) -> tuple[list[str], list[np.ndarray], bytes]:
    """Read and parse an .nfg file; returns (players, payoffs, raw bytes for hashing)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise SpecError(f"{where}: cannot read {path.name}: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    players, payoffs = parse_nfg(text, f"{where} ({path.name})")
    return players, payoffs, raw
