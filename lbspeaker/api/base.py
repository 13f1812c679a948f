"""The base of every lbspeaker API model, and the marker that attaches CEL rules to a schema."""

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, GetJsonSchemaHandler, model_validator
from pydantic.alias_generators import to_camel
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema


class APIModel(BaseModel):
    """A value of a custom resource: camelCase on the wire, snake_case in Python, immutable.

    Field docstrings become the CRD's field descriptions (what `kubectl explain` prints), so
    they are written for operators, not for Python readers. Integer and boolean fields are typed
    StrictInt and StrictBool: the apiserver rejects `"true"` or `"179"` where the schema says
    boolean or integer, and pydantic's default lax mode would accept them. Where the wire name
    is not what to_camel makes (`myASN`, `routerID`), a field sets validation_alias and
    serialization_alias rather than alias: type checkers take `alias` as the constructor's
    keyword, which would force Python code to write `BGPPeerSpec(myASN=...)`.
    """

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        frozen=True,
        extra="forbid",
        use_attribute_docstrings=True,
    )

    @model_validator(mode="before")
    @classmethod
    def _null_means_absent(cls, data: Any) -> Any:
        # The apiserver prunes null fields of a structural schema before defaulting and
        # validation, so `autoAssign: null` is admitted and defaulted; parse it the same way.
        if isinstance(data, dict):
            return {key: value for key, value in data.items() if value is not None}
        return data

    def to_wire(self) -> dict[str, Any]:
        """The camelCase JSON object to send to the apiserver, absent and empty fields omitted.

        Omitting them follows the Kubernetes `omitempty` convention, so a status built here
        compares equal to the one read back and an unchanged status is not written again.
        """
        return _omit_empty_fields(self.model_dump(mode="json", by_alias=True, exclude_none=True))


@dataclass(frozen=True)
class CELRule:
    """One Kubernetes `x-kubernetes-validations` rule, evaluated by the apiserver at admission.

    Put it in `Annotated[...]` next to the Python validator that enforces the same rule, so the
    two sit side by side; `cel_rules()` does the same for rules on a whole object.
    """

    rule: str
    message: str
    # A CEL string expression for the message, so it can quote the bad value and its fix;
    # the apiserver falls back to `message` when it cannot evaluate it.
    message_expression: str | None = None

    def as_schema(self) -> dict[str, str]:
        """The rule as it appears in the CRD."""
        schema = {"rule": self.rule, "message": self.message}
        if self.message_expression is not None:
            schema["messageExpression"] = self.message_expression
        return schema

    def __get_pydantic_json_schema__(
        self, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = handler(core_schema)
        target = handler.resolve_ref_schema(schema)
        target.setdefault("x-kubernetes-validations", []).append(self.as_schema())
        return schema


def cel_rules(*rules: CELRule) -> dict[str, Any]:
    """`json_schema_extra` for a model whose rules span several of its fields."""
    return {"x-kubernetes-validations": [rule.as_schema() for rule in rules]}


def _omit_empty_fields(fields: dict[str, Any]) -> dict[str, Any]:
    pruned = {key: _omit_empty_nested(value) for key, value in fields.items()}
    return {key: value for key, value in pruned.items() if value not in ({}, [])}


def _omit_empty_nested(value: Any) -> Any:
    if isinstance(value, dict):
        return _omit_empty_fields(value)
    if isinstance(value, list):
        return [_omit_empty_nested(item) for item in value]
    return value
