"""Validating JSON against Alpaca's official OpenAPI schemas (`/work/shared/alpaca-openapi`).

OpenAPI 3.0 marks optional nulls with `nullable: true`, which JSON Schema does not know: the
schemas are translated (nullable -> a "null" alternative) before validating with jsonschema.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema

SPECS = Path("/work/shared/alpaca-openapi")


def _nullable_to_json_schema(node: Any) -> Any:
    if isinstance(node, list):
        return [_nullable_to_json_schema(n) for n in node]
    if not isinstance(node, dict):
        return node
    node = {k: _nullable_to_json_schema(v) for k, v in node.items()}
    if node.pop("nullable", False):
        if "type" in node and "$ref" not in node and "enum" not in node:
            node["type"] = [node["type"], "null"]
        else:
            return {"anyOf": [node, {"type": "null"}]}
    return node


def _validator(spec_file: str, schema_name: str) -> jsonschema.Draft7Validator:
    spec = json.loads((SPECS / spec_file).read_text())
    schemas = _nullable_to_json_schema(spec["components"]["schemas"])
    root = {"$ref": f"#/components/schemas/{schema_name}", "components": {"schemas": schemas}}
    return jsonschema.Draft7Validator(root)


def check_schema(spec_file: str, schema_name: str, instance: Any) -> None:
    errors = sorted(_validator(spec_file, schema_name).iter_errors(instance), key=str)
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors[:10])
