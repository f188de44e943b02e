"""`viprepro spec import-timm`: a spec from the `args.yaml` that timm's train.py writes.

Every field is accounted for, in one of three ways:
- mapped: it becomes a spec key (the table below says which, with timm's own semantics:
  e.g. `color_jitter` is dropped when `aa` is set, because timm's transform factory does so);
- ignored: it only concerns logging, paths, devices or speed, or it is off (a null / false /
  zero / empty value of a feature viprepro lacks), or timm's code never reads it for the
  chosen option (`min_lr` of a step schedule); each is listed with the reason;
- unmapped: it changes training and no spec key expresses it. The import then fails listing
  them all, unless `allow_unmapped`, which records them under `unmapped:` in the spec (and
  so in the certificate): they were not applied.
Fields this importer does not know are unmapped: their relevance is unknown.

Both the timm 0.1.x field names (`drop_connect`, `opt_eps` ...) and timm 1.x ones are read.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from viprepro.errors import UserError

# timm 0.1.x default configs of the EfficientNets (native resolution, crop_pct): the versions
# the 2020 entries ran. timm 1.x's configs describe its newer weights and differ.
EFFICIENTNET_NATIVE = {
    "efficientnet_b0": (224, 0.875),
    "efficientnet_b1": (240, 0.882),
    "efficientnet_b2": (260, 0.890),
    "efficientnet_b3": (300, 0.904),
    "efficientnet_b4": (380, 0.922),
    "efficientnet_b5": (456, 0.934),
    "efficientnet_b6": (528, 0.942),
    "efficientnet_b7": (600, 0.949),
}
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
OPTIMIZERS = {
    "sgd": ("sgd", True),
    "nesterov": ("sgd", True),
    "momentum": ("sgd", False),
    "adam": ("adam", None),
    "adamw": ("adamw", None),
    "rmsprop": ("rmsprop", None),
    "rmsproptf": ("rmsprop_tf", None),
    "lamb": ("lamb", None),
}

# Fields that never change what is trained (logging, paths, devices, speed, bookkeeping).
NOT_TRAINING = {
    "data": "dataset path",
    "data_dir": "dataset path",
    "dataset": "dataset name",
    "output": "output path",
    "experiment": "run name",
    "log_interval": "logging",
    "recovery_interval": "recovery checkpoints",
    "save_images": "logging",
    "checkpoint_hist": "checkpoints kept",
    "local_rank": "process index",
    "workers": "loader processes",
    "pin_mem": "loader speed",
    "use_multi_epochs_loader": "loader speed",
    "no_prefetcher": "loader speed (the GPU prefetcher normalises and erases with the same transforms)",
    "prefetcher": "loader speed",
    "validation_batch_size_multiplier": "validation batch size",
    "validation_batch_size": "validation batch size",
    "model_ema_force_cpu": "device of the EMA copy",
    "num_gpu": "devices",
    "device": "device",
    "channels_last": "memory layout",
    "torchscript": "compilation",
    "eval_metric": "which checkpoint is saved as 'best' (viprepro uses the last epoch)",
    "no_resume_opt": "resume bookkeeping",
    "tta": "validation-time TTA during training (logging only)",
    "num_classes": "taken from the subset's classes",
    "log_wandb": "logging",
    "pretrained_path": "unused without pretrained",
    "dist_bn": "distributed training only (one process here)",
    "model_ema_warmup": None,
}


@dataclass
class Imported:
    spec: dict
    mapped: dict = field(default_factory=dict)
    ignored: dict = field(default_factory=dict)
    unmapped: dict = field(default_factory=dict)


def _off(value) -> bool:
    return value in (None, False, 0, 0.0, "", [], "none")


def import_timm_args(
    args: dict, *, name: str, claims: dict[str, float], split: str = "test", tolerance: float = 0.01, reference: str = "", source: str = ""
) -> Imported:
    if not isinstance(args, dict) or "model" not in args:
        raise UserError("not a timm train.py args.yaml (no 'model' field)", path=source or None)
    out = Imported(spec={})
    pending = dict(args)

    def take(key, default=None):
        return pending.pop(key, default)

    def mapped(key, value, target):
        out.mapped[key] = f"{value!r} -> {target}"

    def ignored(key, value, reason):
        out.ignored[key] = f"{value!r}: {reason}"

    def unmapped(key, value, reason):
        out.unmapped[key] = {"value": value, "why": reason}

    # --- model ------------------------------------------------------------------------------
    import timm

    model = take("model")
    if not timm.is_model(model):
        raise UserError(f"timm {timm.__version__} has no model '{model}'", path=source or None, where="field 'model'")
    kwargs = {}
    for key, target in (
        ("drop", "drop_rate"),
        ("drop_connect", "drop_path_rate"),
        ("drop_path", "drop_path_rate"),
        ("drop_block", "drop_block_rate"),
        ("bn_eps", "bn_eps"),
        ("bn_momentum", "bn_momentum"),
    ):
        value = take(key)
        if value is None:
            if key in args:
                ignored(key, value, "not set")
            continue
        kwargs[target] = value
        mapped(key, value, f"model.kwargs.{target}")
    if take("bn_tf"):
        kwargs.update(bn_eps=1e-3, bn_momentum=0.01)
        mapped("bn_tf", True, "model.kwargs.bn_eps 1e-3, bn_momentum 0.01 (TensorFlow's BatchNorm defaults)")
    elif "bn_tf" in args:
        ignored("bn_tf", False, "off")
    if "gp" in args:
        value = take("gp")
        if value:
            kwargs["global_pool"] = value
            mapped("gp", value, "model.kwargs.global_pool")
        else:
            ignored("gp", value, "model default")
    for key in ("pretrained", "initial_checkpoint", "resume", "start_epoch"):
        value = take(key)
        if key not in args:
            continue
        if _off(value):
            ignored(key, value, "off (from scratch, from epoch 0)")
        else:
            unmapped(key, value, "training started from saved weights or a saved state: not a from-scratch run of this recipe")

    # --- input and evaluation ---------------------------------------------------------------
    recipe: dict = {}
    unknowns: list[str] = []
    img_size, crop_pct = take("img_size"), take("crop_pct")
    cfg = timm.get_pretrained_cfg(model)
    cfg = cfg.to_dict() if cfg is not None and hasattr(cfg, "to_dict") else {}
    if img_size is None:
        if model in EFFICIENTNET_NATIVE:
            img_size = EFFICIENTNET_NATIVE[model][0]
            unknowns.append(
                f"input size: args.yaml leaves img_size null (the model's default); {img_size} is the timm 0.1.x "
                f"default of {model} (its native resolution)"
            )
        else:
            img_size = cfg.get("input_size", (3, 224, 224))[-1]
            unknowns.append(f"input size: args.yaml leaves img_size null; {img_size} is timm {timm.__version__}'s default for {model}")
    mapped("img_size", args.get("img_size"), f"recipe.input_size {img_size}")
    if crop_pct is None:
        crop_pct = EFFICIENTNET_NATIVE[model][1] if model in EFFICIENTNET_NATIVE else cfg.get("crop_pct", 0.875)
    recipe["input_size"] = int(img_size)
    recipe["eval_resize"] = int(math.floor(img_size / crop_pct))
    mapped("crop_pct", args.get("crop_pct"), f"recipe.eval_resize {recipe['eval_resize']} (crop_pct {crop_pct})")
    interpolation = take("interpolation")
    eval_interp = interpolation or cfg.get("interpolation", "bicubic")
    if eval_interp not in ("bilinear", "bicubic"):
        unmapped("interpolation", interpolation, f"evaluation interpolation {eval_interp!r} (viprepro has bilinear and bicubic)")
    else:
        recipe["eval_interpolation"] = eval_interp
        mapped("interpolation", interpolation, f"recipe.eval_interpolation {eval_interp}")
    for key, default in (("mean", IMAGENET_MEAN), ("std", IMAGENET_STD)):
        value = take(key)
        if value is None or tuple(value) == default:
            if key in args:
                ignored(key, value, "ImageNet normalisation, as viprepro's")
        else:
            unmapped(key, value, "a normalisation other than ImageNet's")

    # --- optimisation -----------------------------------------------------------------------
    recipe["epochs"] = int(take("epochs"))
    recipe["batch_size"] = int(take("batch_size"))
    mapped("epochs", recipe["epochs"], "recipe.epochs")
    mapped("batch_size", recipe["batch_size"], "recipe.batch_size")
    accumulate = take("grad_accum_steps")
    if accumulate and accumulate > 1:
        recipe["accumulate_steps"] = int(accumulate)
        mapped("grad_accum_steps", accumulate, "recipe.accumulate_steps")
    opt = str(take("opt", "sgd")).lower()
    if opt not in OPTIMIZERS:
        unmapped("opt", opt, "an optimiser viprepro does not have")
        optimizer = {"name": "sgd"}
    else:
        optimizer_name, nesterov = OPTIMIZERS[opt]
        optimizer = {"name": optimizer_name}
        if nesterov is not None:
            optimizer["nesterov"] = nesterov
        if optimizer_name in ("rmsprop", "rmsprop_tf"):
            optimizer["alpha"] = 0.9  # timm's factory
        mapped("opt", opt, f"recipe.optimizer.name {optimizer_name}" + (f", nesterov {nesterov}" if nesterov is not None else ""))
    optimizer["lr"] = float(take("lr"))
    mapped("lr", optimizer["lr"], "recipe.optimizer.lr")
    weight_decay = float(take("weight_decay", 0.0) or 0.0)
    optimizer["weight_decay"] = weight_decay
    if weight_decay:
        optimizer["no_decay_norm_bias"] = True  # timm's create_optimizer(filter_bias_and_bn=True)
    mapped("weight_decay", weight_decay, "recipe.optimizer.weight_decay (no decay on norm and bias parameters, as timm's factory)")
    momentum = take("momentum")
    if optimizer["name"] in ("sgd", "rmsprop", "rmsprop_tf"):
        optimizer["momentum"] = momentum if momentum is not None else 0.9
        mapped("momentum", momentum, "recipe.optimizer.momentum")
    elif "momentum" in args:
        ignored("momentum", momentum, f"{optimizer['name']} has no momentum")
    eps = take("opt_eps")
    if eps is not None:
        optimizer["eps"] = float(eps)
        mapped("opt_eps", eps, "recipe.optimizer.eps")
    elif "opt_eps" in args:
        ignored("opt_eps", eps, "the optimiser's default")
    betas = take("opt_betas")
    if betas is not None:
        optimizer["betas"] = list(betas)
        mapped("opt_betas", betas, "recipe.optimizer.betas")
    elif "opt_betas" in args:
        ignored("opt_betas", betas, "the optimiser's default")
    recipe["optimizer"] = optimizer
    clip = take("clip_grad")
    mode = take("clip_mode", "norm")
    if clip is not None:
        if mode == "norm":
            recipe["grad_clip"] = float(clip)
            mapped("clip_grad", clip, "recipe.grad_clip")
        else:
            unmapped("clip_grad", clip, f"gradient clipping mode {mode!r} (viprepro clips the norm)")
    elif "clip_grad" in args:
        ignored("clip_grad", clip, "off")
    if "clip_mode" in args and clip is None:
        ignored("clip_mode", mode, "no clipping")
    elif "clip_mode" in args and mode == "norm":
        mapped("clip_mode", mode, "recipe.grad_clip (norm)")

    # --- schedule ---------------------------------------------------------------------------
    sched = take("sched", "cosine")
    schedule = {"name": "constant", "per": "iteration" if take("sched_on_updates") else "epoch"}
    warmup_epochs, warmup_lr = take("warmup_epochs", 0), take("warmup_lr")
    min_lr, cooldown = take("min_lr"), take("cooldown_epochs")
    decay_epochs, decay_rate = take("decay_epochs"), take("decay_rate")
    if sched == "step":
        schedule.update(name="step", step_size=float(decay_epochs), gamma=float(decay_rate))
        mapped("decay_epochs", decay_epochs, "recipe.lr_schedule.step_size")
        mapped("decay_rate", decay_rate, "recipe.lr_schedule.gamma")
        for key, value in (("min_lr", min_lr), ("cooldown_epochs", cooldown)):
            if key in args:
                ignored(key, value, "not read by timm's step schedule (create_scheduler adds cool-down epochs to cosine/tanh only)")
    elif sched == "multistep":
        milestones = take("decay_milestones")
        # timm applies milestone m at epoch m - 1 (its historical convention); viprepro's follow torch's MultiStepLR
        schedule.update(name="multistep", milestones=[m - 1 for m in milestones or []], gamma=float(decay_rate))
        mapped("decay_milestones", milestones, "recipe.lr_schedule.milestones, each minus 1 (timm decays one epoch before torch)")
        mapped("decay_rate", decay_rate, "recipe.lr_schedule.gamma")
        for key, value in (("decay_epochs", decay_epochs), ("min_lr", min_lr), ("cooldown_epochs", cooldown)):
            if key in args:
                ignored(key, value, "not read by timm's multistep schedule")
    elif sched in ("cosine", "poly"):
        schedule.update(name="cosine" if sched == "cosine" else "polynomial", min_lr=float(min_lr or 0.0))
        if sched == "poly":
            schedule["power"] = float(decay_rate)
            mapped("decay_rate", decay_rate, "recipe.lr_schedule.power")
        elif "decay_rate" in args:
            ignored("decay_rate", decay_rate, "not read by the cosine schedule unless lr_cycle_decay is absent (timm 0.1.x)")
        if cooldown:  # timm trains cycle length + cool-down epochs, the last ones at min_lr
            schedule["cycle_epochs"] = float(recipe["epochs"])
            recipe["epochs"] += int(cooldown)
        mapped("cooldown_epochs", cooldown, "recipe.epochs (+ cool-down at min_lr) and recipe.lr_schedule.cycle_epochs")
        mapped("min_lr", min_lr, "recipe.lr_schedule.min_lr")
        for key, target in (("lr_cycle_mul", "cycle_mul"), ("lr_cycle_decay", "cycle_decay"), ("lr_cycle_limit", "cycle_limit")):
            value = take(key)
            if value is not None:
                schedule[target] = value
                mapped(key, value, f"recipe.lr_schedule.{target}")
        if "decay_epochs" in args:
            ignored("decay_epochs", decay_epochs, f"not read by the {sched} schedule")
    else:
        unmapped("sched", sched, "a schedule viprepro does not have (plateau, tanh)")
    if sched in ("step", "multistep", "cosine", "poly"):
        mapped("sched", sched, f"recipe.lr_schedule.name {schedule['name']}, per {schedule['per']} (timm's t_in_epochs)")
    if warmup_epochs:
        schedule["warmup_epochs"] = warmup_epochs
        schedule["warmup_lr"] = float(warmup_lr if warmup_lr is not None else 1e-4)
        mapped("warmup_epochs", warmup_epochs, "recipe.lr_schedule.warmup_epochs")
        mapped("warmup_lr", warmup_lr, "recipe.lr_schedule.warmup_lr")
        prefix = take("warmup_prefix")  # train.py's flag (default off); timm 0.1.x had no prefix
        if prefix:
            schedule["warmup_prefix"] = True
            mapped("warmup_prefix", prefix, "recipe.lr_schedule.warmup_prefix")
    else:
        for key, value in (("warmup_epochs", warmup_epochs), ("warmup_lr", warmup_lr)):
            if key in args:
                ignored(key, value, "no warm-up")
    for key in ("lr_noise", "lr_k_decay"):
        value = take(key)
        if key in args:
            if _off(value) or (key == "lr_k_decay" and value == 1.0):
                ignored(key, value, "off")
            else:
                unmapped(key, value, "lr noise / k-decay are not in viprepro's schedules")
    for key in ("lr_noise_pct", "lr_noise_std", "patience_epochs"):
        if key in args:
            value = take(key)
            ignored(
                key,
                value,
                "only read with lr_noise / the plateau schedule" if key != "patience_epochs" else "only read by the plateau schedule",
            )
    recipe["lr_schedule"] = schedule

    # --- EMA, loss, mixing ------------------------------------------------------------------
    if take("model_ema"):
        decay = float(take("model_ema_decay", 0.9998))
        recipe["ema"] = {"decay": decay, "evaluate": True}
        mapped("model_ema", True, "recipe.ema (timm's train.py validates the EMA weights)")
        mapped("model_ema_decay", decay, "recipe.ema.decay")
    else:
        for key in ("model_ema", "model_ema_decay"):
            if key in args:
                ignored(key, take(key), "no EMA")
    smoothing = float(take("smoothing", 0.0) or 0.0)
    mixup, cutmix = float(take("mixup", 0.0) or 0.0), float(take("cutmix", 0.0) or 0.0)
    cosine, focalcosine, jsd = take("cosine"), take("focalcosine"), take("jsd")
    if cosine or focalcosine:  # the order of that train.py: cosine, focalcosine, jsd, mixup, smoothing
        recipe["loss"] = {"name": "cosine", "xent": 0.1} if cosine else {"name": "focal_cosine"}
        mapped("cosine" if cosine else "focalcosine", True, f"recipe.loss {recipe['loss']}")
        if smoothing:
            ignored("smoothing", smoothing, f"not read: {'cosine' if cosine else 'focalcosine'} takes precedence in that train.py")
        if mixup or cutmix:
            unmapped("mixup", mixup, "mixed (soft) targets with the (focal) cosine loss of that train.py, which takes hard labels")
    elif jsd:
        unmapped("jsd", jsd, "the JSD loss of AugMix splits is not in viprepro")
    else:
        recipe["loss"] = {"name": "cross_entropy", "label_smoothing": smoothing}
        mapped("smoothing", smoothing, "recipe.loss.label_smoothing (timm's LabelSmoothingCrossEntropy / mixup targets)")
    for key in ("cosine", "focalcosine", "jsd"):
        if key in args and key not in out.mapped and key not in out.unmapped:
            ignored(key, args[key], "off")
    augment: dict = {"random_resized_crop": True}
    if mixup or cutmix:
        augment.update(mixup_alpha=mixup, cutmix_alpha=cutmix)
        mapped("mixup", mixup, "recipe.augment.mixup_alpha")
        prob, switch, mode = take("mixup_prob", 1.0), take("mixup_switch_prob", 0.5), take("mixup_mode", "batch")
        if prob != 1.0 or mode != "batch" or (mixup and cutmix and switch != 0.5):
            unmapped("mixup_prob/mixup_switch_prob/mixup_mode", [prob, switch, mode], "viprepro mixes every batch, switching 50/50")
    else:
        for key in ("mixup", "cutmix", "mixup_prob", "mixup_switch_prob", "mixup_mode", "cutmix_minmax"):
            if key in args:
                take(key)
                ignored(key, args[key], "no mixing")
    off = take("mixup_off_epoch")
    if off:
        unmapped("mixup_off_epoch", off, "switching mixing off after an epoch")
    elif "mixup_off_epoch" in args:
        ignored("mixup_off_epoch", off, "off")
    if "cutmix" in pending:
        ignored("cutmix", take("cutmix"), "off")

    # --- augmentation -----------------------------------------------------------------------
    for key, target in (("scale", "scale"), ("ratio", "ratio")):
        value = take(key)
        if value is not None:
            augment[target] = list(value)
            mapped(key, value, f"recipe.augment.{target}")
    train_interp = take("train_interpolation", "random")
    augment["interpolation"] = train_interp if train_interp in ("bilinear", "bicubic", "random") else "bilinear"
    if train_interp not in ("bilinear", "bicubic", "random"):
        unmapped("train_interpolation", train_interp, "an interpolation viprepro does not have")
    else:
        mapped("train_interpolation", train_interp, "recipe.augment.interpolation")
    hflip, vflip = take("hflip", 0.5), take("vflip", 0.0)
    augment["hflip"] = bool(hflip)
    if hflip not in (0, 0.5):
        unmapped("hflip", hflip, "viprepro flips with probability 0.5")
    elif "hflip" in args:
        mapped("hflip", hflip, "recipe.augment.hflip")
    if vflip:
        unmapped("vflip", vflip, "vertical flips")
    elif "vflip" in args:
        ignored("vflip", vflip, "off")
    aa, jitter = take("aa"), take("color_jitter")
    if aa:
        augment["timm_policy"] = aa
        mapped("aa", aa, "recipe.augment.timm_policy")
        if "color_jitter" in args:
            ignored("color_jitter", jitter, "not applied: timm's transform factory skips colour jitter when an auto-augment policy is set")
    else:
        if jitter:
            augment["color_jitter"] = float(jitter)
            mapped("color_jitter", jitter, "recipe.augment.color_jitter")
        elif "color_jitter" in args:
            ignored("color_jitter", jitter, "off")
        if "aa" in args:
            ignored("aa", aa, "off")
    reprob = float(take("reprob", 0.0) or 0.0)
    remode, recount = take("remode", "pixel"), int(take("recount", 1) or 1)
    if reprob:
        augment.update(random_erasing=reprob, random_erasing_mode=remode, random_erasing_count=recount)
        mapped("reprob", reprob, "recipe.augment.random_erasing")
        mapped("remode", remode, "recipe.augment.random_erasing_mode")
        mapped("recount", recount, "recipe.augment.random_erasing_count")
    else:
        for key, value in (("reprob", reprob), ("remode", remode), ("recount", recount)):
            if key in args:
                ignored(key, value, "no random erasing")
    splits = take("aug_splits", 0)
    if splits:
        unmapped("aug_splits", splits, "AugMix-style split batches")
    elif "aug_splits" in args:
        ignored("aug_splits", splits, "off")
    resplit = take("resplit")
    if "resplit" in args:
        ignored("resplit", resplit, "only read with aug_splits")
    recipe["augment"] = augment

    # --- precision, BN, seed ----------------------------------------------------------------
    amp = take("amp")
    if amp is not None:
        recipe["amp"] = bool(amp)
        mapped("amp", amp, "recipe.amp (mixed precision on CUDA)")
    for key in ("sync_bn", "split_bn", "dist_bn"):
        if key in pending:
            value = take(key)
            if _off(value) or key == "dist_bn":
                ignored(key, value, "off" if _off(value) else NOT_TRAINING[key])
            elif key == "sync_bn":
                recipe["sync_batchnorm"] = True
                mapped(key, value, "recipe.sync_batchnorm (a distributed member on CUDA)")
            else:
                unmapped(key, value, "batch-norm synchronisation or splitting")
    seed = take("seed", 42)
    mapped("seed", seed, "seed")
    recipe["train_splits"] = ["train"]
    unknowns.append(
        "training splits: timm's train.py reads <data>/train and validates on <data>/val, so train only; "
        "what the data folder held is not in args.yaml"
    )
    unknowns.append("which checkpoint made the submission (timm saves the last and the best by eval_metric): viprepro uses the last")

    for key in list(pending):
        if key in NOT_TRAINING and NOT_TRAINING[key]:
            ignored(key, take(key), NOT_TRAINING[key])
    for key in list(pending):
        value = take(key)
        if _off(value) and key not in ("epochs", "lr"):
            ignored(key, value, "off (unknown field, value null/false/0/empty)")
        else:
            unmapped(key, value, "unknown field: its effect on training is not known to this importer")

    out.spec = {
        "name": name,
        "task": "classification",
        "description": f"Imported from timm train.py arguments ({Path(source).name if source else 'args.yaml'}) by viprepro spec import-timm.",
        "reference": reference,
        "model": {"name": f"timm/{model}", "kwargs": kwargs},
        "seed": int(seed),
        "recipe": recipe,
        "claimed": {metric: {"value": value, "split": split, "tolerance": {"absolute": tolerance}} for metric, value in claims.items()},
        "unknowns": unknowns,
    }
    if out.unmapped:
        out.spec["unmapped"] = {k: v["value"] for k, v in out.unmapped.items()}
    return out


def render(imported: Imported) -> str:
    """The spec as YAML, headed by the mapping and the ignored fields as comments."""
    import yaml

    lines = ["# Written by `viprepro spec import-timm`. Field by field:"]
    lines += [f"#   {key}: {text}" for key, text in imported.mapped.items()]
    lines += ["# Ignored (logging, paths, devices, speed, or off):"]
    lines += [f"#   {key}: {text}" for key, text in imported.ignored.items()]
    if imported.unmapped:
        lines += ["# UNMAPPED (changes training, not expressible, NOT applied; listed under `unmapped:`):"]
        lines += [f"#   {key}: {v['value']!r}: {v['why']}" for key, v in imported.unmapped.items()]
    return "\n".join(lines) + "\n" + yaml.safe_dump(imported.spec, sort_keys=False, default_flow_style=None, width=110)
