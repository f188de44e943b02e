"""What one stage of a multi-stage spec trains: its module, its data, its loss, its output.

The engine (viprepro.training.engine) runs every stage with the same loop, checkpoints and
exact resume; a `StagePlan` tells it what differs per kind (viprepro.specs.stages):

- pretext: `build_pretext(method, backbone, dim)` of a freshly built task model, trained on
  `Task.unlabeled_loader` (images only, the method's views, read through a path-opaque view
  of the train split: viprepro.training.image_view); its output is the backbone.
- supervised: the task model (from scratch, or with an earlier stage's backbone loaded into
  the layers `init.layers`, `init.freeze` frozen, `init.lr_multipliers` on the lr), the task's
  loaders and loss.
- distill: a student like a supervised stage plus frozen teachers loaded weights-only from
  earlier stages: label loss, KL on softened logits, feature distillation (FeatureDistiller).
- pseudo_label: before training, the `from` stage's model labels the unlabeled split the
  rules allow (`Task.unlabeled_loader` with the task's evaluation transform, in order, through
  a path-opaque view of that split); the confident ones join the training set
  (`Task.pseudo_labelled_loaders`) and are written to pseudo_labels.json.

Every model is first built from scratch from (seed, member) exactly as a single-stage run
builds it; the digests of that fresh build, of the weights training starts from, and of
every input loaded go into the stage's record, so the weights audit can rebuild them in a
fresh process and follow the chain (viprepro.judging.fresh_build, viprepro.judging.evidence).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from viprepro.errors import UserError
from viprepro.training import checkpoint


@dataclass
class StagePlan:
    """One stage of a member's chain: the spec's stage and the checkpoints of its inputs by stage name."""

    stage: dict
    inputs: dict[str, Path] = field(default_factory=dict)
    backbones_dir: Path | None = None  # pretext: per-epoch backbones for the probe (epoch_000.pt = the random init)
    pseudo_labels_path: Path | None = None  # pseudo_label: where the labelled set is written (pseudo_labels.json)
    image_views: dict = field(default_factory=dict)  # split -> ImageView (prepare_views)

    @property
    def kind(self) -> str:
        return self.stage["kind"]

    @property
    def unlabeled_split(self) -> str | None:
        """The split this stage reads without labels: pretext the train split, pseudo_label its `images`."""
        if self.kind == "pretext":
            return "train"
        return self.stage["pseudo_label"]["images"] if self.kind == "pseudo_label" else None


def prepare_views(plan: StagePlan, task, subset_dir: Path, state_dir: Path, *, manifest: dict | None = None, built: bool = False) -> list:
    """Build the path-opaque view of the split the stage reads unlabeled (once per job, before
    training: the audited job builds it before its file recording starts) under the state folder.
    `built`: rank 0 of a distributed member built it; the other ranks only describe it."""
    split = plan.unlabeled_split
    if split is None or split in plan.image_views:
        return list(plan.image_views.values())
    from viprepro.files.subset_manifest import read_manifest
    from viprepro.training.image_view import build_view

    if plan.kind == "pseudo_label":  # checked before any image of the split is linked or read
        from viprepro.specs.stages import check_unlabeled_images

        # the spec was checked when it was loaded; the job checks the object it was handed again
        check_unlabeled_images(task, split, path=None, where=f"{plan.stage['name']}.pseudo_label.images")
    manifest = manifest if manifest is not None else read_manifest(subset_dir)
    plan.image_views[split] = build_view(subset_dir, manifest, split, Path(state_dir) / "images" / split, built=built)
    return list(plan.image_views.values())


@dataclass
class Built:
    """The trained module and what the record says about where its weights came from."""

    module: torch.nn.Module
    model: torch.nn.Module  # the task model (or the pretext backbone) whose weights are the stage's output
    fresh_digest: str
    initial_digest: str
    loaded: list[dict]
    parameters: list
    teachers: list[torch.nn.Module] = field(default_factory=list)
    pseudo: dict | None = None


def input_state(path: Path, *, role: str, stage: str) -> tuple[dict, str, str]:
    """(weights, digest, kind) of an earlier stage's final checkpoint, loaded weights-only.

    The digest is recomputed from the weights loaded (never read from the file), so the
    record says what was really loaded; the weights are those the stage evaluated (EMA or not)."""
    state = checkpoint.load(path)
    if state.get("format") != "viprepro-checkpoint-1" or state.get("stage") != stage:
        raise UserError(f"not the final checkpoint of stage {stage!r} ({role} input)", path=path)
    weights = state["ema_model"] if state.get("eval_weights") == "ema" else state["model"]
    return weights, checkpoint.state_digest(state["model"]), state.get("stage_kind", "supervised")


def fresh_model(task, model_spec: dict, subset_dir: Path, member_seed: int) -> torch.nn.Module:
    """The from-scratch build every stage starts from: seeded from (seed, member) only, as `engine.initial_model`."""
    torch.manual_seed(member_seed)
    return task.build_model(model_spec, subset_dir)


def fresh_pretext(task, stage: dict, subset_dir: Path, member_seed: int) -> torch.nn.Module:
    from viprepro.training.selfsup import backbone_of, build_pretext

    backbone, dim = backbone_of(fresh_model(task, stage["model"], subset_dir, member_seed))
    method = stage["recipe"]["pretext"]
    return build_pretext(method, backbone, dim)


def load_init(model: torch.nn.Module, init: dict, weights: dict, *, kind: str) -> list[str]:
    """Load an earlier stage's backbone into `model` (the layers `init.layers`); returns the names loaded."""
    from viprepro.training.selfsup import load_backbone_into

    layers = None if init.get("layers", "all") == "all" else list(init["layers"])
    return load_backbone_into(model, weights, layers=layers, strict=layers is None and kind == "pretext")


def initial_weights(task, stage: dict, subset_dir: Path, member_seed: int, inputs: dict[str, Path]) -> tuple[torch.nn.Module, str, list]:
    """(model, digest of its fresh build, loaded inputs) before training: shared by the engine and the fresh-process rebuild."""
    if stage["kind"] == "pretext":
        module = fresh_pretext(task, stage, subset_dir, member_seed)
        return module, checkpoint.state_digest(module.state_dict()), []
    model = fresh_model(task, stage["model"], subset_dir, member_seed)
    fresh = checkpoint.state_digest(model.state_dict())
    loaded = []
    if stage.get("init"):
        source = stage["init"]["from"]
        weights, digest, kind = input_state(inputs[source], role="init", stage=source)
        names = load_init(model, stage["init"], weights, kind=kind)
        loaded.append({"role": "init", "stage": source, "digest": digest, "parameters_loaded": len(names)})
    return model, fresh, loaded


def _groups(model: torch.nn.Module, stage: dict, base_lr: float):
    """The model itself, or its trainable parameters in lr groups: `init.freeze` prefixes get no
    gradient, `init.lr_multipliers` scale the lr (the longest matching prefix wins)."""
    init = stage.get("init") or {}
    frozen = tuple(init.get("freeze", []))
    multipliers = sorted((init.get("lr_multipliers") or {}).items(), key=lambda item: -len(item[0]))
    groups: dict[float, list] = {}
    for name, parameter in model.named_parameters():
        if frozen and name.startswith(frozen):
            parameter.requires_grad_(False)
            continue
        factor = next((x for prefix, x in multipliers if name.startswith(prefix)), 1.0)
        groups.setdefault(factor, []).append(parameter)
    if not multipliers:
        return model  # build_optimizer groups a module as a single-stage run does (frozen ones never get a gradient)
    return [{"params": ps, "lr": base_lr * factor} for factor, ps in sorted(groups.items())]


def build(run, plan: StagePlan) -> Built:
    """The stage's module, seeded and loaded as the record will say."""
    task, stage, recipe = run.task, plan.stage, plan.stage["recipe"]
    if plan.kind == "pretext":
        from viprepro.training.selfsup import pretext_backbone

        module, fresh, _ = initial_weights(task, stage, run.subset_dir, run.member_seed, plan.inputs)
        return Built(module, pretext_backbone(module), fresh, fresh, [], module)
    model, fresh, loaded = initial_weights(task, stage, run.subset_dir, run.member_seed, plan.inputs)
    initial = checkpoint.state_digest(model.state_dict())
    parameters = _groups(model, stage, recipe["optimizer"]["lr"])
    built = Built(model, model, fresh, initial, loaded, parameters)
    if plan.kind == "distill":
        _add_teachers(built, run, plan)
    if plan.kind == "pseudo_label":
        built.pseudo = pseudo_labels(run, plan, built)
    return built


def _teacher(run, plan: StagePlan, name: str) -> tuple[torch.nn.Module, dict]:
    from viprepro.specs.stages import stage_named

    source = stage_named(run.spec, name)
    weights, digest, _ = input_state(plan.inputs[name], role="teacher", stage=name)
    teacher = run.task.build_model(source["model"], run.subset_dir)  # every weight is overwritten: no seed needed
    if source["kind"] == "pretext":
        load_init(teacher, {"layers": "all"}, weights, kind="pretext")
    else:
        teacher.load_state_dict(weights)
    for parameter in teacher.parameters():
        parameter.requires_grad_(False)
    return teacher, {"role": "teacher", "stage": name, "digest": digest}


def _add_teachers(built: Built, run, plan: StagePlan) -> None:
    from viprepro.specs.stages import inputs_of

    mode = plan.stage["teacher"].get("mode", "eval")
    for _, name in (item for item in inputs_of(plan.stage) if item[0] == "teacher"):
        teacher, entry = _teacher(run, plan, name)
        teacher.train(mode == "train")
        built.teachers.append(teacher)
        built.loaded.append(entry)
    feature = plan.stage["distill"].get("feature")
    if feature is not None:
        from viprepro.training.selfsup import FeatureDistiller

        distiller = FeatureDistiller(built.model, built.teachers[0], kind=feature["kind"], layers=feature["layers"], teacher_mode=mode)
        known = {id(p) for p in built.model.parameters()}
        extra = [p for p in distiller.parameters() if p.requires_grad and id(p) not in known]  # the connectors
        if isinstance(built.parameters, torch.nn.Module):
            built.parameters = distiller  # the frozen teacher's parameters never get a gradient
        else:
            built.parameters.append({"params": extra, "lr": plan.stage["recipe"]["optimizer"]["lr"]})
        built.module = distiller
    else:
        built.module = _Student(built.model, built.teachers)


class _Student(torch.nn.Module):
    """Student and frozen teachers in one module, so the per-epoch state holds them all."""

    def __init__(self, student: torch.nn.Module, teachers: list[torch.nn.Module]):
        super().__init__()
        self.student = student
        self.teachers = torch.nn.ModuleList(teachers)

    def forward(self, images):
        return self.student(images), None


def pseudo_labels(run, plan: StagePlan, built: Built) -> dict:
    """The `from` stage's prediction for every image of the unlabeled split, in the split's order;
    those at or above `threshold` (compared as the float the file holds) are kept. Returns what
    the pseudo_labels.json file holds; images are named by index and content digest, never path.
    The split was checked against the task's rules by `prepare_views`, before any image was read."""
    from viprepro.files.fileio import canonical_digest, write_json
    from viprepro.specs.stages import stage_named

    settings = plan.stage["pseudo_label"]
    images = plan.image_views[settings["images"]]  # prepare_views checked the split against the task's rules
    name, threshold = settings["from"], settings["threshold"]
    source = stage_named(run.spec, name)
    weights, digest, _ = input_state(plan.inputs[name], role="pseudo_label", stage=name)
    labeller = run.task.build_model(source["model"], run.subset_dir)
    labeller.load_state_dict(weights)
    labeller.to(run.device).eval()
    loader = run.task.unlabeled_loader(images, plan.stage["recipe"], None, workers=run.workers, generator=None, shuffle=False)
    predictions = []
    with torch.no_grad():
        for batch in loader:
            inputs = batch[0] if isinstance(batch, (list, tuple)) else batch
            probabilities = torch.softmax(labeller(inputs.to(run.device)).float(), dim=1).cpu()
            for confidence, label in zip(*probabilities.max(dim=1)):
                index = len(predictions)  # the threshold is applied to the float written to the file
                predictions.append({"index": index, "sha256": images.sha256[index], "label": int(label), "confidence": float(confidence)})
    for prediction in predictions:
        prediction["kept"] = prediction["confidence"] >= threshold
    kept = [p for p in predictions if p["kept"]]
    indices, labels = [p["index"] for p in kept], [p["label"] for p in kept]
    built.loaded.append({"role": "pseudo_label", "stage": name, "digest": digest})
    pseudo = {
        "format": "viprepro-pseudo-labels-1",
        "stage": plan.stage["name"],
        "from": name,
        "from_weights_digest": digest,
        "split": settings["images"],
        "threshold": threshold,
        "images": len(predictions),
        "kept": len(kept),
        "digest": canonical_digest({"indices": indices, "labels": labels}),
        "indices": indices,
        "labels": labels,
        "predictions": predictions,
    }
    if plan.pseudo_labels_path is not None:
        write_json(plan.pseudo_labels_path, pseudo)
    return pseudo


def loaders(run, plan: StagePlan, built: Built, generator: torch.Generator):
    """The stage's data: images only for a pretext stage, the task's loaders otherwise (plus pseudo-labels)."""
    from viprepro.tasks.base import Loaders

    recipe = plan.stage["recipe"]
    if plan.kind == "pretext":
        from viprepro.training.selfsup import pretext_views

        views = pretext_views(recipe["pretext"], recipe["input_size"])
        images = plan.image_views["train"]
        train = run.task.unlabeled_loader(images, recipe, views, workers=run.workers, generator=generator, shuffle=True)
        return Loaders(train=train, val=None, train_size=len(train.dataset))
    if plan.kind == "pseudo_label":
        images = plan.image_views[built.pseudo["split"]]
        return run.task.pseudo_labelled_loaders(
            run.subset_dir, recipe, built.pseudo, images, seed=run.member_seed, workers=run.workers, generator=generator
        )
    return run.task.loaders(run.subset_dir, recipe, seed=run.member_seed, workers=run.workers, generator=generator)


class _Capture(torch.nn.Module):
    """Hands the task's loss the student's logits and keeps what distillation needs."""

    def __init__(self, module: torch.nn.Module):
        super().__init__()
        self.inner = module
        self.images = self.logits = self.feature_loss = None

    def forward(self, images):
        self.images = images
        self.logits, self.feature_loss = self.inner(images)
        return self.logits


def loss(run, plan: StagePlan, built: Built, trained: torch.nn.Module, batch, epoch: int) -> torch.Tensor:
    """The stage's training loss for one batch (epoch is 0-based)."""
    recipe = plan.stage["recipe"]
    if plan.kind == "pretext":
        views = [view.to(run.device, non_blocking=True) for view in (batch if isinstance(batch, (list, tuple)) else [batch])]
        return trained(views)
    if plan.kind != "distill":
        return run.task.training_loss(trained, batch, recipe, run.device)
    from viprepro.training.selfsup import kd_loss

    mix = plan.stage["distill"]
    capture = _Capture(trained)
    total = mix["label_weight"] * run.task.training_loss(capture, batch, recipe, run.device)
    if mix["kd_weight"]:
        with torch.no_grad():
            teacher_logits = torch.stack([teacher(capture.images) for teacher in built.teachers]).mean(dim=0)
        total = total + mix["kd_weight"] * kd_loss(capture.logits, teacher_logits, mix["kd_temperature"])
    feature = mix.get("feature")
    if feature is not None and epoch >= feature["start_epoch"]:
        total = total + feature["weight"] * capture.feature_loss
    return total


def set_train_mode(plan: StagePlan, built: Built) -> None:
    """module.train() flips the teachers too: put them back in the stage's teacher mode."""
    built.module.train()
    if plan.kind == "distill":
        mode = plan.stage["teacher"].get("mode", "eval")
        for teacher in built.teachers:
            teacher.train(mode == "train")


def save_backbone(plan: StagePlan, built: Built, epoch: int) -> None:
    """Pretext: the backbone after `epoch` epochs (0 = the random init), for the probe job."""
    if plan.kind != "pretext" or plan.backbones_dir is None:
        return
    weights = {k: v.detach().cpu() for k, v in built.model.state_dict().items()}
    checkpoint.save({"epoch": epoch, "stage": plan.stage["name"], "backbone": weights}, Path(plan.backbones_dir) / f"epoch_{epoch:03d}.pt")


def final_entries(plan: StagePlan, built: Built) -> dict:
    """What the final checkpoint adds for a stage: which stage, its kind, and what it loaded."""
    entries = {"stage": plan.stage["name"], "stage_kind": plan.kind, "fresh_weights_digest": built.fresh_digest, "inputs": built.loaded}
    if built.pseudo is not None:
        entries["pseudo_labels"] = {k: v for k, v in built.pseudo.items() if k not in ("indices", "labels", "predictions", "format")}
    return entries


def train_chain(task, spec: dict, subset_dir: Path, out_dir: Path, *, seed: int, member: int = 0, identity: dict | None = None) -> dict:
    """Every stage of one member in order, each from the outputs of the stages it names:
    {stage name: final checkpoint dict}; checkpoints in `out_dir/stage_<name>/model.pt`.

    The pipeline runs one job per stage (rules/stages.smk); this is the same chain in one
    process, for tests and scripts."""
    from viprepro.specs.stages import inputs_of
    from viprepro.training import engine

    finals, paths = {}, {}
    for stage in spec["stages"]:
        folder = Path(out_dir) / f"stage_{stage['name']}"
        plan = StagePlan(
            stage,
            {name: paths[name] for _, name in inputs_of(stage)},
            backbones_dir=folder / "backbones" if stage["kind"] == "pretext" else None,
            pseudo_labels_path=folder / "pseudo_labels.json" if stage["kind"] == "pseudo_label" else None,
        )
        run = engine.TrainingRun(
            task=task,
            spec=spec,
            subset_dir=Path(subset_dir),
            seed=seed,
            member=member,
            identity={**(identity or {}), "seed": seed, "member": member, "stage": stage["name"]},
            stage=plan,
        )
        paths[stage["name"]] = folder / "model.pt"
        finals[stage["name"]] = engine.train(run, paths[stage["name"]], folder / "state")
    return finals
