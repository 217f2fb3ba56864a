"""A built wheel works on its own: installed in a fresh virtualenv outside the checkout, the README's
`relance init --examples`, import, run, letters check and verify, and `relance demo` find the shipped
workflows, letters and examples and write real letters."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.support import REPO

pytestmark = pytest.mark.slow


def run(*args: str | Path, cwd: Path, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items()
           if key not in ("PYTHONPATH", "RELANCE_DATABASE_URL", "RELANCE_WORKSPACE", "VIRTUAL_ENV")}
    done = subprocess.run([str(arg) for arg in args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)
    assert done.returncode == 0, f"{args}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


def test_the_wheel_installs_and_runs_the_demo_outside_the_checkout(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", dist, REPO, cwd=tmp_path)
    [wheel] = dist.glob("relance-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for shipped in ("engine/shipped/workflows/fr-b2b.yaml", "engine/shipped/letters/fr/relance_1.docx",
                    "engine/shipped/examples/invoices.csv", "engine/store/migrations/env.py",
                    "engine/core/data/rates.csv", "engine/py.typed", "engine/shipped_history.txt"):
        assert shipped in names, shipped

    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", venv, cwd=tmp_path)
    run(venv / "bin" / "pip", "install", "-q", wheel, cwd=tmp_path)
    where = run(venv / "bin" / "python", "-c", "import engine; print(engine.__file__)", cwd=tmp_path).stdout
    assert str(venv) in where and str(REPO) not in where

    # The README's "five minutes", from the wheel alone: the example data comes with the workspace.
    run(venv / "bin" / "relance", "init", "ws", "--examples", cwd=tmp_path)
    workspace = tmp_path / "ws"
    assert (workspace / "workflows" / "fr-b2b.yaml").is_file()
    assert (workspace / "letters" / "fr" / "mise_en_demeure.docx").is_file()
    run(venv / "bin" / "relance", "import", "examples/debtors.csv", "examples/invoices.csv", "examples/payments.csv",
        cwd=workspace)
    ran = run(venv / "bin" / "relance", "run", "--as-of", "2026-07-01", cwd=workspace).stdout
    assert "took 24 step(s), 24 letter(s)" in ran, ran
    run(venv / "bin" / "relance", "letters", "check", cwd=workspace)
    run(venv / "bin" / "relance", "verify", cwd=workspace)

    run(venv / "bin" / "relance", "demo", "--dir", "demo", cwd=tmp_path)
    letters = list((tmp_path / "demo" / "output").rglob("*.docx"))
    assert len(letters) > 50
    assert all(zipfile.is_zipfile(letter) for letter in letters)


def test_the_wheel_carries_the_licence_and_the_build_warns_of_nothing_deprecated(tmp_path: Path) -> None:
    """The licence the project declares (pyproject's SPDX `license`) is in the wheel with its text, and the
    build says nothing deprecated (a `license` TOML table was, removed by setuptools after 2027-02-18)."""
    import shutil

    source = tmp_path / "src"  # a copy: the build's build/ and egg-info stay out of the checkout
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(".git", "build", "*.egg-info", "__pycache__",
                                                                "relance-demo", ".hypothesis", "bench", "tests"))
    dist = tmp_path / "dist"
    built = run(sys.executable, "-m", "pip", "wheel", "--no-deps", "-v", "-w", dist, source, cwd=tmp_path)
    assert "Deprecat" not in built.stdout + built.stderr, (built.stdout + built.stderr)[-3000:]
    [wheel] = dist.glob("relance-*.whl")
    archive = zipfile.ZipFile(wheel)
    [licence] = [name for name in archive.namelist() if name.endswith(".dist-info/licenses/LICENSE")]
    assert archive.read(licence) == (REPO / "LICENSE").read_bytes()
    assert b"Apache License" in archive.read(licence)
    [metadata] = [name for name in archive.namelist() if name.endswith(".dist-info/METADATA")]
    assert "License-Expression: Apache-2.0" in archive.read(metadata).decode()
