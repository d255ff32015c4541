"""The project's set-up files agree with each other and do what the README promises."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement

from kit.i18n import load_texts

ROOT = Path(__file__).resolve().parents[2]


def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def requirements(specs: list[str]) -> dict[str, str]:
    """Canonical name -> specifier set, e.g. {'psycopg': '>=3.1'} (extras ignored)."""
    out = {}
    for spec in specs:
        req = Requirement(spec)
        out[re.sub(r"[-_.]+", "-", req.name).lower()] = str(req.specifier)
    return out


def test_environment_yml_lists_the_same_dependencies_as_pyproject():
    project = pyproject()["project"]
    expected = requirements(project["dependencies"] + project["optional-dependencies"]["dev"])
    env = yaml.safe_load((ROOT / "environment.yml").read_text(encoding="utf-8"))
    deps = env["dependencies"]
    assert "python=3.11" in deps and "pip" in deps
    pip = next(d["pip"] for d in deps if isinstance(d, dict) and "pip" in d)
    assert requirements(pip) == expected


def test_environment_check_notices_a_difference():
    assert requirements(["pandas>=2.2", "psycopg[binary]>=3.1"]) != requirements(
        ["pandas>=2.1", "psycopg[binary]>=3.1"])
    assert requirements(["Jupyter_Server>=2.14"]) == requirements(["jupyter-server>=2.14"])


def test_readme_starts_with_the_two_commands():
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("# ")
    block = lines[lines.index("```bash") + 1:]
    commands = [line.split("#")[0].strip() for line in block[:2]]
    assert commands == ["make demo", "make test"]
    assert lines.index("```bash") < 5


def test_makefile_has_the_targets_and_test_runs_pytest_with_postgres():
    text = (ROOT / "Makefile").read_text(encoding="utf-8")
    targets = set(re.findall(r"^([a-z-]+):", text, flags=re.M))
    assert {"setup", "demo", "test", "lint", "bench", "serve", "clean"} <= targets
    test_recipe = text.split("\ntest:")[1].split("\n\n")[0]
    assert "start-postgres.sh" in test_recipe and "-m pytest" in test_recipe
    assert "-eq 5" in test_recipe  # 'no tests collected' is not passed off as success
    assert "kit demo" in text.split("\ndemo:")[1].split("\n\n")[0]


def test_ci_runs_make_test_strictly():
    text = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert text.startswith("#!/usr/bin/env bash") and "set -euo pipefail" in text
    assert re.search(r"^make test$", text, flags=re.M)
    assert os.access(ROOT / ".ci" / "run", os.X_OK)


@pytest.mark.parametrize("script", ["scripts/setup.sh", "scripts/start-postgres.sh", ".ci/run"])
def test_shell_scripts_parse(script):
    bash = shutil.which("bash")
    assert bash is not None
    done = subprocess.run([bash, "-n", str(ROOT / script)], capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0, done.stderr


def test_setup_script_installs_debian_packages_only_when_missing():
    text = (ROOT / "scripts" / "setup.sh").read_text(encoding="utf-8")
    for package in ("chromium", "poppler-utils", "fonts-dejavu-core", "postgresql"):
        assert package in text
    assert "dpkg-query" in text and "apt-get update" in text
    assert text.index("dpkg-query") < text.index("apt-get update")
    assert "pip install" in text and ".[dev]" in text


def test_postgres_script_exports_the_test_url():
    text = (ROOT / "scripts" / "start-postgres.sh").read_text(encoding="utf-8")
    assert "export KIT_TEST_POSTGRES_URL=" in text and "postgresql+psycopg://kit:kit@" in text
    assert "pg_ctlcluster" in text


def test_console_script_and_package_data():
    project = pyproject()
    assert project["project"]["scripts"]["kit"] == "kit.cli:main"
    assert "data/**/*" in project["tool"]["setuptools"]["package-data"]["kit"]
    assert project["tool"]["pytest"]["ini_options"]["xfail_strict"] is True


def test_generated_things_are_ignored_by_git():
    ignored = (ROOT / ".gitignore").read_text(encoding="utf-8").splitlines()
    assert "/var/" in ignored and "/outputs/*" in ignored


def test_cli_texts_exist_in_both_languages():
    texts = load_texts()
    cli_keys = [k for k in texts if k.startswith("cli.")]
    assert len(cli_keys) > 30
    assert all(texts[k].get("nb") and texts[k].get("en") for k in cli_keys)
    source = (ROOT / "kit" / "cli.py").read_text(encoding="utf-8")
    used = set(re.findall(r'"(cli\.[a-z_.]+)"', source))
    assert used - set(texts) == set()


def test_readme_and_docs_never_send_a_reader_outside_the_repository():
    """Every path a doc names (``../x``) resolves inside the repository; the domain is here."""
    assert (ROOT / "docs" / "DOMAIN.md").is_file()
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = doc.read_text(encoding="utf-8")
        for ref in re.findall(r"`(\.\./[^`\s]+)`|\]\((\.\./[^)\s]+)\)", text):
            target = (doc.parent / (ref[0] or ref[1])).resolve()
            assert target.is_relative_to(ROOT), f"{doc.name} points outside the repository: {ref}"
