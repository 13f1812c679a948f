"""Turn a pydantic model's JSON schema into a Kubernetes structural schema.

A CRD's openAPIV3Schema must be structural (k8s.io/apiextensions-apiserver, "Specifying a
structural schema"): every node typed, no `$ref`, no `anyOf` of different types, and only the
OpenAPI v3.0 keywords the apiserver knows. pydantic emits JSON Schema 2020-12, so this inlines
`$defs`, unwraps `X | None` (an absent field, not a null one) and drops what Kubernetes does
not want. Any keyword it does not know stops generation, rather than reaching the apiserver.
"""

import copy
from typing import Any

from pydantic import BaseModel

# Keywords kept as they are; everything else must be handled below or it is an error.
_KEPT = frozenset(
    {
        "type",
        "description",
        "format",
        "enum",
        "default",
        "minimum",
        "maximum",
        "minLength",
        "maxLength",
        "pattern",
        "minItems",
        "maxItems",
        "maxProperties",
        "required",
        "x-kubernetes-validations",
        "x-kubernetes-list-type",
        "x-kubernetes-list-map-keys",
    }
)
_NULL = {"type": "null"}


class UnsupportedSchemaError(ValueError):
    """The model uses a construct that has no structural-schema equivalent."""


def structural_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The structural openAPIV3Schema of `model`, with its camelCase field names."""
    schema = model.model_json_schema(by_alias=True, mode="validation")
    definitions = schema.pop("$defs", {})
    return _convert(schema, definitions, path=model.__name__)


def _convert(node: dict[str, Any], definitions: dict[str, Any], path: str) -> dict[str, Any]:
    node = copy.deepcopy(node)
    node.pop("title", None)
    if "$ref" in node:
        name = node.pop("$ref").removeprefix("#/$defs/")
        return _convert(_merge(definitions[name], node), definitions, path)
    if "anyOf" in node:
        variants = [variant for variant in node.pop("anyOf") if variant != _NULL]
        if len(variants) != 1:
            raise UnsupportedSchemaError(f"{path}: a union of several types is not structural")
        if "default" in node and node["default"] is None:
            del node["default"]
        return _convert(_merge(variants[0], node), definitions, path)
    if node.get("additionalProperties") is False:
        # extra="forbid": the apiserver prunes unknown fields instead.
        del node["additionalProperties"]

    converted: dict[str, Any] = {}
    for key, value in node.items():
        if key == "properties":
            converted[key] = {
                name: _convert(child, definitions, f"{path}.{name}")
                for name, child in value.items()
            }
        elif key in ("items", "additionalProperties"):
            converted[key] = _convert(value, definitions, f"{path}[]")
        elif key == "description":
            # Docstrings wrap at the source's line length; kubectl explain re-wraps anyway.
            converted[key] = " ".join(value.split())
        elif key in _KEPT:
            converted[key] = value
        else:
            raise UnsupportedSchemaError(f"{path}: keyword {key!r} has no structural equivalent")
    if "type" not in converted:
        raise UnsupportedSchemaError(f"{path}: has no type")
    return converted


def _merge(base: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    """`base` with the keywords of `overlay` (a field's description over its type's), CEL rules
    of both kept."""
    merged = {**base, **overlay}
    rules = base.get("x-kubernetes-validations", []) + overlay.get("x-kubernetes-validations", [])
    if rules:
        merged["x-kubernetes-validations"] = rules
    return merged
