"""The libraries whose internals SkinStack leans on are installed at the versions pyproject
allows: `./dev` installs the lock file and then SkinStack with --no-deps, so nothing else
compares the two."""

from __future__ import annotations

import tomllib
from importlib.metadata import version
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from skinstack.redirect.protocol import TESTED_UVICORN

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"
PINNED = ("uvicorn", "prometheus-client", "procrastinate")  # see DECISIONS: pins


def _requirements() -> dict[str, Requirement]:
    dependencies = tomllib.loads(PYPROJECT.read_text())["project"]["dependencies"]
    return {(requirement := Requirement(line)).name: requirement for line in dependencies}


@pytest.mark.parametrize("name", PINNED)
def test_pinned_libraries_are_capped_at_one_minor_and_installed_within_it(name: str) -> None:
    requirement = _requirements()[name]
    floor = next(spec.version for spec in requirement.specifier if spec.operator == ">=")
    major, minor = (int(part) for part in floor.split(".")[:2])
    assert str(requirement.specifier) == f"<{major}.{minor + 1},>={floor}"
    assert requirement.specifier.contains(version(name)), (
        f"{name} {version(name)} is installed; pyproject allows {requirement.specifier}: check "
        "what SkinStack reads of it (redirect.lane, kit.histograms, the procrastinate SQL "
        "tests) before moving the cap")


def test_the_fast_lanes_tested_uvicorn_is_pyprojects() -> None:
    specifier = _requirements()["uvicorn"].specifier
    major, minor = TESTED_UVICORN
    assert specifier.contains(f"{major}.{minor}.0")
    assert not specifier.contains(f"{major}.{minor + 1}.0")
