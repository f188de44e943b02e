"""JSON-schema validation with defaults filled in, for configs and submission specs.

The same schema files serve Snakemake (`snakemake.utils.validate`) and the package, so a
spec is checked identically whether the pipeline or a person runs a step.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path

import jsonschema
import yaml

from .errors import UserError


@lru_cache(maxsize=None)
def load_schema(name: str) -> dict:
    text = resources.files("viprepro.schemas").joinpath(name).read_text(encoding="utf-8")
    return yaml.safe_load(text)


def _with_defaults(validator_class):
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for prop, subschema in properties.items():
                if "default" in subschema and prop not in instance:
                    instance[prop] = _copy(subschema["default"])
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": set_defaults})


def _copy(value):
    import copy

    return copy.deepcopy(value)


_Validator = _with_defaults(jsonschema.Draft202012Validator)


def validate(instance, schema_name: str, *, path: str | Path | None = None, where: str | None = None) -> None:
    """Validate in place (filling defaults); the first problem is raised as a UserError."""
    schema = load_schema(schema_name)
    errors = sorted(_Validator(schema).iter_errors(instance), key=lambda e: list(e.absolute_path))
    if errors:
        error = errors[0]
        key = ".".join(str(p) for p in error.absolute_path) or "(top level)"
        location = f"key '{key}'" if not where else f"{where}, key '{key}'"
        raise UserError(_describe(error), path=path, where=location)


def _describe(error: jsonschema.ValidationError) -> str:
    if error.validator == "additionalProperties":
        return error.message.replace("Additional properties are not allowed", "unknown key(s)")
    return error.message


def read_yaml(path: str | Path):
    path = Path(path)
    try:
        with open(path, encoding="utf-8") as fh:
            return yaml.safe_load(fh)
    except FileNotFoundError:
        raise UserError("file not found", path=path) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else None
        raise UserError(f"not valid YAML: {getattr(exc, 'problem', exc)}", path=path, where=where) from None
