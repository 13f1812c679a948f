"""docs/reference.md is generated from the models, is current, and covers every field."""

from pathlib import Path

import pytest
from pydantic import BaseModel

from lbspeaker.api.kinds import ALL_KINDS
from lbspeaker.api.reference import REFERENCE_FILE, _nested_model, render_reference

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]


def test_the_committed_reference_is_the_generated_one() -> None:
    committed = (REPO / REFERENCE_FILE).read_text()
    assert committed == render_reference(), (
        f"{REFERENCE_FILE} is stale: run `python -m lbspeaker.api.reference > {REFERENCE_FILE}`"
    )


def _wire_names(model: type[BaseModel], seen: set[type[BaseModel]]) -> set[str]:
    names: set[str] = set()
    seen.add(model)
    for name, info in model.model_fields.items():
        names.add(info.serialization_alias or info.alias or name)
        inner = _nested_model(info.annotation)
        if inner is not None and inner not in seen:
            names |= _wire_names(inner, seen)
    return names


def test_every_field_of_every_kind_has_a_row() -> None:
    page = render_reference()
    for kind in ALL_KINDS:
        assert f"## {kind.kind}\n" in page
        models = [kind.spec] + ([kind.status] if kind.status is not None else [])
        for model in models:
            for wire in _wire_names(model, set()):
                assert f".{wire}` |" in page or f"| `{wire}` |" in page, (kind.kind, wire)


def test_apply_time_rules_are_quoted_where_they_apply() -> None:
    page = render_reference()
    [addresses] = [line for line in page.splitlines() if line.startswith("| `spec.addresses`")]
    assert "a range is written lowest address first" in addresses
    assert addresses.count("a range is written lowest address first") == 1
    [hold] = [line for line in page.splitlines() if line.startswith("| `spec.holdTime`")]
    assert "holdTime must be 0s (no keepalives) or between 3s and 65535s" in hold
