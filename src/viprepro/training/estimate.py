"""`viprepro estimate SPEC`: what a full-scale rerun will cost, measured before it starts.

A full-scale rerun can take thousands of GPU-hours (a 3rd-place 2020 entry trained
ten EfficientNet-B4 models for 450 epochs). This builds the spec's real model and
times a few training steps (forward, loss, backward, optimiser step) and inference passes on
synthetic tensors of the spec's input size, at small batch sizes, on the device at hand.
On a GPU a step is modelled as a fixed cost plus a cost per sample (the line through the two
batch sizes); on a CPU, which one sample keeps busy, as a cost per sample (every iteration
divided by its batch). That is taken to the spec's batch size and multiplied out by the
official split sizes, the epochs, the members and the seeds:

    member  = epochs x (ceil(train / batch) x train step + ceil(val / batch) x inference step)
    seed    = members x member + members x ceil(test x views / batch) x inference step
    total   = seeds x seed;   wall on N devices = ceil(members x seeds / N) x member + ceil(seeds / N) x inference

(`val` is 0 when the recipe trains on train+val: no validation pass then.) The uncertainty
is the same sum with the fastest and the slowest measured iterations in place of the medians.
What is not measured: data loading and decoding (synthetic tensors), checkpoint writing, and
the start-up of each job; a data loader that keeps up with the device adds nothing.

On a CPU, inputs above `PROBE_PIXELS` per sample (128x128; clips: frames x pixels) are probed
smaller, so that the estimate takes seconds, and the per-sample cost is scaled by the ratio of
pixels (convolutions cost in proportion to them); the output says so. For light models
(MobileNets) a small probe is dominated by per-layer overheads, so this overstates their cost;
on a GPU the spec's own sizes are probed. A GPU asked for but absent is replaced by the CPU
with its times divided by a stated device factor (`--device-factor`).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

PROBE_PIXELS = 16_384  # per sample on a CPU (x frames for video); larger inputs are probed scaled down
DEFAULT_DEVICE_FACTOR = 20.0  # a data-centre GPU against this 2-core CPU: stated, not measured
# Batch sizes timed: two on a GPU (fixed + per-sample cost), one on a CPU (per-sample cost).
# Never 1: batch norm refuses a batch of one sample where pooling leaves one value per channel.
PROBE_BATCHES = {"cuda": (2, 4), "cpu": (2,)}


@dataclass
class Timing:
    """Measured seconds per iteration at each probe batch size, and peak memory above the start (MB)."""

    seconds: dict[int, list[float]]
    peak_mb: dict[int, float] = field(default_factory=dict)
    proportional: bool = False  # a step costs the same per sample at any batch size (CPUs)

    def at(self, batch: int, pick=statistics.median, scale: float = 1.0) -> float:
        """Seconds of one iteration at `batch`, per-sample part x `scale`: the line through the two
        probes (a fixed cost plus one per sample: a GPU idles at small batches), or, if
        `proportional`, `batch` x the picked per-sample time of all iterations (a CPU is kept
        busy by one sample; two noisy points 1 sample apart would tilt the line anywhere)."""
        if self.proportional:
            return pick([t / b for b, times in self.seconds.items() for t in times]) * scale * batch
        (b1, t1), (b2, t2) = sorted((b, pick(s)) for b, s in self.seconds.items())[:2]
        per_sample = max(0.0, (t2 - t1) / (b2 - b1))
        fixed = max(0.0, t1 - per_sample * b1)
        return fixed + per_sample * scale * batch

    def memory_at(self, batch: int, scale: float = 1.0, fixed_mb: float = 0.0) -> float:
        """Peak MB at `batch`: with one probe, `fixed_mb` (weights, gradients, optimiser state)
        plus the rest of the probe's peak per sample; with two, the line through them."""
        if not self.peak_mb:
            return float("nan")
        if len(self.peak_mb) == 1:
            ((b1, m1),) = self.peak_mb.items()
            return fixed_mb + max(0.0, m1 - fixed_mb) / b1 * scale * batch
        (b1, m1), (b2, m2) = sorted(self.peak_mb.items())[:2]
        per_sample = max(0.0, (m2 - m1) / (b2 - b1))
        return max(0.0, m1 - per_sample * b1) + per_sample * scale * batch


@dataclass
class Workload:
    """The counts a spec implies at full scale."""

    epochs: float
    batch: int
    train: int
    val: int  # validated every epoch (0 when val is trained on)
    test: int
    test_views: int  # forward passes per test sample (test clips, flip TTA)
    members: int
    seeds: int


def workload(spec: dict) -> Workload:
    from viprepro.tasks import get_task

    recipe, task = spec["recipe"], get_task(spec["task"])
    sizes = task.full_scale_splits  # the official split sizes at full scale
    splits = recipe.get("train_splits", ["train"])
    views = task.inference_views(recipe)
    if recipe.get("tta_hflip"):
        views *= 2
    return Workload(
        epochs=recipe["epochs"],
        batch=recipe["batch_size"],
        train=sum(sizes[s] for s in splits),
        val=0 if "val" in splits else sizes["val"],
        test=sizes["test"],
        test_views=views,
        members=spec.get("ensemble", 1),
        seeds=spec.get("extra_seeds", 0) + 1,
    )


@dataclass
class Cost:
    """Seconds (median, fastest, slowest) of each part of a rerun."""

    member: tuple[float, float, float]
    inference: tuple[float, float, float]  # one seed's test predictions, every member
    seed: tuple[float, float, float]
    total: tuple[float, float, float]
    peak_mb: float

    def wall(self, work: Workload, devices: int) -> tuple[float, ...]:
        jobs = work.members * work.seeds
        return tuple(math.ceil(jobs / devices) * m + math.ceil(work.seeds / devices) * i for m, i in zip(self.member, self.inference))


def cost(
    work: Workload,
    train: Timing,
    infer: Timing,
    *,
    train_scale: float = 1.0,
    infer_scale: float = 1.0,
    device_factor: float = 1.0,
    fixed_mb: float = 0.0,
) -> Cost:
    """The arithmetic of the module docstring; exact given the timings (tested with injected ones)."""
    steps = math.ceil(work.train / work.batch)
    val_steps = math.ceil(work.val / work.batch)
    test_steps = math.ceil(work.test * work.test_views / work.batch)
    parts = []
    for pick in (statistics.median, min, max):
        step = train.at(work.batch, pick, train_scale) / device_factor
        forward = infer.at(work.batch, pick, infer_scale) / device_factor
        member = work.epochs * (steps * step + val_steps * forward)
        inference = work.members * test_steps * forward
        seed = work.members * member + inference
        parts.append((member, inference, seed, work.seeds * seed))
    # (median, lowest, highest): a line through two noisy points can tilt either way
    member, inference, seed, total = ((parts[0][i], min(p[i] for p in parts), max(p[i] for p in parts)) for i in range(4))
    peak = max(train.memory_at(work.batch, train_scale, fixed_mb), infer.memory_at(work.batch, infer_scale, fixed_mb / 3))
    return Cost(member=member, inference=inference, seed=seed, total=total, peak_mb=peak)


# ---------------------------------------------------------------- measuring


class PeakRSS:
    """Highest resident memory of this process while the block runs (a thread polls /proc)."""

    def __init__(self):
        self.peak = 0
        self._stop = threading.Event()

    @staticmethod
    def now() -> int:
        try:
            with open("/proc/self/statm") as fh:
                return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except OSError:
            return 0

    def _poll(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.now())
            self._stop.wait(0.002)

    def __enter__(self) -> PeakRSS:
        self.peak = self.now()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.now())


@dataclass
class Probe:
    """How to build a spec's model and a synthetic batch of its input, possibly scaled down."""

    task: str
    build: object  # () -> model
    train_batch: object  # (batch size) -> batch as the task's training_loss takes it
    infer_batch: object  # (batch size) -> model input for a forward pass
    train_scale: float  # real pixels per sample / probed pixels per sample
    infer_scale: float
    described: str


def scaled_image(height: int, width: int, limit: float) -> tuple[int, int, float]:
    """(height, width) to probe and the ratio real / probed pixels."""
    pixels = height * width
    if pixels <= limit:
        return height, width, 1.0
    s = math.sqrt(limit / pixels)
    h, w = max(32, round(height * s)), max(32, round(width * s))
    return h, w, pixels / (h * w)


def probe_for(spec: dict, device) -> Probe:
    """The task's probe of the spec's model (`Task.cost_probe`), scaled down on a CPU."""
    from viprepro.tasks import get_task

    limit = PROBE_PIXELS if device.type == "cpu" else math.inf
    return get_task(spec["task"]).cost_probe(spec, device, limit)


def _sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(spec: dict, device, *, iterations: int = 2) -> tuple[Timing, Timing, Probe, float]:
    """(training step timing, inference timing, the probe, MB of the model and optimiser state)."""
    import torch

    from viprepro.tasks import get_task
    from viprepro.training.optim import build_optimizer

    task = get_task(spec["task"])
    probe = probe_for(spec, device)
    recipe = spec["recipe"]
    before = PeakRSS.now()
    torch.manual_seed(0)
    model = probe.build().to(device)
    optimizer = build_optimizer(model, recipe["optimizer"])
    use_amp = bool(recipe.get("amp")) and device.type == "cuda"
    train, infer = Timing({}, proportional=device.type == "cpu"), Timing({}, proportional=device.type == "cpu")
    for batch_size in PROBE_BATCHES["cpu" if device.type == "cpu" else "cuda"]:
        batch = probe.train_batch(batch_size)
        model.train()
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        times = []
        with PeakRSS() as peak:
            for index in range(iterations + 1):  # the first is a warm-up (allocations, kernel choice)
                started = time.perf_counter()
                with torch.autocast(device.type, enabled=use_amp):
                    loss = task.training_loss(model, batch, recipe, device)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                _sync(device)
                if index:
                    times.append(time.perf_counter() - started)
        train.seconds[batch_size] = times
        train.peak_mb[batch_size] = (torch.cuda.max_memory_allocated(device) if device.type == "cuda" else peak.peak - before) / 2**20
        model.eval()
        inputs = probe.infer_batch(batch_size)
        times = []
        with PeakRSS() as peak, torch.no_grad():
            for index in range(iterations + 1):
                started = time.perf_counter()
                model(inputs)
                _sync(device)
                if index:
                    times.append(time.perf_counter() - started)
        infer.seconds[batch_size] = times
        infer.peak_mb[batch_size] = (peak.peak - before) / 2**20 if device.type != "cuda" else train.peak_mb[batch_size]
    model_mb = sum(p.numel() * p.element_size() for p in model.parameters()) / 2**20
    return train, infer, probe, model_mb


# ---------------------------------------------------------------- reporting


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:,.1f}"


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 3 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def render(
    spec: dict,
    work: Workload,
    result: Cost,
    *,
    device_name: str,
    note: str,
    devices: list[int],
    train: Timing,
    infer: Timing,
    probe_text: str,
) -> str:
    unit = "GPU-hours" if device_name.startswith("cuda") else "CPU-hours"
    lines = [
        f"viprepro estimate: {spec['name']} ({spec['task']}, {spec['model']['name']}) on {device_name}",
        *([note] if note else []),
        f"probe: {probe_text}; batches {', '.join(map(str, sorted(train.seconds)))}, "
        f"{len(next(iter(train.seconds.values())))} timed iterations each after a warm-up",
        "measured here (s per iteration): "
        + "; ".join(
            f"{stage} at batch {b}: {', '.join(f'{t:.3f}' for t in timing.seconds[b])}"
            for stage, timing in (("train", train), ("inference", infer))
            for b in sorted(timing.seconds)
        ),
        f"workload: {work.epochs:g} epochs x {math.ceil(work.train / work.batch):,} steps of {work.batch} "
        f"({work.train:,} training samples), validation of {work.val:,} per epoch, test {work.test:,} x {work.test_views} view(s); "
        f"{work.members} member(s) x {work.seeds} seed(s)",
        "",
        f"{'':<26}{unit:>26}" + "".join(f"{f'wall, {n} device(s)':>24}" for n in devices),
    ]
    rows = [
        ("per member (train + val)", result.member, None),
        ("inference (one seed)", result.inference, None),
        (f"per seed ({work.members} member(s))", result.seed, None),
        (f"total ({work.seeds} seed(s))", result.total, "wall"),
    ]
    for label, (mid, low, high), wall in rows:
        text = f"{_hours(mid)} [{_hours(low)}-{_hours(high)}]"
        walls = ""
        if wall:
            for n in devices:
                w = result.wall(work, n)
                walls += " " + f"{_duration(w[0]) + ' [' + _duration(w[1]) + '-' + _duration(w[2]) + ']':>23}"
        lines.append(f"{label:<26} {text:>25}{walls}")
    lines += [
        "",
        f"peak memory per job (resident, extrapolated to batch {work.batch}): {result.peak_mb:,.0f} MB",
        "[low-high]: the same sums with the fastest and the slowest measured iterations; "
        "not counted: data loading, checkpoints, job start-up",
    ]
    return "\n".join(lines)


def estimate(
    spec_path: Path,
    *,
    device: str = "auto",
    device_factor: float = DEFAULT_DEVICE_FACTOR,
    iterations: int = 2,
    devices: list[int] | None = None,
) -> dict:
    import torch

    from viprepro.specs.load import load_spec

    spec = load_spec(spec_path)
    if spec.get("kind") == "external":
        from viprepro.errors import UserError

        raise UserError("an external submission runs its own commands: nothing to probe", path=spec_path)
    want_gpu = device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())
    note, factor = "", 1.0
    if want_gpu and not torch.cuda.is_available():
        note = (
            f"NOTE: {device} asked for, but no GPU is present: CPU timings divided by a device factor of {device_factor:g} "
            f"(stated, not measured: --device-factor)"
        )
        run_on, factor, device_name = torch.device("cpu"), device_factor, f"{device} (CPU / {device_factor:g})"
    else:
        run_on = torch.device("cuda" if want_gpu and device == "auto" else device if want_gpu else "cpu")
        device_name = str(run_on) if run_on.type == "cuda" else f"cpu ({torch.get_num_threads()} threads)"
    train, infer, probe, model_mb = measure(spec, run_on, iterations=iterations)
    work = workload(spec)
    result = cost(
        work, train, infer, train_scale=probe.train_scale, infer_scale=probe.infer_scale, device_factor=factor, fixed_mb=3 * model_mb
    )  # weights, gradients, optimiser state
    probe_text = probe.described
    if probe.train_scale != 1 or probe.infer_scale != 1:
        probe_text += f" (probed {1 / probe.train_scale:.2f} of the pixels; per-sample cost scaled by {probe.train_scale:.2f})"
    text = render(
        spec, work, result, device_name=device_name, note=note, devices=devices or [1, 8], train=train, infer=infer, probe_text=probe_text
    )
    return {
        "text": text,
        "spec": spec["name"],
        "device": device_name,
        "device_factor": factor,
        "workload": asdict(work),
        "seconds": {"member": result.member, "inference": result.inference, "seed": result.seed, "total": result.total},
        "peak_mb": result.peak_mb,
        "model_mb": model_mb,
        "measured": {"train": {str(k): v for k, v in train.seconds.items()}, "inference": {str(k): v for k, v in infer.seconds.items()}},
    }


def main(argv: list[str] | None = None) -> int:
    from viprepro.errors import UserError

    parser = argparse.ArgumentParser(prog="viprepro estimate", description=__doc__.split("\n")[0])
    parser.add_argument("specs", nargs="+", type=Path, help="submission spec(s) (config/submissions/...yaml)")
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (a GPU if present)")
    parser.add_argument(
        "--device-factor",
        type=float,
        default=DEFAULT_DEVICE_FACTOR,
        help="how many times faster the GPU asked for is than this CPU, when no GPU is present",
    )
    parser.add_argument("--iterations", type=int, default=2, help="timed iterations per probe batch (after one warm-up)")
    parser.add_argument("--gpus", type=int, nargs="+", default=[1, 8], help="device counts for the wall-time columns")
    parser.add_argument("--json", type=Path, help="also write the estimates as JSON")
    args = parser.parse_args(argv)
    if args.iterations < 1 or args.device_factor <= 0 or min(args.gpus) < 1:
        parser.error("--iterations, --device-factor and --gpus must be positive")
    if len(args.specs) > 1:  # one process per spec: resident memory freed by one model is not returned to the system
        import subprocess

        results, failed = [], 0
        for path in args.specs:
            with __import__("tempfile").TemporaryDirectory() as tmp:
                part = Path(tmp) / "estimate.json"
                command = [
                    sys.executable,
                    "-m",
                    "viprepro.training.estimate",
                    str(path),
                    "--device",
                    args.device,
                    "--device-factor",
                    str(args.device_factor),
                    "--iterations",
                    str(args.iterations),
                    "--gpus",
                    *map(str, args.gpus),
                    "--json",
                    str(part),
                ]
                failed |= subprocess.run(command).returncode
                results += json.loads(part.read_text()) if part.is_file() else []
        if args.json:
            from viprepro.files.fileio import write_json

            write_json(args.json, results)
        return 1 if failed else 0
    results = []
    try:
        for path in args.specs:
            started = time.perf_counter()
            result = estimate(path, device=args.device, device_factor=args.device_factor, iterations=args.iterations, devices=args.gpus)
            print(result["text"] + f"\n(measured in {time.perf_counter() - started:.1f} s)\n", flush=True)
            results.append(result)
    except UserError as exc:
        print(f"viprepro estimate: error: {exc.message}", file=sys.stderr)
        return 1
    if args.json:
        from viprepro.files.fileio import write_json

        write_json(args.json, [{k: v for k, v in r.items() if k != "text"} for r in results])
    return 0


if __name__ == "__main__":
    sys.exit(main())
