"""The documented Python API cannot rot: every Python code block of the README runs, in a
fresh folder with the bundled games at hand, and the docstring examples of the API run
as doctests."""

from __future__ import annotations

import doctest
import os
import re

import pytest

from conftest import ROOT

BLOCKS = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(encoding="utf-8"), flags=re.S)


def test_the_readme_has_python_blocks():
    assert len(BLOCKS) >= 2
    assert any("make_game" in b and "verify" in b and "plot_band" in b and ".save(" in b for b in BLOCKS)


@pytest.mark.parametrize("k", range(len(BLOCKS)))
def test_readme_python_block_runs(k, tmp_path, monkeypatch, capsys):
    import matplotlib

    matplotlib.use("Agg")
    (tmp_path / "games").symlink_to(ROOT / "games")
    monkeypatch.chdir(tmp_path)
    exec(compile(BLOCKS[k], f"README.md python block {k}", "exec"), {"__name__": f"readme_{k}"})
    out = capsys.readouterr().out
    if "make_game" in BLOCKS[k]:  # what the comments promise
        assert "CERTIFIED" in out and "valid" in out
        assert (tmp_path / "duel.cert.json").is_file() and (tmp_path / "band.png").stat().st_size > 0
    os.chdir(ROOT)


@pytest.mark.parametrize("module", ["sgncert.api.build", "sgncert.api.run"])
def test_api_docstring_examples_run(module):
    import importlib

    import sgncert

    mod = importlib.import_module(module)
    globs = {"make_game": sgncert.make_game, "certify": sgncert.certify, "sgncert": sgncert}
    result = doctest.testmod(mod, globs=globs, optionflags=doctest.ELLIPSIS, verbose=False)
    assert result.attempted > 0 and result.failed == 0, result
