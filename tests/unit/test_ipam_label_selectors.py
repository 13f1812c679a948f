"""Kubernetes label-selector semantics, as pools use them to pick Services and namespaces."""

import pytest

from lbspeaker.ipam.label_selectors import (
    LabelSelector,
    LabelSelectorRequirement,
    SelectorOperator,
    selector_matches,
)
from lbspeaker.ipam.pool import ServiceAllocation

pytestmark = pytest.mark.unit

IN, NOT_IN = SelectorOperator.IN, SelectorOperator.NOT_IN
EXISTS, DOES_NOT_EXIST = SelectorOperator.EXISTS, SelectorOperator.DOES_NOT_EXIST


def expression(key: str, operator: SelectorOperator, *values: str) -> LabelSelectorRequirement:
    return LabelSelectorRequirement(key, operator, frozenset(values))


@pytest.mark.parametrize(
    ("description", "selector", "labels", "matches"),
    [
        ("empty selector matches anything", LabelSelector(), {"a": "b"}, True),
        ("empty selector matches no labels", LabelSelector(), {}, True),
        ("matchLabels equal", LabelSelector({"env": "prod"}), {"env": "prod", "x": "y"}, True),
        ("matchLabels different value", LabelSelector({"env": "prod"}), {"env": "dev"}, False),
        ("matchLabels missing key", LabelSelector({"env": "prod"}), {}, False),
        ("matchLabels all must hold", LabelSelector({"a": "1", "b": "2"}), {"a": "1"}, False),
        ("In with value", LabelSelector(match_expressions=(expression("t", IN, "web", "edge"),)),
         {"t": "edge"}, True),
        ("In other value", LabelSelector(match_expressions=(expression("t", IN, "web"),)),
         {"t": "db"}, False),
        ("In missing key", LabelSelector(match_expressions=(expression("t", IN, "web"),)),
         {}, False),
        ("NotIn other value", LabelSelector(match_expressions=(expression("t", NOT_IN, "db"),)),
         {"t": "web"}, True),
        ("NotIn listed value", LabelSelector(match_expressions=(expression("t", NOT_IN, "db"),)),
         {"t": "db"}, False),
        ("NotIn missing key matches",
         LabelSelector(match_expressions=(expression("t", NOT_IN, "db"),)), {}, True),
        ("Exists present", LabelSelector(match_expressions=(expression("t", EXISTS),)),
         {"t": ""}, True),
        ("Exists absent", LabelSelector(match_expressions=(expression("t", EXISTS),)), {}, False),
        ("DoesNotExist absent",
         LabelSelector(match_expressions=(expression("t", DOES_NOT_EXIST),)), {}, True),
        ("DoesNotExist present",
         LabelSelector(match_expressions=(expression("t", DOES_NOT_EXIST),)), {"t": "x"}, False),
        ("labels and expressions are ANDed",
         LabelSelector({"env": "prod"}, (expression("t", EXISTS),)), {"env": "prod"}, False),
        ("labels and expressions all hold",
         LabelSelector({"env": "prod"}, (expression("t", EXISTS),)), {"env": "prod", "t": "1"},
         True),
    ],
)  # fmt: skip
def test_selector_semantics(
    description: str, selector: LabelSelector, labels: dict[str, str], matches: bool
) -> None:
    assert selector_matches(selector, labels) is matches, description


@pytest.mark.parametrize(
    ("operator", "values", "complaint"),
    [
        (IN, (), "needs at least one value"),
        (NOT_IN, (), "needs at least one value"),
        (EXISTS, ("x",), "takes no values"),
        (DOES_NOT_EXIST, ("x",), "takes no values"),
    ],
)
def test_requirements_are_validated_like_the_apiserver_does(
    operator: SelectorOperator, values: tuple[str, ...], complaint: str
) -> None:
    with pytest.raises(ValueError, match=complaint):
        expression("key", operator, *values)


def test_a_selector_copies_its_labels_so_later_edits_do_not_leak_in() -> None:
    labels = {"env": "prod"}
    selector = LabelSelector(labels)
    labels["env"] = "dev"
    assert selector_matches(selector, {"env": "prod"})


def test_pool_rules_or_namespaces_with_namespace_selectors() -> None:
    rules = ServiceAllocation(
        namespaces=frozenset({"team-a"}),
        namespace_selectors=(LabelSelector({"env": "prod"}),),
    )
    assert rules.refusal("team-a", {}, {}) is None
    assert rules.refusal("shop", {"env": "prod"}, {}) is None
    refusal = rules.refusal("shop", {"env": "dev"}, {})
    assert refusal is not None
    assert "'shop'" in refusal


def test_pool_rules_and_namespace_rules_with_service_selectors() -> None:
    rules = ServiceAllocation(
        namespaces=frozenset({"team-a"}),
        service_selectors=(LabelSelector({"tier": "web"}), LabelSelector({"tier": "edge"})),
    )
    assert rules.refusal("team-a", {}, {"tier": "edge"}) is None
    assert rules.refusal("team-b", {}, {"tier": "edge"}) is not None
    refusal = rules.refusal("team-a", {}, {"tier": "db"})
    assert refusal is not None
    assert "service selectors" in refusal


def test_pool_rules_without_restrictions_admit_everyone() -> None:
    assert ServiceAllocation().refusal("anything", {}, {}) is None
