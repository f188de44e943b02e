"""Pretext tasks as modules: `forward(views) -> scalar loss`, the backbone inside.

A pretext module is what a `pretext` stage trains with the engine's optimiser, schedule and
checkpoints; the weights the next stage takes are `pretext_backbone(module)`. Everything that
makes a run resume exactly is in `state_dict()`: MoCo's key encoder and its queue and queue
pointer are registered buffers/parameters, so a weights-only checkpoint continues a run as if
it had never stopped.

- `MoCo` (He et al. 2020; v2: Chen et al. 2020): query encoder (backbone + projection), a
  momentum copy as key encoder, a queue of past keys as negatives, InfoNCE with temperature.
  `margin` subtracts a constant from the positive cosine before the temperature (the additive
  margin of Zhao & Wen's `MoCo_smallbank`, 0.4 in their entry), which keeps pushing positives
  together when the queue is small.
- `SimCLR` (Chen et al. 2020): projection head, NT-Xent over the 2N views of a batch.
- `RotationPrediction` (Gidaris et al. 2018): a linear head predicts which of four rotations a
  view is.

Distributed (torch.distributed initialised, e.g. the engine under torchrun): MoCo gathers
the keys of every rank before enqueueing them and shuffles the key batch across ranks for
batch norm (MoCo's "shuffling BN": the key of a sample is normalised with statistics of other
samples than its query, so the encoder cannot find the positive through batch statistics);
SimCLR's negatives are the views of every rank, with gradients flowing back to their rank.
In one process, MoCo's `shuffle_groups: g` emulates g such ranks: queries are encoded in g
consecutive chunks and keys in g chunks of a random permutation, each chunk with its own batch
statistics; at the default 1 the whole key batch shares one set of statistics (what MoCo's
single-GPU runs do).
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from viprepro.training.selfsup import gather as comm
from viprepro.training.selfsup.views import resolve


def build_pretext(method: dict, backbone: nn.Module, feature_dim: int) -> nn.Module:
    """The pretext module of a stage's `pretext:` mapping around `backbone` (features of size `feature_dim`)."""
    name, settings, _ = resolve(method)
    _check_values(settings)
    if name in ("moco_v2", "moco_v1"):
        return MoCo(backbone, feature_dim, **settings)
    if name == "simclr":
        return SimCLR(backbone, feature_dim, **settings)
    return RotationPrediction(backbone, feature_dim)


def pretext_backbone(pretext: nn.Module) -> nn.Module:
    """The backbone whose weights the next stage takes (MoCo: the query encoder, never the key encoder)."""
    pretext = getattr(pretext, "module", pretext)  # DistributedDataParallel around it
    if not isinstance(pretext, (MoCo, SimCLR, RotationPrediction)):
        raise ValueError(f"not a pretext module: {type(pretext).__name__}")
    return pretext.backbone


def _check_values(settings: dict) -> None:
    positive_int = ("dim", "queue", "shuffle_groups")
    for key in positive_int:
        if key in settings and (not isinstance(settings[key], int) or isinstance(settings[key], bool) or settings[key] < 1):
            raise ValueError(f"key '{key}' must be a positive integer (got {settings[key]!r})")
    if "temperature" in settings and not settings["temperature"] > 0:
        raise ValueError(f"key 'temperature' must be positive (got {settings['temperature']!r})")
    if "momentum" in settings and not 0 <= settings["momentum"] < 1:
        raise ValueError(f"key 'momentum' must be in [0, 1) (got {settings['momentum']!r})")


def projection(feature_dim: int, dim: int, mlp: bool) -> nn.Module:
    """MoCo v2's / SimCLR's 2-layer MLP head (hidden size = feature size), or MoCo v1's linear one."""
    if not mlp:
        return nn.Linear(feature_dim, dim)
    return nn.Sequential(nn.Linear(feature_dim, feature_dim), nn.ReLU(inplace=True), nn.Linear(feature_dim, dim))


def info_nce_logits(q: torch.Tensor, k: torch.Tensor, queue: torch.Tensor, temperature: float, margin: float = 0.0) -> torch.Tensor:
    """MoCo's logits: column 0 the positive cosine q.k minus `margin`, then q against every queued key; over temperature.

    q, k: N x dim (L2-normalised); queue: dim x K."""
    positive = (q * k).sum(dim=1, keepdim=True) - margin
    negative = q @ queue
    return torch.cat([positive, negative], dim=1) / temperature


def info_nce(q: torch.Tensor, k: torch.Tensor, queue: torch.Tensor, temperature: float, margin: float = 0.0) -> torch.Tensor:
    """InfoNCE: cross-entropy of the positive (column 0) against the queue, batch mean."""
    logits = info_nce_logits(q, k, queue, temperature, margin)
    return F.cross_entropy(logits, torch.zeros(len(logits), dtype=torch.long, device=logits.device))


class MoCo(nn.Module):
    """MoCo v1/v2 around a backbone; `forward([queries, keys])` returns the InfoNCE loss.

    In training mode a forward first moves the key encoder towards the query encoder
    (parameters only: the key encoder's batch-norm buffers follow its own forward passes, as in
    MoCo), then encodes the keys and, after the loss, enqueues them. In eval mode nothing of the
    state changes, so a validation pass does not disturb training."""

    def __init__(
        self,
        backbone: nn.Module,
        feature_dim: int,
        *,
        dim: int = 128,
        queue: int = 4096,
        momentum: float = 0.999,
        temperature: float = 0.2,
        mlp: bool = True,
        margin: float = 0.0,
        shuffle_groups: int = 1,
    ):
        super().__init__()
        self.momentum, self.temperature, self.margin, self.shuffle_groups = momentum, temperature, margin, shuffle_groups
        self.backbone = backbone
        self.head = projection(feature_dim, dim, mlp)
        self.key_backbone = copy.deepcopy(backbone)
        self.key_head = copy.deepcopy(self.head)
        for parameter in (*self.key_backbone.parameters(), *self.key_head.parameters()):
            parameter.requires_grad = False
        self.register_buffer("queue", F.normalize(torch.randn(dim, queue), dim=0))
        self.register_buffer("queue_ptr", torch.zeros(1, dtype=torch.long))

    def _query_pairs(self):
        return zip((*self.backbone.parameters(), *self.head.parameters()), (*self.key_backbone.parameters(), *self.key_head.parameters()))

    @torch.no_grad()
    def momentum_update(self) -> None:
        """key <- m * key + (1 - m) * query, parameter by parameter."""
        for query, key in self._query_pairs():
            key.mul_(self.momentum).add_(query.detach(), alpha=1 - self.momentum)

    def _encode_queries(self, images: torch.Tensor) -> torch.Tensor:
        chunks = images.chunk(self.shuffle_groups) if self.shuffle_groups > 1 else (images,)
        return F.normalize(torch.cat([self.head(self.backbone(c)) for c in chunks]), dim=1)

    @torch.no_grad()
    def _encode_keys(self, images: torch.Tensor) -> torch.Tensor:
        def encode(batch):
            return F.normalize(self.key_head(self.key_backbone(batch)), dim=1)

        rank, world = comm.world()
        if world * self.shuffle_groups == 1:
            return encode(images)
        # Shuffling BN: one permutation of the global key batch (drawn on rank 0 from torch's
        # RNG), each rank encodes its share in `shuffle_groups` chunks, then the order is undone.
        everything = comm.gather(images)
        order = comm.broadcast_from_first(torch.randperm(len(everything)).to(images.device))
        mine = everything[order.view(world, -1)[rank]]
        keys = comm.gather(torch.cat([encode(c) for c in mine.chunk(self.shuffle_groups)]))
        restored = keys[torch.argsort(order)]
        return restored.view(world, -1, restored.shape[1])[rank]

    @torch.no_grad()
    def enqueue(self, keys: torch.Tensor) -> None:
        """Replace the oldest keys by `keys` (the keys of every rank), wrapping around the queue."""
        size = self.queue.shape[1]
        keys = keys[-size:].to(self.queue.dtype)
        pointer = int(self.queue_ptr)
        slots = (pointer + torch.arange(len(keys), device=self.queue.device)) % size
        self.queue[:, slots] = keys.T
        self.queue_ptr[0] = (pointer + len(keys)) % size

    def forward(self, views: list[torch.Tensor]) -> torch.Tensor:
        queries, keys_in = views[0], views[1]
        q = self._encode_queries(queries)
        if self.training:
            self.momentum_update()
        k = self._encode_keys(keys_in)
        loss = info_nce(q, k, self.queue.clone().detach(), self.temperature, self.margin)
        if self.training:
            self.enqueue(comm.gather(k))
        return loss


def nt_xent(z: torch.Tensor, temperature: float) -> torch.Tensor:
    """SimCLR's NT-Xent on this rank's 2n projections [first views; second views].

    Each of the 2n is an anchor whose positive is its other view; the negatives are the other
    2N - 2 views of the global batch (every rank's), so the mean over ranks equals the loss one
    process computes on the whole batch."""
    z = F.normalize(z, dim=1)
    rank, _ = comm.world()
    everything = comm.gather_with_grad(z)
    local = len(z)
    half = local // 2
    logits = z @ everything.T / temperature
    anchors = torch.arange(local, device=z.device)
    offset = rank * local
    logits[anchors, offset + anchors] = float("-inf")  # an anchor is not its own negative
    targets = offset + (anchors + half) % local
    return F.cross_entropy(logits, targets)


class SimCLR(nn.Module):
    """SimCLR around a backbone; `forward([view1, view2])` returns NT-Xent.

    Both views go through the backbone as one batch of 2n (as SimCLR does), so batch norm sees
    both views of every sample."""

    def __init__(self, backbone: nn.Module, feature_dim: int, *, dim: int = 128, temperature: float = 0.5):
        super().__init__()
        self.temperature = temperature
        self.backbone = backbone
        self.head = projection(feature_dim, dim, mlp=True)

    def forward(self, views: list[torch.Tensor]) -> torch.Tensor:
        return nt_xent(self.head(self.backbone(torch.cat(views[:2]))), self.temperature)


class RotationPrediction(nn.Module):
    """RotNet: a linear head on the features predicts the rotation; `forward(views)` with views[i] rotated i quarter turns."""

    def __init__(self, backbone: nn.Module, feature_dim: int):
        super().__init__()
        self.backbone = backbone
        self.head = nn.Linear(feature_dim, 4)

    @staticmethod
    def labels(batch: int, device=None) -> torch.Tensor:
        """The targets of the concatenated views: batch zeros, then batch ones, twos and threes."""
        return torch.arange(4, device=device).repeat_interleave(batch)

    def forward(self, views: list[torch.Tensor]) -> torch.Tensor:
        if len(views) != 4:
            raise ValueError(f"rotation prediction takes the 4 rotated views of each image (got {len(views)})")
        logits = self.head(self.backbone(torch.cat(views)))
        return F.cross_entropy(logits, self.labels(len(views[0]), logits.device))
