"""Library architectures as registry entries, always built from scratch.

torchvision models get weights=None (and weights_backbone=None where the builder takes it);
timm models get pretrained=False. Constructor arguments (`drop_rate`, `drop_path_rate`, ...)
come from the spec's `model.kwargs`; a wrong one is a UserError naming `model.kwargs`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

from viprepro.errors import UserError


def torchvision_from_scratch(name: str) -> Callable:
    """A builder `(num_classes, **kwargs) -> model` for a torchvision model, never pre-trained."""

    def build(num_classes: int, **kwargs):
        import torchvision

        builder = torchvision.models.get_model_builder(name)
        if "weights_backbone" in inspect.signature(builder).parameters:
            kwargs.setdefault("weights_backbone", None)
        if kwargs.get("weights_backbone") is not None or kwargs.get("weights") is not None:
            raise UserError("pre-trained weights are not allowed (weights / weights_backbone must stay null)", where="key 'model.kwargs'")
        return torchvision.models.get_model(name, weights=None, num_classes=num_classes, **kwargs)

    return build


def import_timm():
    """timm, imported with Hugging Face's hub offline (viprepro/__init__.py sets HF_HUB_OFFLINE)."""
    import timm

    return timm


def timm_from_scratch(name: str) -> Callable:
    """A builder `(num_classes, **kwargs) -> model` for a timm model: pretrained=False, no checkpoint."""

    def build(num_classes: int, **kwargs):
        import timm

        for key in ("pretrained", "pretrained_cfg", "pretrained_cfg_overlay", "checkpoint_path", "pretrained_strict"):
            if kwargs.get(key):
                raise UserError(f"'{key}' is not allowed: models are trained from scratch", where=f"key 'model.kwargs.{key}'")
            kwargs.pop(key, None)
        return timm.create_model(name, pretrained=False, num_classes=num_classes, **kwargs)

    return build


def from_library(name: str) -> Callable | None:
    """The from-scratch builder of a `torchvision/<name>` or `timm/<name>` registry name (None otherwise)."""
    library, _, bare = name.partition("/")
    if library == "torchvision" and bare:
        return torchvision_from_scratch(bare)
    if library == "timm" and bare:
        return timm_from_scratch(bare)
    return None


def call_builder(builder: Callable, name: str, **kwargs):
    """Build, turning a wrong constructor argument into a UserError that names the spec key."""
    try:
        return builder(**kwargs)
    except TypeError as exc:
        raise UserError(f"bad arguments for '{name}': {exc}", where="key 'model.kwargs'") from None
