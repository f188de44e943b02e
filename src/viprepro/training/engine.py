"""The training loop shared by every task: from scratch, seeded, checkpointed every epoch.

Exact resumption rests on one rule: everything random in an epoch is seeded from
(seed, member, epoch), and the state at an epoch boundary (weights, EMA weights, optimiser,
scheduler, AMP scaler, history) is saved whole. A run killed in epoch k restarts from the end
of epoch k-1 and then draws exactly the numbers the uninterrupted run drew.

Gradient accumulation (`accumulate_steps`) steps the optimiser, the schedule and the EMA once
every that many batches; at 1 (the default) the loop is the plain one.

Under torchrun (`run.context` with a world size above 1) the same loop runs in every process
as DistributedDataParallel (see viprepro.training.distributed): each rank trains on its share of each
single-process batch, rank 0 alone evaluates, writes the per-epoch state and the final
checkpoint, and every rank resumes from that state. With one process nothing of this runs.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from viprepro.jobs.determinism import derive_seed, seed_everything
from viprepro.tasks.base import Task
from viprepro.training import acceleration, checkpoint, distributed, stages
from viprepro.training.optim import build_optimizer, build_scheduler

log = logging.getLogger(__name__)


@dataclass
class TrainingRun:
    """Everything that identifies one training chain; its digest guards resumption."""

    task: Task
    spec: dict
    subset_dir: Path
    seed: int
    member: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    workers: int = 0
    identity: dict = field(default_factory=dict)
    context: distributed.Context = field(default_factory=distributed.Context)
    stage: stages.StagePlan | None = None  # one stage of a multi-stage spec (viprepro.training.stages)

    @property
    def recipe(self) -> dict:
        return self.stage.stage["recipe"] if self.stage else self.spec["recipe"]

    @property
    def model_spec(self) -> dict:
        return self.stage.stage["model"] if self.stage else self.spec["model"]

    @property
    def member_seed(self) -> int:
        return derive_seed(self.seed, self.member)


def initial_model(run: TrainingRun) -> torch.nn.Module:
    """The model before training: seeded from (seed, member) only, never pre-trained."""
    torch.manual_seed(run.member_seed)
    return run.task.build_model(run.spec["model"], run.subset_dir)


def train(
    run: TrainingRun,
    out: Path,
    state_dir: Path,
    *,
    on_epoch_end: Callable[[int, dict], None] | None = None,
    stop_after_epoch: int | None = None,
) -> dict:
    """Train one member and write its final checkpoint to `out`.

    `state_dir` holds the per-epoch resume state (`last.pt`); a state written for another
    run identity is ignored. `stop_after_epoch` exists for the kill-and-resume tests.
    """
    if run.stage is None and run.spec.get("stages"):
        from viprepro.errors import UserError

        raise UserError(f"{run.spec['name']} is a multi-stage spec: train it stage by stage (viprepro.training.stages.train_chain)")
    recipe = run.recipe
    epochs = recipe["epochs"]
    context = run.context
    if context.active:
        if run.stage is not None and run.stage.kind != "pretext":
            from viprepro.errors import UserError

            raise UserError(
                f"a {run.stage.kind} stage trains in one process (only pretext stages train in several: set distributed to 1 process)"
            )
        distributed.per_rank_batch(recipe, context.world_size)
    seed_everything(run.member_seed)
    built = None
    if run.stage is None:
        model = initial_model(run)
        initial_digest = checkpoint.state_digest(model.state_dict())
    else:  # the stage's module: a pretext model, a student with its teachers, or the task model
        stages.prepare_views(run.stage, run.task, run.subset_dir, state_dir)  # no-op when the audited job built them
        built = stages.build(run, run.stage)
        model, initial_digest = built.module, built.initial_digest
    if context.active and recipe.get("sync_batchnorm"):
        if run.device.type != "cuda":
            from viprepro.errors import UserError

            raise UserError(
                "torch's SyncBatchNorm runs on GPUs only: a distributed member on the CPU cannot synchronise "
                "batch-norm statistics (set it false, or train on CUDA)",
                where="recipe.sync_batchnorm",
            )
        model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
    model.to(run.device)
    if recipe.get("channels_last"):
        model.to(memory_format=acceleration.memory_format(model))

    generator = torch.Generator()
    if built is None:
        loaders = run.task.loaders(run.subset_dir, recipe, seed=run.member_seed, workers=run.workers, generator=generator)
    else:
        loaders = stages.loaders(run, run.stage, built, generator)
    if context.active:
        loaders.train = distributed.shard_loader(loaders.train, context)
    accumulate = recipe.get("accumulate_steps", 1)
    steps_per_epoch = max(1, math.ceil(len(loaders.train) / accumulate))
    optimizer = build_optimizer(model if built is None else built.parameters, recipe["optimizer"])
    ema = weight_ema(model, recipe.get("ema"))
    scheduler = build_scheduler(optimizer, recipe.get("lr_schedule", {"name": "constant"}), epochs, steps_per_epoch)
    precision = acceleration.precision(recipe, run.device.type)
    use_amp = precision.dtype is not None
    scaler = torch.amp.GradScaler(run.device.type if precision.scaler else "cuda", enabled=precision.scaler)

    history: list[dict] = []
    start_epoch = 0
    state_path = Path(state_dir) / "last.pt"
    if state_path.exists():
        state = checkpoint.load(state_path)
        if state.get("identity") == run.identity:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
            scaler.load_state_dict(state["scaler"])
            if ema is not None:
                ema.module.load_state_dict(state["ema"])
            history = state["history"]
            start_epoch = state["epoch"] + 1
            log.info("resuming from %s after epoch %d", state_path, state["epoch"] + 1)
        else:
            log.warning("ignoring %s: it belongs to another run", state_path)
    if built is not None and start_epoch == 0 and context.is_main:
        stages.save_backbone(run.stage, built, 0)  # a pretext stage's random init: the probe's epoch 0

    # What runs the batches: the model itself, or DDP around it (gradients averaged over
    # ranks), compiled when the recipe asks. Weights, evaluation and checkpoints use `model`.
    ddp = (
        torch.nn.parallel.DistributedDataParallel(model, device_ids=[run.device.index] if run.device.type == "cuda" else None)
        if context.active
        else None
    )
    trained = acceleration.compiled(ddp or model, recipe)

    for epoch in range(start_epoch, epochs):
        if context.active:  # per-rank streams: two ranks never draw the same augmentations
            torch.manual_seed(derive_seed(run.member_seed, epoch, 2, context.rank))
            generator.manual_seed(derive_seed(run.member_seed, epoch, 1, context.rank))
            loaders.train.batch_sampler.set_epoch(derive_seed(run.member_seed, epoch, 1))
            loss_scales = loaders.train.batch_sampler.loss_scales()
        else:
            torch.manual_seed(derive_seed(run.member_seed, epoch))
            generator.manual_seed(derive_seed(run.member_seed, epoch, 1))
        if built is None:
            model.train()
        else:
            stages.set_train_mode(run.stage, built)
        started = time.perf_counter()
        loss_sum = torch.zeros((), dtype=torch.float64)
        samples = 0
        batches = len(loaders.train)
        for index, batch in enumerate(loaders.train):
            steps_now = (index + 1) % accumulate == 0 or index + 1 == batches
            # DDP reduces gradients at every backward unless told not to: only at optimiser steps.
            with ddp.no_sync() if ddp is not None and not steps_now else _nothing():
                with torch.autocast(run.device.type, dtype=precision.dtype, enabled=use_amp):
                    if built is None:
                        loss = run.task.training_loss(trained, batch, recipe, run.device)
                    else:
                        loss = stages.loss(run, run.stage, built, trained, batch, epoch)
                if not torch.isfinite(loss):
                    raise FloatingPointError(f"loss became {loss.item()} in epoch {epoch + 1}: the recipe diverges")
                if index % accumulate == 0:
                    optimizer.zero_grad(set_to_none=True)
                weighted = loss * loss_scales[index] if context.active and loss_scales[index] != 1.0 else loss
                scaler.scale(weighted / accumulate if accumulate > 1 else weighted).backward()
            if steps_now:
                if recipe.get("grad_clip"):
                    scaler.unscale_(optimizer)
                    torch.nn.utils.clip_grad_norm_(model.parameters(), recipe["grad_clip"])
                scaler.step(optimizer)
                scaler.update()
                scheduler.step()
                if ema is not None:
                    ema.update(model, step=scheduler.last_epoch)
            size = _batch_size(batch) if not context.active or loss_scales[index] else 0  # a stand-in sample counts for nothing
            loss_sum += loss.detach().double().cpu() * size
            samples += size
        seconds = time.perf_counter() - started
        if context.active:  # the epoch's loss over every rank's samples
            total_loss, samples = distributed.all_reduce_sum(context, [float(loss_sum), float(samples)])
            loss_sum, samples = torch.tensor(total_loss, dtype=torch.float64), int(samples)
        metrics = {
            "epoch": epoch + 1,
            "train_loss": float(loss_sum / max(1, samples)),
            "lr": optimizer.param_groups[0]["lr"],
            "train_samples_per_s": samples / seconds if seconds > 0 else math.inf,
            "epoch_seconds": seconds,
        }
        if loaders.val is not None and context.is_main:  # rank 0 alone evaluates: the weights are the same everywhere
            evaluated = ema.module if ema is not None and recipe["ema"].get("evaluate", True) else model if built is None else built.model
            evaluated.eval()
            with torch.no_grad():
                metrics.update({f"val_{k}": v for k, v in run.task.evaluate(evaluated, loaders.val, run.device).items()})
        history.append(metrics)
        if built is not None and context.is_main:  # before the state: a resumed run never lacks an epoch's backbone
            stages.save_backbone(run.stage, built, epoch + 1)
        if context.is_main:
            log.info("epoch %d/%d %s", epoch + 1, epochs, " ".join(f"{k}={v:.4g}" for k, v in metrics.items() if k != "epoch"))
            # Random states and the sampler's order are functions of (seed, member, epoch, rank),
            # drawn again at every epoch start: the weights, optimiser, schedule, scaler and EMA
            # at the epoch boundary are the whole state, the same on every rank.
            checkpoint.save(
                {
                    "identity": run.identity,
                    "epoch": epoch,
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(),
                    "scaler": scaler.state_dict(),
                    **({"ema": ema.module.state_dict()} if ema is not None else {}),
                    "history": history,
                    **({"distributed": context.describe()} if context.active else {}),
                },
                state_path,
            )
        distributed.barrier(context)  # no rank runs ahead of a state that is not written yet
        if on_epoch_end and context.is_main:
            on_epoch_end(epoch + 1, metrics)
        if stop_after_epoch is not None and epoch + 1 >= stop_after_epoch and epoch + 1 < epochs:
            raise KeyboardInterrupt(f"stopped after epoch {epoch + 1} on request")

    output = model if built is None else built.model  # the weights later stages and prediction load
    final = {
        "format": "viprepro-checkpoint-1",
        "task": run.task.name,
        "submission": run.spec["name"],
        "model_spec": run.model_spec,
        "seed": run.seed,
        "member": run.member,
        "epochs": epochs,
        "identity": run.identity,
        "model": {k: v.detach().cpu() for k, v in output.state_dict().items()},
        "history": history,
        "initial_weights_digest": initial_digest,
        "train_splits": list(recipe.get("train_splits", ["train"])),
        "parameters": sum(p.numel() for p in output.parameters()),
        **(stages.final_entries(run.stage, built) if built is not None else {}),
    }
    final["final_weights_digest"] = checkpoint.state_digest(final["model"])
    if ema is not None:  # both sets of weights; `eval_weights` says which one evaluation and prediction use
        final["ema_model"] = {k: v.detach().cpu() for k, v in ema.module.state_dict().items()}
        final["ema_weights_digest"] = checkpoint.state_digest(final["ema_model"])
        final["ema_decay"] = recipe["ema"]["decay"]
        final["eval_weights"] = "ema" if recipe["ema"].get("evaluate", True) else "model"
    if context.active:
        final["distributed"] = context.describe()
    if context.is_main:
        checkpoint.save(final, out)
    distributed.barrier(context)
    return final


def weight_ema(model: torch.nn.Module, spec: dict | None):
    """timm's ModelEmaV3 of the model (a deep copy updated after every optimiser step), or None."""
    if not spec:
        return None
    from timm.utils import ModelEmaV3

    return ModelEmaV3(model, decay=spec["decay"], use_warmup=spec.get("warmup", False))


def load_trained_model(task: Task, checkpoint_path: Path, subset_dir: Path, device: torch.device) -> tuple[torch.nn.Module, dict]:
    """Rebuild a model from a final checkpoint (weights only, never code).

    A checkpoint trained with a weight EMA whose recipe evaluates the EMA (`eval_weights:
    ema`) gives the EMA weights: prediction then uses what validation used."""
    state = checkpoint.load(checkpoint_path)
    if state.get("format") != "viprepro-checkpoint-1":
        from viprepro.errors import UserError

        raise UserError("not a viprepro final checkpoint", path=checkpoint_path)
    model = task.build_model(state["model_spec"], subset_dir)
    model.load_state_dict(state["ema_model"] if state.get("eval_weights") == "ema" else state["model"])
    model.to(device).eval()
    return model, state


@contextlib.contextmanager
def _nothing():
    yield


def _batch_size(batch) -> int:
    first = batch[0] if isinstance(batch, (list, tuple)) else batch
    if torch.is_tensor(first):
        return first.shape[0]
    return len(first)
