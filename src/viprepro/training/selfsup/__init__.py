"""Self-supervised pre-training, feature evaluation and distillation for multi-stage recipes.

Pure torch/torchvision/timm, no pipeline: the stages of a spec (viprepro.steps) call these.
See docs/selfsup.md."""

from viprepro.training.selfsup.backbone import backbone_of, load_backbone_into
from viprepro.training.selfsup.distill import FeatureDistiller, kd_loss
from viprepro.training.selfsup.pretext import build_pretext, pretext_backbone
from viprepro.training.selfsup.probe import extract_features, knn_accuracy, linear_probe_accuracy, probe_accuracies
from viprepro.training.selfsup.views import PRETEXT_METHODS, augment_keys, pretext_keys, pretext_views

__all__ = [
    "FeatureDistiller",
    "extract_features",
    "knn_accuracy",
    "linear_probe_accuracy",
    "PRETEXT_METHODS",
    "augment_keys",
    "backbone_of",
    "build_pretext",
    "kd_loss",
    "load_backbone_into",
    "pretext_backbone",
    "pretext_keys",
    "probe_accuracies",
    "pretext_views",
]
