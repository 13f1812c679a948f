"""What can be checked of the image without Docker: how the Dockerfile builds it."""

from __future__ import annotations

import re
import shlex
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]
VENV = "/opt/lbspeaker"
COMPILERS = ("gcc", "g++", "clang", "build-essential", "make", "python3-dev", "libc6-dev")


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def args_of(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]


def parse_dockerfile(text: str) -> list[Stage]:
    """The stages of a Dockerfile, each with its (KEYWORD, arguments) in order; a FROM that
    names a build argument declared before the first stage gets the argument's default."""
    text = re.sub(r"\\\n", " ", text)
    stages: list[Stage] = []
    build_args: dict[str, str] = {}
    for line in (raw.strip() for raw in text.splitlines()):
        if not line or line.startswith("#"):
            continue
        keyword, _, args = line.partition(" ")
        keyword, args = keyword.upper(), args.strip()
        if keyword == "ARG" and not stages:
            name, _, default = args.partition("=")
            build_args[name] = default
        elif keyword == "FROM":
            words = re.sub(r"\$\{(\w+)\}", lambda m: build_args[m.group(1)], args).split()
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(words[0], name))
        else:
            stages[-1].instructions.append((keyword, args))
    return stages


@pytest.fixture(scope="module")
def stages() -> list[Stage]:
    return parse_dockerfile((REPO / "Dockerfile").read_text())


def test_it_builds_in_one_stage_and_ships_another_both_slim(stages: list[Stage]) -> None:
    assert len(stages) == 2
    assert stages[0].name is not None
    assert all("slim" in stage.base for stage in stages)


def test_the_build_installs_the_project_itself_so_pyproject_pins_the_dependencies(
    stages: list[Stage],
) -> None:
    build = stages[0]
    copies = [shlex.split(args) for args in build.args_of("COPY")]
    assert any("pyproject.toml" in words for words in copies)
    installs = [run for run in build.args_of("RUN") if f"{VENV}/bin/pip install" in run]
    assert len(installs) == 1
    # The argument is the project directory (`.`), not a requirements file or package names.
    command = installs[0].split("&&")[0].split()
    assert command[-1] == "." and "-r" not in command and "-e" not in command


def test_both_stages_default_to_the_official_slim_python_and_take_a_stand_in(
    stages: list[Stage],
) -> None:
    """Users build on python:3.11-slim-bookworm; tools/build-image.sh passes a local base."""
    text = (REPO / "Dockerfile").read_text()
    assert "ARG PYTHON_IMAGE=python:3.11-slim-bookworm" in text
    assert [stage.base for stage in stages] == ["python:3.11-slim-bookworm"] * 2
    assert re.findall(r"^FROM (\S+)", text, re.MULTILINE) == ["${PYTHON_IMAGE}"] * 2


def test_the_shipped_venv_drops_the_installers_and_the_unused_asyncio_client(
    stages: list[Stage],
) -> None:
    [install] = [run for run in stages[0].args_of("RUN") if f"{VENV}/bin/pip install" in run]
    steps = [step.split() for step in install.split("&&")]
    [uninstall] = [step for step in steps if step[:2] == [f"{VENV}/bin/pip", "uninstall"]]
    assert {"pip", "setuptools", "aiohttp"} <= set(uninstall)
    assert uninstall[-1] == "pip", "pip removes itself last"
    assert ["rm", "-rf", f"{VENV}/lib/python3.11/site-packages/kubernetes/aio"] in steps
    # What is dropped must be what lbspeaker never imports.
    sources = "\n".join(p.read_text() for p in (REPO / "lbspeaker").rglob("*.py"))
    assert re.search(r"^\s*(import|from) (aiohttp|kubernetes\.aio|pip|setuptools)\b", sources,
                     re.MULTILINE) is None  # fmt: skip


def test_the_lab_stays_out_of_the_build_context() -> None:
    lines = (REPO / ".dockerignore").read_text().splitlines()
    assert "lbspeaker/lab" in lines


def test_every_runtime_dependency_is_pinned_exactly() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    loose = [dep for dep in project["dependencies"] if not re.fullmatch(r"[\w.-]+==[\w.]+", dep)]
    assert loose == []


def test_the_final_stage_copies_only_the_virtualenv_and_installs_nothing(
    stages: list[Stage],
) -> None:
    final = stages[-1]
    assert final.args_of("COPY") == [f"--from={stages[0].name} {VENV} {VENV}"]
    assert final.args_of("ADD") == [] and final.args_of("RUN") == []
    text = " ".join(args for _, args in final.instructions)
    assert [word for word in COMPILERS if re.search(rf"(^|\s){re.escape(word)}(\s|$)", text)] == []


def test_the_image_runs_as_the_non_root_user_the_controller_deployment_expects(
    stages: list[Stage],
) -> None:
    [user] = stages[-1].args_of("USER")
    uid, _, gid = user.partition(":")
    assert uid.isdigit() and int(uid) != 0, "numeric, so the kubelet can verify runAsNonRoot"
    deployment = yaml.safe_load((REPO / "manifests" / "controller.yaml").read_text())
    pod = deployment["spec"]["template"]["spec"]["securityContext"]
    assert pod["runAsNonRoot"] is True
    assert (str(pod["runAsUser"]), str(pod["runAsGroup"])) == (uid, gid or uid)


def test_the_entrypoint_is_the_lbspeaker_command(stages: list[Stage]) -> None:
    assert stages[-1].args_of("ENTRYPOINT") == ['["lbspeaker"]']


def test_the_build_context_holds_only_what_the_build_copies(stages: list[Stage]) -> None:
    lines = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0] == "*", "an allowlist: nothing enters the context unless named"
    allowed = {line[1:] for line in lines if line.startswith("!")}
    copied = {
        source
        for args in stages[0].args_of("COPY")
        if not args.startswith("--from")
        for source in shlex.split(args)[:-1]
    }
    assert allowed == copied


def test_the_lock_holds_every_pinned_dependency_at_its_pinned_version() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    wanted = [*project["dependencies"], *project["optional-dependencies"]["dev"]]
    lock = (REPO / "tools" / "requirements.lock").read_text().lower().replace("_", "-")
    locked = {line for line in lock.splitlines() if line and not line.startswith("#")}
    assert {dep.lower().replace("_", "-") for dep in wanted} <= locked
