"""Submission specs: what was claimed and how to rerun it (config/submissions/*.yaml)."""

from __future__ import annotations

from pathlib import Path

from viprepro.errors import UserError
from viprepro.files.fileio import canonical_digest
from viprepro.files.schemas_io import read_yaml, validate
from viprepro.specs import model_names
from viprepro.specs.recipe_keys import check_written_keys
from viprepro.specs.scale import at_scale


def load_spec(path: str | Path) -> dict:
    """Read and validate a spec; defaults are filled in, task recipe keys checked too.

    Every key at every level must be known (an unknown one is refused with its path), and
    the model, optimiser, schedule and loss names must be ones viprepro can build, so a bad
    spec fails here (and so at `snakemake -n`), never first inside a training job. A spec
    with `scale: smoke` comes back shrunk (viprepro.specs.scale)."""
    path = Path(path)
    spec = read_yaml(path)
    if not isinstance(spec, dict):
        raise UserError("a submission spec must be a mapping", path=path)
    validate(spec, "submission.schema.yaml", path=path)
    task = _task_of(spec, path)
    if spec["kind"] == "external":
        from viprepro.external import external_part

        spec["external"] = external_part(spec, path)  # defaults filled, repository resolved
        if spec.get("model") or spec.get("recipe"):
            raise UserError("an external submission has no `model` or `recipe`: its own commands train it", path=path)
        if any(claim.get("split", "test") != "test" for claim in spec["claimed"].values()):
            raise UserError("external submissions can only claim test-split scores", path=path, where="claimed")
    elif spec.get("stages"):
        from viprepro.specs.stages import check_stages

        check_stages(spec, task, path=path)  # sets the spec's model and recipe to the last stage's
        _refuse_claims_on_training_data(spec, path)
    else:
        if "recipe" not in spec:
            raise UserError("an engine submission needs a `recipe` (or `stages`, each with its recipe)", path=path, where="key 'recipe'")
        check_written_keys(spec["recipe"], spec["task"], path=path)  # before defaults hide what was written
        validate(spec["recipe"], task.schema("recipe"), path=path, where="recipe")
        model_names.check(spec["task"], spec["model"]["name"], path=path)
        _refuse_claims_on_training_data(spec, path)
    known = task.metric_keys
    for key in spec["claimed"]:
        if key not in known:
            raise UserError(f"claims unknown metric '{key}' (known for {spec['task']}: {', '.join(known)})", path=path, where="claimed")
    return at_scale(spec, spec["scale"])


def _task_of(spec: dict, path: Path):
    """The spec's task (its package declares metrics and schemas; nothing heavy is imported)."""
    from viprepro.tasks import get_task

    try:
        return get_task(spec["task"])
    except UserError as exc:
        raise UserError(exc.problem, path=path, where="key 'task'") from None


def _refuse_claims_on_training_data(spec: dict, path: Path) -> None:
    """A score on a split the model trained on is no claim (the verdict audits it again)."""
    from viprepro.specs.stages import trained_splits

    trained = trained_splits(spec)
    for metric, claim in spec["claimed"].items():
        if claim.get("split", "test") in trained:
            raise UserError(
                f"claims {metric} on the {claim['split']} split, which {'a stage' if spec.get('stages') else 'recipe.train_splits'} trains on: "
                "a score on training data is not a claim",
                path=path,
                where=f"claimed.{metric}.split",
            )


def spec_digest(spec: dict) -> str:
    return canonical_digest(spec)


def seeds_of(spec: dict) -> list[int]:
    """The claimed seed first, then the seed-band reruns."""
    return [spec["seed"] + k for k in range(spec["extra_seeds"] + 1)]
