"""Multi-stage specs: named stages, each a recipe of its own kind, chained by name.

A spec may list `stages:` (docs/stages.md). Each stage trains one model per (seed, member):
a `pretext` stage a self-supervised backbone on the training images with labels withheld,
a `supervised` stage the task's recipe, a `distill` stage a student against frozen teacher
stages, a `pseudo_label` stage on the labelled set plus an earlier stage's confident
predictions on unlabeled images the task's rules allow. A stage's inputs (`init.from`,
`teacher.from`, `pseudo_label.from`) name earlier stages only, so the chain has no cycle and
runs in the order written. The last stage's model and recipe become the spec's `model` and
`recipe`: prediction, scoring and the verdict read a multi-stage spec like any other.

Everything here is checked when the spec is loaded (and so at `snakemake -n`), with one
line naming the spec file and the key path. Torch is imported only to ask the
self-supervised library which keys a pretext method reads.
"""

from __future__ import annotations

import copy
import re

from viprepro.errors import UserError
from viprepro.files.schemas_io import validate

KINDS = ("pretext", "supervised", "distill", "pseudo_label")
# Stage keys each kind reads besides name, kind, model and recipe.
STAGE_KEYS = {
    "pretext": set(),
    "supervised": {"init"},
    "distill": {"init", "teacher", "distill"},
    "pseudo_label": {"init", "pseudo_label"},
}
# The recipe keys a pretext stage reads: its views come from the method, its loss is the method's.
PRETEXT_RECIPE_KEYS = {
    "epochs",
    "batch_size",
    "accumulate_steps",
    "optimizer",
    "lr_schedule",
    "grad_clip",
    "input_size",
    "workers",
    "cache_decoded",
    "pretext",
}
WITH_CLASSIFIER = {"supervised", "distill", "pseudo_label"}  # kinds whose output predicts classes


def stages_of(spec: dict) -> list[dict] | None:
    """The spec's stages in order, or None for a single-stage spec."""
    return spec.get("stages") or None


def stage_named(spec: dict, name: str) -> dict:
    for stage in spec["stages"]:
        if stage["name"] == name:
            return stage
    raise KeyError(name)


def inputs_of(stage: dict) -> list[tuple[str, str]]:
    """(role, stage name) of every earlier stage this stage loads: init, teacher, pseudo_label."""
    inputs = []
    if stage.get("init"):
        inputs.append(("init", stage["init"]["from"]))
    if stage.get("teacher"):
        sources = stage["teacher"]["from"]
        inputs += [("teacher", name) for name in ([sources] if isinstance(sources, str) else sources)]
    if stage.get("pseudo_label"):
        inputs.append(("pseudo_label", stage["pseudo_label"]["from"]))
    return inputs


def check_stages(spec: dict, task, *, path) -> None:
    """Validate `spec["stages"]` in place (defaults filled) and make the last stage the spec's model and recipe."""
    from viprepro.specs import model_names
    from viprepro.specs.recipe_keys import check_written_keys

    stages = spec["stages"]
    if type(task).unlabeled_loader is _base_unlabeled_loader():
        raise UserError(f"task {task.name} does not support stages (it has no unlabeled_loader)", path=path, where="key 'stages'")
    written_recipe = spec.get("recipe")
    seen: dict[str, tuple[int, dict]] = {}
    for index, stage in enumerate(stages):
        where = f"stages.{index}"
        kind = stage["kind"]
        if stage["name"] in seen:
            raise UserError(f"stage name {stage['name']!r} is used twice", path=path, where=f"key '{where}.name'")
        for key in sorted(set(stage) - {"name", "kind", "model", "recipe"} - STAGE_KEYS[kind]):
            raise UserError(f"a {kind} stage does not read {key!r}", path=path, where=f"key '{where}.{key}'")
        stage.setdefault("model", copy.deepcopy(spec["model"]))
        model_names.check(spec["task"], stage["model"]["name"], path=path)
        recipe = stage["recipe"]
        if kind == "pretext":
            _check_pretext_recipe(recipe, task, path=path, where=f"{where}.recipe")
        else:
            check_written_keys(recipe, task, path=path, prefix=f"{where}.recipe")
            validate(recipe, task.schema("recipe"), path=path, where=f"{where}.recipe")
            if kind == "distill" and recipe.get("ema"):
                raise UserError(
                    "a distill stage keeps no weight EMA (its student is saved as trained)", path=path, where=f"key '{where}.recipe.ema'"
                )
        _check_inputs(stage, index, seen, task, path=path)
        seen[stage["name"]] = (index, stage)
    last = stages[-1]
    if last["kind"] == "pretext":
        raise UserError(
            f"the last stage ({last['name']!r}) is a pretext stage: its backbone predicts no {task.name} output; "
            "end with a supervised, distill or pseudo_label stage",
            path=path,
            where=f"key 'stages.{len(stages) - 1}.kind'",
        )
    used = {name for stage in stages for _, name in inputs_of(stage)}
    for index, stage in enumerate(stages[:-1]):
        if stage["name"] not in used:
            raise UserError(
                f"stage {stage['name']!r} is trained but no later stage reads it (name it in init, teacher or pseudo_label, or remove it)",
                path=path,
                where=f"key 'stages.{index}'",
            )
    if written_recipe is not None and written_recipe != last["recipe"]:
        raise UserError(
            "a spec with `stages` has no top-level recipe: the last stage's recipe is the submission's", path=path, where="key 'recipe'"
        )
    spec["recipe"] = copy.deepcopy(last["recipe"])
    spec["model"] = copy.deepcopy(last["model"])


def _base_unlabeled_loader():
    from viprepro.tasks.base import Task

    return Task.unlabeled_loader


def _check_pretext_recipe(recipe: dict, task, *, path, where: str) -> None:
    from viprepro.specs.recipe_keys import check_written_keys

    for key in sorted(set(recipe) - PRETEXT_RECIPE_KEYS):
        raise UserError(
            f"a pretext stage does not read {key!r} (its views and loss are the method's; it reads: "
            f"{', '.join(sorted(PRETEXT_RECIPE_KEYS))})",
            path=path,
            where=f"key '{where}.{key}'",
        )
    if "pretext" not in recipe:
        raise UserError("a pretext stage names its method in `pretext: {name: ...}`", path=path, where=f"key '{where}.pretext'")
    method = recipe.pop("pretext")
    try:
        check_written_keys(recipe, task, path=path, prefix=where)
        validate(recipe, task.schema("recipe"), path=path, where=where)
    finally:
        for key in set(recipe) - PRETEXT_RECIPE_KEYS:  # defaults of keys a pretext stage never reads
            del recipe[key]
        recipe["pretext"] = method
    check_pretext_method(method, path=path, where=f"{where}.pretext")


def check_pretext_method(method, *, path, where: str) -> None:
    """The method is one the self-supervised library trains, with only keys it reads."""
    from viprepro.training.selfsup import PRETEXT_METHODS, pretext_keys

    if not isinstance(method, dict) or method.get("name") not in PRETEXT_METHODS:
        name = method.get("name") if isinstance(method, dict) else method
        raise UserError(f"unknown pretext method {name!r} (known: {', '.join(PRETEXT_METHODS)})", path=path, where=f"key '{where}.name'")
    reads = set(pretext_keys(method["name"])) | {"name"}
    for key in sorted(set(method) - reads):
        raise UserError(
            f"pretext method {method['name']!r} does not use {key!r} (it reads: {', '.join(sorted(reads - {'name'}))})",
            path=path,
            where=f"key '{where}.{key}'",
        )
    from viprepro.training.selfsup.views import resolve

    try:  # the augmentation keys and values, checked by the library that reads them
        resolve(method)
    except ValueError as exc:
        named = re.search(r"key '([\w.]+)'", str(exc))
        raise UserError(str(exc), path=path, where=f"key '{where}.{named.group(1)}'" if named else f"key '{where}'") from None


def _check_inputs(stage: dict, index: int, seen: dict, task, *, path) -> None:
    where = f"stages.{index}"
    later = {}
    for role, name in inputs_of(stage):
        key = f"{where}.{role}.from"
        if name == stage["name"]:
            raise UserError(f"stage {name!r} names itself as its input", path=path, where=f"key '{key}'")
        if name not in seen:
            raise UserError(
                f"names stage {name!r}, which is not an earlier stage of this spec (stages run in the order written; "
                f"earlier: {', '.join(seen) or 'none'})",
                path=path,
                where=f"key '{key}'",
            )
        later[role] = later.get(role, []) + [seen[name][1]]
    if "init" in later:
        source = later["init"][0]
        if source["model"] != stage["model"]:
            raise UserError(
                f"init.from {source['name']!r} trained a {source['model']['name']} {source['model'].get('kwargs', {})}, "
                f"this stage builds a {stage['model']['name']} {stage['model'].get('kwargs', {})}: a backbone loads into its own architecture",
                path=path,
                where=f"key '{where}.init.from'",
            )
    if stage["kind"] == "distill":
        if "distill" not in stage or "teacher" not in stage:
            missing = "distill" if "distill" not in stage else "teacher"
            raise UserError(f"a distill stage states its {missing} (see docs/stages.md)", path=path, where=f"key '{where}.{missing}'")
        mix, teachers = stage["distill"], later.get("teacher", [])
        if mix["kd_weight"] > 0:
            for teacher in teachers:
                if teacher["kind"] not in WITH_CLASSIFIER:
                    raise UserError(
                        f"kd_weight needs class logits, and teacher {teacher['name']!r} is a {teacher['kind']} stage (a backbone "
                        "without a classifier): use feature distillation from it, or a teacher with a classifier",
                        path=path,
                        where=f"key '{where}.distill.kd_weight'",
                    )
        feature = mix.get("feature")
        if feature is not None:
            if len(teachers) > 1:
                raise UserError("feature distillation takes one teacher", path=path, where=f"key '{where}.distill.feature'")
            if feature["start_epoch"] >= stage["recipe"]["epochs"]:
                raise UserError(
                    f"start_epoch {feature['start_epoch']} is not before the stage's last epoch ({stage['recipe']['epochs']}): "
                    "the feature loss would never count",
                    path=path,
                    where=f"key '{where}.distill.feature.start_epoch'",
                )
        if mix["kd_weight"] == 0 and (feature is None or feature["weight"] == 0):
            raise UserError(
                "a distill stage with neither kd_weight nor a feature loss learns nothing from its teacher (make it a supervised stage)",
                path=path,
                where=f"key '{where}.distill'",
            )
    if stage["kind"] == "pseudo_label":
        if "pseudo_label" not in stage:
            raise UserError(
                "a pseudo_label stage names its labeller in `pseudo_label.from`", path=path, where=f"key '{where}.pseudo_label'"
            )
        source = later["pseudo_label"][0]
        if source["kind"] not in WITH_CLASSIFIER:
            raise UserError(
                f"stage {source['name']!r} is a {source['kind']} stage: it has no classifier to label images with",
                path=path,
                where=f"key '{where}.pseudo_label.from'",
            )
        check_unlabeled_images(task, stage["pseudo_label"]["images"], path=path, where=f"{where}.pseudo_label.images")


def check_unlabeled_images(task, images: str, *, path, where: str) -> None:
    """Refuse unlabeled images the task's official rules do not let a submission train on."""
    allowed = task.unlabeled_images
    if images in allowed:
        return
    refused = task.unlabeled_refused.get(images)
    reason = f": {refused}" if refused else f" (the task allows: {', '.join(allowed) or 'none'})"
    raise UserError(f"the {task.name} rules do not allow training on the {images!r} images{reason}", path=path, where=f"key '{where}'")


def pseudo_label_splits(spec: dict) -> set[str]:
    """Splits whose images a pseudo_label stage trains on (a claim on them is no claim)."""
    return {stage["pseudo_label"]["images"] for stage in stages_of(spec) or [] if stage["kind"] == "pseudo_label"}


def trained_splits(spec: dict) -> set[str]:
    """Every split any stage trains on, labelled or pseudo-labelled."""
    stages = stages_of(spec)
    if not stages:
        return set(spec["recipe"].get("train_splits", ["train"]))
    splits = pseudo_label_splits(spec)
    for stage in stages:
        splits |= set(stage["recipe"].get("train_splits", ["train"]))
    return splits
