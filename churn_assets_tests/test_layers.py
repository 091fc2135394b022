"""The house's rules: imports point down (import-linter's contracts in pyproject.toml), no module reads the
environment when imported, and rooms stay small enough to find things in."""

from __future__ import annotations

import ast
import io
import pkgutil
import re
import shutil
import subprocess
import sys
import tokenize
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


TIMING = re.compile(r"\b\d+(?:[.,]\d+)?\s?(?:ms|s|seconds|minutes)\b(?![-\w])")


def timings_in_prose(source: str) -> list[tuple[int, str]]:
    """(line, text) of each comment and docstring of ``source`` that quotes a duration: figures go stale in code,
    so they live in docs/performance.md, which the code may point to."""
    found = [(t.start[0], t.string) for t in tokenize.generate_tokens(io.StringIO(source).readline)
             if t.type == tokenize.COMMENT and TIMING.search(t.string)]  # fmt: skip
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            doc = ast.get_docstring(node, clean=False)
            if doc and TIMING.search(doc):
                found.append((node.body[0].lineno, TIMING.search(doc).group()))
    return sorted(found)


def test_timings_live_in_the_performance_page_not_in_the_code():
    crafted = (
        '"""A module."""\n'
        "def f(x):\n"
        '    """Reads the file once (it took 1.5 s a day before); every 10 s window stays."""\n'
        "    return x  # 17 ms a row\n"
        'LABEL = "timeout after 5 s"  # a value, not prose: f-strings and messages may say seconds\n'
    )
    assert timings_in_prose(crafted) == [(3, "1.5 s"), (4, "# 17 ms a row")]
    found = {
        str(path.relative_to(ROOT)): hits
        for path in sorted(PACKAGE.rglob("*.py"))
        if (hits := timings_in_prose(path.read_text()))
    }
    assert found == {}
