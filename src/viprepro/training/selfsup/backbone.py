"""A classification model split into backbone and classifier, and backbone weights put back.

A pretext stage trains the backbone of the very model the next stage classifies with, so the
weights carry over by parameter name: `backbone_of` replaces the classifier by an identity in
place (the remaining names are unchanged), and `load_backbone_into` copies such weights into a
freshly built classification model whose classifier keeps its fresh initialisation.

Supported: this project's models (`resnet_small`'s `head` ends in its Linear; the torchvision
ResNets, `resnet50_fullconv` included, have `fc`), torchvision models whose classifier is `fc`,
`classifier`, `head` or `heads` (a Linear, or a Sequential ending in one: VGG, MobileNet,
EfficientNet, ConvNeXt, DenseNet, ViT, Swin, ...), and timm models (`reset_classifier(0)`,
features of size `head_hidden_size` or `num_features`). Anything else is a ValueError.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

_CLASSIFIER_NAMES = ("fc", "classifier", "head", "heads")


def backbone_of(model: nn.Module) -> tuple[nn.Module, int]:
    """(model with its classifier replaced by identity, feature dimension); modifies `model` in place."""
    if getattr(model, "aux_logits", False):
        raise ValueError(f"{type(model).__name__} has auxiliary classifiers (aux_logits): build it with aux_logits=False to pre-train it")
    if hasattr(model, "reset_classifier") and hasattr(model, "num_features"):  # timm
        features = getattr(model, "head_hidden_size", None) or model.num_features
        model.reset_classifier(0)
        return model, int(features)
    for name in _CLASSIFIER_NAMES:
        module = getattr(model, name, None)
        if isinstance(module, nn.Linear):
            setattr(model, name, nn.Identity())
            return model, module.in_features
        if isinstance(module, nn.Sequential) and len(module) and isinstance(module[-1], nn.Linear):
            features = module[-1].in_features
            module[-1] = nn.Identity()
            return model, features
    raise ValueError(
        f"cannot split {type(model).__name__} into backbone and classifier: no timm reset_classifier and no Linear "
        f"classifier named {', '.join(_CLASSIFIER_NAMES)} (alone or last in a Sequential)"
    )


def backbone_keys(model: nn.Module) -> set[str]:
    """The state-dict keys of `model` that belong to its backbone (everything but the classifier)."""
    backbone, _ = backbone_of(copy.deepcopy(model))
    return set(backbone.state_dict())


def _selected(key: str, prefixes: list[str]) -> bool:
    return any(key == p or key.startswith(p.rstrip(".") + ".") for p in prefixes)


def load_backbone_into(model: nn.Module, backbone_state: dict, *, layers: list[str] | None = None, strict: bool = True) -> list[str]:
    """Copy backbone weights into a freshly built classification model; returns the names loaded.

    `layers` (parameter-name prefixes such as `stem` or `layer1`) select what is copied; None
    takes the whole backbone. The classifier is never loaded: it keeps the initialisation the
    model was built with. strict: every selected entry must exist in the model's backbone with
    the same shape, every prefix must select something, and without `layers` every backbone
    entry of the model must be given; not strict: what does not fit is skipped."""
    targets = model.state_dict()
    backbone = backbone_keys(model)
    chosen = {k: v for k, v in backbone_state.items() if layers is None or _selected(k, layers)}
    problems = []
    for prefix in layers or []:
        if not any(_selected(k, [prefix]) for k in backbone_state):
            problems.append(f"layer prefix '{prefix}' selects no backbone weight")
    loaded = []
    for key, value in chosen.items():
        if key not in backbone:
            problems.append(f"'{key}' is not a backbone weight of {type(model).__name__}")
        elif targets[key].shape != value.shape:
            problems.append(f"'{key}' has shape {tuple(value.shape)}, the model's {tuple(targets[key].shape)}")
        else:
            loaded.append(key)
    if layers is None:
        problems += [f"backbone weight '{k}' is missing" for k in sorted(backbone - set(chosen))]
    if strict and problems:
        raise ValueError(
            "cannot load the backbone: " + "; ".join(problems[:5]) + (f" (and {len(problems) - 5} more)" if len(problems) > 5 else "")
        )
    with torch.no_grad():
        for key in loaded:
            targets[key].copy_(backbone_state[key])
    order = list(targets)
    return sorted(loaded, key=order.index)
