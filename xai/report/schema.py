"""The JSON schema of ``report.json`` and a small validator for the subset of JSON Schema it
uses (``type``, ``properties``, ``required``, ``additionalProperties``, ``items``, ``enum``,
``const``, ``minimum``), so validating needs no extra package."""

from __future__ import annotations

from typing import Any

from xai.report.model import OUTCOMES, SCHEMA_VERSION

_NUMBER_OR_NULL = {"type": ["number", "null"]}

_METRIC = {
    "type": "object",
    "required": ["name", "value", "threshold", "higher_is_better", "passed"],
    "properties": {
        "name": {"type": "string"},
        "value": _NUMBER_OR_NULL,
        "threshold": _NUMBER_OR_NULL,
        "higher_is_better": {"type": "boolean"},
        "passed": {"type": ["boolean", "null"]},
        "test": {"type": "string"},
    },
    "additionalProperties": False,
}

_TEST = {
    "type": "object",
    "required": [
        "nodeid",
        "outcome",
        "duration",
        "message",
        "summary",
        "metrics",
        "tables",
        "figures",
        "sections",
        "seeds",
    ],
    "properties": {
        "nodeid": {"type": "string"},
        "outcome": {"enum": list(OUTCOMES)},
        "duration": {"type": "number", "minimum": 0},
        "message": {"type": "string"},
        "summary": {"type": "string"},
        "sections": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name", "text"],
                "properties": {"name": {"type": "string"}, "text": {"type": "string"}},
                "additionalProperties": False,
            },
        },
        "seeds": {"type": "object"},
        "metrics": {"type": "array", "items": _METRIC},
        "tables": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name", "columns", "rows"],
                "properties": {
                    "name": {"type": "string"},
                    "columns": {"type": "array", "items": {"type": "string"}},
                    "rows": {"type": "array", "items": {"type": "array"}},
                },
                "additionalProperties": False,
            },
        },
        "figures": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name", "png", "kind", "caption"],
                "properties": {
                    "name": {"type": "string"},
                    "png": {"type": "string"},
                    "kind": {"enum": ["figure", "explanation"]},
                    "caption": {"type": "string"},
                },
                "additionalProperties": False,
            },
        },
    },
    "additionalProperties": False,
}

#: JSON Schema (draft 2020-12 subset) of ``report.json``.
SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "xai evaluation report",
    "type": "object",
    "required": ["schema_version", "title", "summary", "models", "provenance", "tests"],
    "properties": {
        "schema_version": {"const": SCHEMA_VERSION},
        "title": {"type": "string"},
        "summary": {
            "type": "object",
            "required": ["counts", "total", "headline_metrics"],
            "properties": {
                "counts": {
                    "type": "object",
                    "required": list(OUTCOMES),
                    "additionalProperties": {"type": "integer", "minimum": 0},
                },
                "total": {"type": "integer", "minimum": 0},
                "headline_metrics": {"type": "array", "items": _METRIC},
            },
            "additionalProperties": False,
        },
        "models": {"type": "object", "additionalProperties": {"type": "object"}},
        "provenance": {
            "type": "object",
            "required": ["date", "libraries", "device", "seeds", "git_commit"],
            "properties": {
                "date": {"type": "string"},
                "libraries": {"type": "object", "additionalProperties": {"type": "string"}},
                "device": {"type": "object"},
                "seeds": {"type": "object"},
                "git_commit": {"type": ["string", "null"]},
                "git_dirty": {"type": ["boolean", "null"]},
                "root": {"type": "string"},
            },
        },
        "tests": {"type": "array", "items": _TEST},
    },
    "additionalProperties": False,
}

_TYPES: dict[str, Any] = {
    "object": dict,
    "array": list,
    "string": str,
    "boolean": bool,
    "null": type(None),
}


def _is_type(value: Any, name: str) -> bool:
    if name == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if name == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, _TYPES[name])


def validation_errors(document: Any, schema: dict[str, Any] | None = None) -> list[str]:
    """Every place where ``document`` breaks ``schema`` (default :data:`SCHEMA`), as
    ``"$.path: problem"`` lines; empty when the document is valid."""
    errors: list[str] = []
    _check(document, SCHEMA if schema is None else schema, "$", errors)
    return errors


def validate(document: Any, schema: dict[str, Any] | None = None) -> None:
    """Raise ``ValueError`` listing every violation of ``schema`` (default :data:`SCHEMA`)."""
    errors = validation_errors(document, schema)
    if errors:
        raise ValueError("report does not match its schema:\n" + "\n".join(errors[:20]))


def _check(value: Any, schema: dict[str, Any], path: str, errors: list[str]) -> None:
    if "const" in schema and value != schema["const"]:
        errors.append(f"{path}: expected {schema['const']!r}, got {value!r}")
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{path}: expected one of {schema['enum']}, got {value!r}")
    if "type" in schema:
        names = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(_is_type(value, name) for name in names):
            errors.append(f"{path}: expected {' or '.join(names)}, got {type(value).__name__}")
            return
    if "minimum" in schema and _is_type(value, "number") and value < schema["minimum"]:
        errors.append(f"{path}: expected >= {schema['minimum']}, got {value}")
    if isinstance(value, dict):
        for key in schema.get("required", []):
            if key not in value:
                errors.append(f"{path}: missing required key {key!r}")
        properties = schema.get("properties", {})
        extra = schema.get("additionalProperties", True)
        for key, item in value.items():
            if key in properties:
                _check(item, properties[key], f"{path}.{key}", errors)
            elif extra is False:
                errors.append(f"{path}: unexpected key {key!r}")
            elif isinstance(extra, dict):
                _check(item, extra, f"{path}.{key}", errors)
    if isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            _check(item, schema["items"], f"{path}[{index}]", errors)
