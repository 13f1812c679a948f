import pytest

from lbspeaker import __version__
from lbspeaker.cli import build_parser, main

pytestmark = pytest.mark.unit


def test_version_prints_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["version"]) == 0
    assert capsys.readouterr().out.strip() == f"lbspeaker {__version__}"


def test_help_lists_every_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    for command in ("version", "controller", "speaker", "lab", "demo"):
        assert command in out


def test_lab_actions_parse_with_their_defaults() -> None:
    args = build_parser().parse_args(["lab", "up"])
    assert (args.lab_command, args.name, args.nodes) == ("up", "lab", 3)
    args = build_parser().parse_args(["lab", "down", "--all"])
    assert (args.lab_command, args.all) == ("down", True)


def test_unknown_lab_action_is_a_usage_error() -> None:
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(["lab", "explode"])
    assert exited.value.code == 2
