"""torchvision architectures as registry entries, always built from scratch (weights=None)."""

from __future__ import annotations

from typing import Callable


def torchvision_from_scratch(name: str) -> Callable:
    """A builder `(num_classes, **kwargs) -> model` for a torchvision model, never pre-trained."""

    def build(num_classes: int, **kwargs):
        import torchvision

        return torchvision.models.get_model(name, weights=None, num_classes=num_classes, **kwargs)

    return build
