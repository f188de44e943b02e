"""Knowledge distillation: softened logits (Hinton et al. 2015) and feature maps (OFD, FitNets)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


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


# --- feature distillation ------------------------------------------------------------------


def _final_activation(block: nn.Module) -> nn.Module | None:
    """The activation that ends a residual block: timm's `act3`/`act2`, torchvision's shared `relu` (its last call)."""
    for name in ("act3", "act2", "relu"):
        if isinstance(getattr(block, name, None), nn.Module):
            return getattr(block, name)
    return None


def _last_bn(block: nn.Module) -> nn.BatchNorm2d | None:
    """The batch norm just before the block's residual sum: bn3 of a bottleneck, bn2 of a basic block."""
    for name in ("bn3", "bn2"):
        if isinstance(getattr(block, name, None), nn.BatchNorm2d):
            return getattr(block, name)
    return None


def residual_blocks(model: nn.Module) -> dict[str, nn.Module]:
    """The residual blocks (BasicBlock / Bottleneck of torchvision or timm) of `model`, in forward order."""
    return {
        name: module
        for name, module in model.named_modules()
        if type(module).__name__ in ("BasicBlock", "Bottleneck")
        and hasattr(module, "downsample")
        and _final_activation(module)
        and _last_bn(module)
    }


def stage_ends(model: nn.Module) -> list[str]:
    """The last block of every stage: each block followed by one that changes resolution or width (a `downsample`), and the last."""
    blocks = list(residual_blocks(model).items())
    return (
        [name for (name, _), (_, following) in zip(blocks, blocks[1:]) if following.downsample is not None] + [blocks[-1][0]]
        if blocks
        else []
    )


def ofd_margin(bn: nn.BatchNorm2d) -> torch.Tensor:
    """Per channel, the expected value of a pre-ReLU response that is negative (Heo et al. 2019, eq. 3).

    With the response ~ N(beta, gamma^2) as the batch norm's affine parameters describe it,
    E[x | x < 0] = beta - |gamma| phi(beta/|gamma|) / Phi(-beta/|gamma|); where fewer than 0.1 %
    of responses are negative the margin is -3 |gamma| (the paper's code does the same)."""
    sigma = bn.weight.detach().abs().double().clamp_min(1e-12)
    mean = bn.bias.detach().double()
    below = torch.special.ndtr(-mean / sigma)
    density = torch.exp(-((mean / sigma) ** 2) / 2) / math.sqrt(2 * math.pi)
    margin = torch.where(below > 1e-3, mean - sigma * density / below.clamp_min(1e-3), -3 * sigma)
    return margin.float().view(1, -1, 1, 1)


def ofd_distance(student: torch.Tensor, teacher: torch.Tensor, margin: torch.Tensor) -> torch.Tensor:
    """OFD's partial L2 between student and margin-ReLU'd teacher responses, summed.

    The teacher target is max(teacher, margin); a position where that target is not positive
    and the student is already below it costs nothing (the ReLU that follows erases the
    difference), everywhere else the squared difference counts."""
    target = torch.maximum(teacher, margin)
    counted = (student > target) | (target > 0)
    return ((student - target) ** 2 * counted).sum()


def _connector(student_channels: int, teacher_channels: int) -> nn.Sequential:
    """A 1x1 convolution and batch norm from the student's channels to the teacher's, He-initialised."""
    conv = nn.Conv2d(student_channels, teacher_channels, kernel_size=1, bias=False)
    nn.init.normal_(conv.weight, 0.0, math.sqrt(2.0 / teacher_channels))
    return nn.Sequential(conv, nn.BatchNorm2d(teacher_channels))


class _Capture:
    """Records a block's feature map during a forward: pre-activation (the input of its last activation call) or its output."""

    def __init__(self, block: nn.Module, pre_activation: bool):
        self.value = None
        if pre_activation:
            self.handle = _final_activation(block).register_forward_pre_hook(self._before)
        else:
            self.handle = block.register_forward_hook(self._after)

    def _before(self, module, inputs):
        self.value = inputs[0].clone()  # the activation may be in place; the last call of the block wins

    def _after(self, module, inputs, output):
        self.value = output

    def take(self) -> torch.Tensor:
        value, self.value = self.value, None
        return value


class FeatureDistiller(nn.Module):
    """A student trained against a frozen teacher's intermediate feature maps.

    `forward(images)` returns `(student_logits, distill_loss)`; the caller mixes the loss with
    the label loss and, if it wants, with `kd_loss` on the logits (`return_teacher_logits=True`
    gives the teacher's too). The module holds the student, the teacher and the connectors, so
    its state_dict resumes a distillation run exactly; the weights to keep are `.student`.

    kind="ofd" (Heo et al. 2019, "A Comprehensive Overhaul of Feature Distillation", what Zhao &
    Wen used): pre-ReLU maps at the end of every stage, a 1x1 conv + BN connector on the student
    side, the teacher's responses passed through the margin ReLU (`ofd_margin`, from the
    teacher's batch-norm parameters) and the partial L2 distance; stage i of n is weighted
    1 / 2^(n-1-i), so the deepest stage counts most. kind="fitnet" (Romero et al. 2015): the
    blocks' outputs (post-activation), the same connectors, plain squared L2, all stages
    weighted 1. Both losses are summed over positions and averaged over the batch.

    `layers`: None pairs the stage ends of both networks in order (they must have as many);
    otherwise a list of block names (the same in both) or of (student block, teacher block)
    pairs. The maps of a pair must have the same spatial size. Supported: residual networks of
    torchvision's and timm's BasicBlock/Bottleneck (torchvision ResNets and ResNeXts, this
    project's resnet_small and resnet50_fullconv, timm's resnet family); anything else is a
    ValueError. `teacher_mode`: "eval" keeps the teacher's batch-norm statistics fixed;
    "train" lets them follow the student's batches (Zhao & Wen's runs). The teacher never
    receives gradients. `connectors="identity"` (equal channels only) skips the connectors.
    """

    def __init__(
        self,
        student: nn.Module,
        teacher: nn.Module,
        *,
        kind: str = "ofd",
        layers: list | None = None,
        teacher_mode: str = "eval",
        connectors: str = "conv_bn",
    ):
        super().__init__()
        if kind not in ("ofd", "fitnet"):
            raise ValueError(f"unknown feature distillation kind '{kind}' (known: ofd, fitnet)")
        if teacher_mode not in ("eval", "train"):
            raise ValueError(f"teacher_mode must be 'eval' or 'train' (got {teacher_mode!r})")
        if connectors not in ("conv_bn", "identity"):
            raise ValueError(f"connectors must be 'conv_bn' or 'identity' (got {connectors!r})")
        self.kind, self.teacher_mode = kind, teacher_mode
        self.student, self.teacher = student, teacher
        for parameter in teacher.parameters():
            parameter.requires_grad = False
        pairs = self._pairs(layers)
        student_blocks, teacher_blocks = residual_blocks(student), residual_blocks(teacher)
        self.pairs = pairs
        links = []
        for index, (s_name, t_name) in enumerate(pairs):
            s_channels = _last_bn(student_blocks[s_name]).num_features
            t_channels = _last_bn(teacher_blocks[t_name]).num_features
            if connectors == "identity":
                if s_channels != t_channels:
                    raise ValueError(
                        f"identity connectors need equal channels: student '{s_name}' has {s_channels}, teacher '{t_name}' {t_channels}"
                    )
                links.append(nn.Identity())
            else:
                links.append(_connector(s_channels, t_channels))
            if kind == "ofd":
                self.register_buffer(f"margin{index}", ofd_margin(_last_bn(teacher_blocks[t_name])))
        self.connectors = nn.ModuleList(links)
        pre = kind == "ofd"
        self._student_maps = [_Capture(student_blocks[s], pre) for s, _ in pairs]
        self._teacher_maps = [_Capture(teacher_blocks[t], pre) for _, t in pairs]
        self.train(True)

    def _pairs(self, layers) -> list[tuple[str, str]]:
        for role, model in (("student", self.student), ("teacher", self.teacher)):
            if not residual_blocks(model):
                raise ValueError(
                    f"feature distillation supports residual networks of BasicBlock/Bottleneck blocks; the {role} "
                    f"({type(model).__name__}) has none (distil its logits with kd_loss instead)"
                )
        if layers is None:
            student_ends, teacher_ends = stage_ends(self.student), stage_ends(self.teacher)
            if len(student_ends) != len(teacher_ends):
                raise ValueError(
                    f"the student has {len(student_ends)} stages and the teacher {len(teacher_ends)}: "
                    "name the (student block, teacher block) pairs in `layers`"
                )
            return list(zip(student_ends, teacher_ends))
        pairs = [(entry, entry) if isinstance(entry, str) else tuple(entry) for entry in layers]
        for s_name, t_name in pairs:
            for role, model, name in (("student", self.student, s_name), ("teacher", self.teacher, t_name)):
                if name not in residual_blocks(model):
                    raise ValueError(
                        f"'{name}' is not a residual block of the {role} (blocks: {', '.join(list(residual_blocks(model))[:8])}, ...)"
                    )
        return pairs

    def remove_hooks(self) -> None:
        """Detach the feature hooks from both networks (the student is then a plain model again)."""
        for capture in (*self._student_maps, *self._teacher_maps):
            capture.handle.remove()

    def train(self, mode: bool = True):
        super().train(mode)
        self.teacher.train(mode and self.teacher_mode == "train")
        return self

    def layer_weights(self) -> list[float]:
        """OFD: 1/2^(n-1-i) for the i-th of n pairs; FitNet: 1 each."""
        n = len(self.pairs)
        return [1.0 / 2 ** (n - 1 - i) if self.kind == "ofd" else 1.0 for i in range(n)]

    def forward(self, images: torch.Tensor, *, return_teacher_logits: bool = False):
        with torch.no_grad():
            teacher_logits = self.teacher(images)
        teacher_maps = [capture.take() for capture in self._teacher_maps]
        student_logits = self.student(images)
        student_maps = [capture.take() for capture in self._student_maps]
        loss = student_logits.new_zeros(())
        for index, (s_map, t_map, weight) in enumerate(zip(student_maps, teacher_maps, self.layer_weights())):
            s_map = self.connectors[index](s_map)
            if s_map.shape != t_map.shape:
                raise ValueError(
                    f"student block '{self.pairs[index][0]}' gives maps of {tuple(s_map.shape[1:])} after its connector, "
                    f"teacher block '{self.pairs[index][1]}' {tuple(t_map.shape[1:])}: pair blocks of the same resolution"
                )
            t_map = t_map.detach()
            if self.kind == "ofd":
                distance = ofd_distance(s_map, t_map, getattr(self, f"margin{index}"))
            else:
                distance = ((s_map - t_map) ** 2).sum()
            loss = loss + weight * distance / len(images)
        if return_teacher_logits:
            return student_logits, loss, teacher_logits
        return student_logits, loss
