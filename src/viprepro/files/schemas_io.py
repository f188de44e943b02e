"""JSON-schema validation with defaults filled in, for configs and submission specs.

The same schema files serve Snakemake (`snakemake.utils.validate`) and the package, so a
spec is checked identically whether the pipeline or a person runs a step.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path

import jsonschema
import yaml

from viprepro.errors import UserError


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML keeps the last of two equal keys without a word; a spec or schema must not."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(None, None, f"key '{key}' appears twice in one mapping", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep)


def load_yaml(text: str):
    """YAML as safe_load reads it, refusing a key that appears twice in one mapping."""
    return yaml.load(text, Loader=_UniqueKeyLoader)


def schema_file(name: str | Path) -> Path | resources.abc.Traversable:
    """Where a schema is: a path as given, a name of viprepro's own schemas (config,
    submission, ...), or `<kind>.<task>.schema.yaml`, a task's option schema in its package."""
    if isinstance(name, Path):
        return name
    own = resources.files("viprepro.schemas").joinpath(name)
    if own.is_file():
        return own
    kind, _, rest = name.partition(".")
    task = rest.removesuffix(".schema.yaml")
    if kind in ("recipe", "synthetic") and task != rest:
        from viprepro.tasks import get_task

        return get_task(task).schema(kind)
    raise FileNotFoundError(f"no schema {name!r}")


@cache
def load_schema(name: str | Path) -> dict:
    return load_yaml(schema_file(name).read_text(encoding="utf-8"))


COMMON_RECIPE = "recipe.common.schema.yaml"


@cache
def validation_schema(name: str | Path) -> dict:
    """The schema a name validates against: a task's recipe schema is completed by the keys
    every task shares (recipe.common.schema.yaml) and closed, so an unknown key is refused."""
    schema = load_schema(name)
    file_name = name.name if isinstance(name, Path) else name
    if not file_name.startswith("recipe.") or file_name == COMMON_RECIPE:
        return schema
    common = load_schema(COMMON_RECIPE)
    overlap = set(common["properties"]) & set(schema.get("properties", {}))
    if overlap:
        raise ValueError(f"{name} redefines common recipe keys {sorted(overlap)}")
    return {
        **schema,
        "required": common["required"],
        "additionalProperties": False,
        "properties": {**common["properties"], **schema.get("properties", {})},
    }


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


def validate(
    instance, schema_name: str | Path, *, path: str | Path | None = None, where: str | None = None, own_keys_only: bool = False
) -> None:
    """Validate in place (filling defaults); the first problem is raised as a UserError.

    `own_keys_only` checks a task recipe against the task's own keys alone (filling their
    defaults), for code that receives a partial recipe; specs are always checked whole."""
    schema = load_schema(schema_name) if own_keys_only else validation_schema(schema_name)
    errors = sorted(_Validator(schema).iter_errors(instance), key=lambda e: [str(p) for p in e.absolute_path])
    if errors:
        error = errors[0]
        parts = [str(p) for p in error.absolute_path]
        if error.validator == "additionalProperties" and isinstance(error.instance, dict):
            # name the unknown key itself, with its full path (recipe.augment.randaugment.magnitude_sd)
            unknown = sorted(k for k in error.instance if k not in error.schema.get("properties", {}))
            parts.append(unknown[0] if len(unknown) == 1 else "{" + ",".join(unknown) + "}")
        if where and " " in where:  # a description ("synthetic options"), not a key path
            location = f"{where}, key '{'.'.join(parts) or '(top level)'}'"
        else:
            location = f"key '{'.'.join(([where] if where else []) + parts) or '(top level)'}'"
        raise UserError(_describe(error), path=path, where=location)


def _describe(error: jsonschema.ValidationError) -> str:
    if error.validator == "additionalProperties":
        return error.message.replace("Additional properties are not allowed", "unknown key(s)")
    return error.message


def read_yaml(path: str | Path):
    path = Path(path)
    try:
        with open(path, encoding="utf-8") as fh:
            return load_yaml(fh)
    except FileNotFoundError:
        raise UserError("file not found", path=path) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else None
        raise UserError(f"not valid YAML: {getattr(exc, 'problem', exc)}", path=path, where=where) from None
