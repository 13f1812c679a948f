"""Kubernetes label selectors (matchLabels + matchExpressions) as pure predicates."""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType


class SelectorOperator(StrEnum):
    """The operators of a matchExpressions entry."""

    IN = "In"
    NOT_IN = "NotIn"
    EXISTS = "Exists"
    DOES_NOT_EXIST = "DoesNotExist"


@dataclass(frozen=True)
class LabelSelectorRequirement:
    """One matchExpressions entry: `key`, `operator` and, for In/NotIn, `values`."""

    key: str
    operator: SelectorOperator
    values: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        object.__setattr__(self, "values", frozenset(self.values))
        # Same validation as the apiserver (apimachinery ValidateLabelSelectorRequirement).
        needs_values = self.operator in (SelectorOperator.IN, SelectorOperator.NOT_IN)
        if needs_values and not self.values:
            raise ValueError(f"{self.operator} on {self.key!r} needs at least one value")
        if not needs_values and self.values:
            raise ValueError(f"{self.operator} on {self.key!r} takes no values")


@dataclass(frozen=True)
class LabelSelector:
    """A metav1.LabelSelector; the empty selector matches everything."""

    match_labels: Mapping[str, str] = field(default_factory=dict)
    match_expressions: tuple[LabelSelectorRequirement, ...] = ()

    def __post_init__(self) -> None:
        # Copied so a caller mutating its dict later cannot change a pool's meaning.
        object.__setattr__(self, "match_labels", MappingProxyType(dict(self.match_labels)))
        object.__setattr__(self, "match_expressions", tuple(self.match_expressions))


def requirement_matches(requirement: LabelSelectorRequirement, labels: Mapping[str, str]) -> bool:
    """Whether `labels` satisfy one matchExpressions entry."""
    present = requirement.key in labels
    match requirement.operator:
        case SelectorOperator.IN:
            return present and labels[requirement.key] in requirement.values
        case SelectorOperator.NOT_IN:
            # Kubernetes: NotIn also matches objects that lack the key entirely.
            return not present or labels[requirement.key] not in requirement.values
        case SelectorOperator.EXISTS:
            return present
        case SelectorOperator.DOES_NOT_EXIST:
            return not present


def selector_matches(selector: LabelSelector, labels: Mapping[str, str]) -> bool:
    """Whether `labels` satisfy every matchLabels pair and every matchExpressions entry."""
    return all(labels.get(key) == value for key, value in selector.match_labels.items()) and all(
        requirement_matches(requirement, labels) for requirement in selector.match_expressions
    )


def any_selector_matches(selectors: Iterable[LabelSelector], labels: Mapping[str, str]) -> bool:
    """Whether at least one of `selectors` matches (selector lists are ORed, as in MetalLB)."""
    return any(selector_matches(selector, labels) for selector in selectors)
