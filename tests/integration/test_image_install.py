"""The image's install step, run outside Docker: the build context into a fresh virtualenv."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.unit.test_dockerfile import REPO, parse_dockerfile

pytestmark = pytest.mark.integration


def test_the_build_context_installs_into_a_clean_venv_and_runs(tmp_path: Path) -> None:
    """What the Dockerfile's build stage does: copy the same files, `pip install .`, no -e."""
    build = parse_dockerfile((REPO / "Dockerfile").read_text())[0]
    source = tmp_path / "src"
    source.mkdir()
    # Directories .dockerignore keeps out of the context (the lab) stay out here too.
    excluded = {
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith(("#", "!", "*"))
    }
    for args in build.args_of("COPY"):
        *sources, _ = shlex.split(args)
        for name in sources:
            path = REPO / name
            if path.is_dir():

                def ignore(directory: str, names: list[str]) -> set[str]:
                    relative = Path(directory).relative_to(REPO)
                    return {
                        n
                        for n in names
                        if n == "__pycache__" or n.endswith(".pyc") or str(relative / n) in excluded
                    }

                shutil.copytree(path, source / name, ignore=ignore)
            else:
                (source / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, source / name)
    assert not (source / "lbspeaker" / "lab").exists(), "the lab is not in the image"
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    # The build stage's own pip command, run in the copied context with this venv's pip.
    [install] = [run for run in build.args_of("RUN") if "/bin/pip install" in run]
    _, *arguments = shlex.split(install.split("&&")[0])
    subprocess.run(
        [str(venv / "bin" / "pip"), *arguments, "-q"], cwd=source, check=True, timeout=600
    )

    version = subprocess.run(
        [str(venv / "bin" / "lbspeaker"), "version"], check=True, capture_output=True, text=True
    )
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert version.stdout.strip() == f"lbspeaker {project['version']}"
    frozen = subprocess.run(
        [str(venv / "bin" / "pip"), "freeze"], check=True, capture_output=True, text=True
    ).stdout.lower()
    installed = {line.replace("_", "-") for line in frozen.splitlines()}
    pinned = {dep.lower().replace("_", "-") for dep in project["dependencies"]}
    assert pinned <= installed
    locked = {
        line.lower().replace("_", "-")
        for line in (REPO / "tools" / "requirements.lock").read_text().splitlines()
        if line and not line.startswith("#")
    }
    # Everything the image got, lbspeaker aside, at the versions CI tested.
    assert {line for line in installed if not line.startswith("lbspeaker")} <= locked
