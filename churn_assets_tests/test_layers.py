"""The house's rules: imports point down (import-linter's contracts in pyproject.toml), no module reads the
environment when imported, and rooms stay small enough to find things in."""

from __future__ import annotations

import ast
import pkgutil
import shutil
import subprocess
import sys
from pathlib import Path

import churn_assets
from churn_assets_tests.helpers import ROOT, clean_env

PACKAGE = ROOT / "churn_assets"


def lint_imports(root: Path) -> subprocess.CompletedProcess:
    command = [str(Path(sys.executable).parent / "lint-imports"), "--no-cache"]
    return subprocess.run(command, cwd=root, capture_output=True, text=True, env=clean_env(), timeout=300)


def test_every_import_contract_is_kept():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 4 kept, 0 broken." in result.stdout


def test_an_import_that_points_up_breaks_the_contract(tmp_path):
    copy = tmp_path / "repo"
    shutil.copytree(PACKAGE, copy / "churn_assets", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", copy)
    days = copy / "churn_assets" / "core" / "days.py"
    days.write_text(days.read_text() + "\nfrom churn_assets.cli import plan  # noqa\n")  # pure logic -> the CLI
    result = subprocess.run(
        [str(Path(sys.executable).parent / "lint-imports"), "--no-cache"],
        cwd=copy, capture_output=True, text=True, env=clean_env(PYTHONPATH=str(copy)), timeout=300,
    )  # fmt: skip
    assert result.returncode == 1
    assert "Contracts: 2 kept, 2 broken." in result.stdout
    assert "churn_assets.core.days -> churn_assets.cli.plan" in result.stdout


def test_no_module_reads_the_environment_when_imported():
    """Every module imports with a setting that cannot be parsed; only building the definitions reads it."""
    names = [m.name for m in pkgutil.walk_packages(churn_assets.__path__, "churn_assets.") if "__main__" not in m.name]
    script = f"import importlib\nfor name in {names!r}:\n    importlib.import_module(name)\nprint(len({names!r}))"
    imported = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=clean_env(CHURN_DAYS="many"), timeout=300
    )
    assert imported.returncode == 0, imported.stderr
    assert int(imported.stdout) == len(names) > 70
    built = subprocess.run(
        [sys.executable, "-c", "from churn_assets.definitions import defs; defs()"],
        capture_output=True, text=True, env=clean_env(CHURN_DAYS="many"), timeout=300,
    )  # fmt: skip
    assert built.returncode == 1 and "CHURN_DAYS='many' is not a whole number" in built.stderr


def modules_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob("*.py") if p.name not in ("__init__.py", "__main__.py"))


def test_rooms_are_small_and_say_what_lives_in_them():
    assert modules_in(PACKAGE) == ["definitions.py", "settings.py"]
    for init in sorted(PACKAGE.rglob("__init__.py")):
        folder = init.parent
        assert len(modules_in(folder)) <= 12, folder
        assert ast.get_docstring(ast.parse(init.read_text())), f"{init} says nothing about its folder"
