"""The documentation: README stays a short front page whose Quickstart CI runs verbatim, and the pages under docs/
build strictly with the code they quote, so a broken link or a quoted section that moved fails here."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from churn_assets_tests.helpers import ROOT, clean_env

README = (ROOT / "README.md").read_text()
CODE_BLOCK = re.compile(r"```bash\n(.*?)\n```", re.S)


def test_readme_is_a_short_front_page_with_the_two_quickstart_commands():
    assert len(README.splitlines()) <= 150
    quickstart = README.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    install_and_run, install_and_test = CODE_BLOCK.findall(quickstart)[:2]
    assert install_and_run.endswith("python -m pip install . && churn-assets run")
    assert install_and_test.endswith("python -m pip install '.[test]' && python -m pytest")
    assert (ROOT / ".ci" / "run").read_text().rstrip().endswith(install_and_test)


def test_every_page_is_in_the_navigation_and_every_readme_link_opens():
    config = yaml.load((ROOT / "mkdocs.yml").read_text(), Loader=yaml.BaseLoader)  # its !!python tag unresolved
    pages = {next(iter(entry.values())) for entry in config["nav"]}
    assert pages == {p.name for p in (ROOT / "docs").glob("*.md")}
    links = re.findall(r"\]\((docs/[^)#]+)", README)
    assert len(links) >= 10 and all((ROOT / link).exists() for link in links), links


def mkdocs_build(project: Path, site: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(Path(sys.executable).parent / "mkdocs"), "build", "--strict", "--site-dir", str(site)],
        cwd=project, capture_output=True, text=True, env=clean_env(NO_MKDOCS_2_WARNING="1"), timeout=300,
    )  # fmt: skip


def test_the_docs_build_strictly_with_the_code_they_quote(tmp_path):
    result = mkdocs_build(ROOT, tmp_path / "site")
    assert result.returncode == 0, result.stderr
    page = (tmp_path / "site" / "data-layer" / "index.html").read_text()
    # the label rule and the calendar are quoted from their modules, not copied
    assert "churn_labels_select" in page and "AS churned" in page and "LabelCalendar" in page
    assert "--8&lt;--" not in page  # every quote was resolved


def test_a_quote_of_a_section_that_moved_fails_the_build(tmp_path):
    shutil.copytree(ROOT / "docs", tmp_path / "docs")
    page = tmp_path / "docs" / "data-layer.md"
    page.write_text(page.read_text().replace("labels.py:label_rule", "labels.py:label_rule_moved"))
    config = (ROOT / "mkdocs.yml").read_text().replace('base_path: ["."]', f'base_path: ["{ROOT}"]')
    (tmp_path / "mkdocs.yml").write_text(config)
    result = mkdocs_build(tmp_path, tmp_path / "site")
    assert result.returncode != 0
    assert "Snippet section 'label_rule_moved' could not be located" in result.stderr
