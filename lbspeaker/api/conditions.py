"""Status conditions in the standard `metav1.Condition` shape, so generic tooling reads them."""

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, StrictInt, StringConstraints

from lbspeaker.api.base import APIModel

# Patterns and limits are metav1.Condition's (k8s.io/apimachinery/pkg/apis/meta/v1/types.go).
CONDITION_TYPE = (
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$"
)
CONDITION_REASON = r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$"


class Condition(APIModel):
    """One aspect of the object's current state, e.g. `Valid`."""

    type: Annotated[str, StringConstraints(max_length=316, pattern=CONDITION_TYPE)]
    """The aspect, in CamelCase, e.g. `Valid`."""
    status: Literal["True", "False", "Unknown"]
    """Whether the aspect holds."""
    observed_generation: StrictInt | None = Field(default=None, ge=0)
    """The `.metadata.generation` the condition was computed from."""
    last_transition_time: datetime
    """When `status` last changed."""
    reason: Annotated[
        str, StringConstraints(min_length=1, max_length=1024, pattern=CONDITION_REASON)
    ]
    """A CamelCase word a program can switch on, e.g. `OverlappingRanges`."""
    message: Annotated[str, StringConstraints(max_length=32768)]
    """The details for a human; may be empty."""


Conditions = Annotated[
    tuple[Condition, ...],
    Field(
        max_length=16,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    ),
]
