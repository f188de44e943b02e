"""Knowledge distillation: softened logits (Hinton et al. 2015) and feature maps (OFD, FitNets)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def kd_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """KL(softmax(t / T) || softmax(s / T)) * T^2, mean over the batch.

    The T^2 keeps the gradient's size independent of T (Hinton et al. 2015), so the weight that
    mixes it with the label loss means the same at every temperature. The teacher is a target:
    no gradient flows into it."""
    if not temperature > 0:
        raise ValueError(f"the distillation temperature must be positive (got {temperature!r})")
    student = F.log_softmax(student_logits / temperature, dim=1)
    teacher = F.log_softmax(teacher_logits.detach() / temperature, dim=1)
    return F.kl_div(student, teacher, reduction="batchmean", log_target=True) * temperature**2
