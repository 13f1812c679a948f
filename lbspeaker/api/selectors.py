"""Label selectors, the `metav1.LabelSelector` shape, used to pick pools, nodes and Services."""

from typing import Annotated, Literal

from pydantic import ConfigDict, Field, StringConstraints, model_validator

from lbspeaker.api.base import APIModel, CELRule, cel_rules

# k8s.io/apimachinery/pkg/util/validation: IsQualifiedName (an optional DNS subdomain prefix,
# then a name of at most 63 characters) and IsValidLabelValue.
QUALIFIED_NAME = (
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
)
LABEL_VALUE = r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$"

LabelKey = Annotated[str, StringConstraints(max_length=317, pattern=QUALIFIED_NAME)]
LabelValue = Annotated[str, StringConstraints(max_length=63, pattern=LABEL_VALUE)]

# metav1 (LabelSelectorRequirement): In and NotIn need values, Exists and DoesNotExist take none.
_VALUES_MATCH_OPERATOR = CELRule(
    "self.operator in ['In', 'NotIn'] ? (has(self.values) && size(self.values) > 0)"
    " : (!has(self.values) || size(self.values) == 0)",
    "values must be non-empty for In and NotIn, and empty for Exists and DoesNotExist",
)


class LabelSelectorRequirement(APIModel):
    """A requirement on one label: `key operator values`."""

    model_config = ConfigDict(json_schema_extra=cel_rules(_VALUES_MATCH_OPERATOR))

    key: LabelKey
    """The label key the requirement applies to."""
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"]
    """How the label's value relates to `values`."""
    values: tuple[LabelValue, ...] = Field(default_factory=tuple, max_length=256)
    """Label values; non-empty for In and NotIn, empty for Exists and DoesNotExist."""

    @model_validator(mode="after")
    def _values_match_operator(self) -> "LabelSelectorRequirement":
        if (self.operator in ("In", "NotIn")) != bool(self.values):
            raise ValueError(_VALUES_MATCH_OPERATOR.message)
        return self


class LabelSelector(APIModel):
    """Selects objects by label; the requirements are ANDed, and an empty selector matches all."""

    match_labels: dict[str, LabelValue] = Field(default_factory=dict, max_length=64)
    """Labels the object must have with exactly these values."""
    match_expressions: tuple[LabelSelectorRequirement, ...] = Field(
        default_factory=tuple, max_length=32
    )
    """Further requirements on the object's labels."""
