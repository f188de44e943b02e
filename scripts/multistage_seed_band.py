"""Seed band, probe and ablation of a multi-stage spec on the embedded default, in one process per call.

    ATEN_CPU_CAPABILITY=default python scripts/multistage_seed_band.py --workdir /tmp/band_default \\
        --spec config/submissions/classification_multistage_cpu.yaml \\
        --ablation config/submissions/classification_resnet_small.yaml --seeds 0 1 2 3 4

For each seed it trains the spec's stages in order (viprepro.training.stages.train_chain: the
same engine, checkpoints and seeding as the pipeline's stage jobs), predicts and scores the
test split like the pipeline, probes every pretext stage's per-epoch backbones (linear probe and
k-NN on val; epoch 0 = random init), and trains the ablation spec (the same supervised recipe
without the pretext stage) on the same seed. It writes
WORKDIR/results/<task>/<submission>/seed_<s>/scores/scores.json (the layout
scripts/seed_band_figures.py reads) and WORKDIR/multistage.json (probe rows, stage times).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import time
from pathlib import Path

import torch

from viprepro.files.schemas_io import read_yaml, validate
from viprepro.jobs.determinism import apply_level
from viprepro.specs.load import load_spec
from viprepro.steps.probe import probe
from viprepro.tasks import get_task
from viprepro.training import engine
from viprepro.training.stages import train_chain


def score(task, spec, checkpoint: Path, subset, gt: Path, out: Path) -> float:
    model, _ = engine.load_trained_model(task, checkpoint, subset, torch.device("cpu"))
    submission = out / task.submission_filename
    submission.parent.mkdir(parents=True, exist_ok=True)
    task.predict([model], subset, spec["recipe"], submission, device=torch.device("cpu"), workers=0)
    return task.score(gt, submission, out / "scores", mode="strict", options={})[task.main_metric.key]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", required=True, type=Path)
    parser.add_argument("--spec", required=True, type=Path)
    parser.add_argument("--ablation", type=Path, default=None)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--config", type=Path, default=Path("config/config.yaml"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    apply_level("strict")
    spec = load_spec(args.spec)
    task = get_task(spec["task"])
    dataset = read_yaml(args.config)["datasets"][task.name]["synthetic"]
    data = args.workdir / "results/data" / task.name
    if not (data / "subset").exists():
        options = dict(dataset["options"])
        validate(options, task.schema("synthetic"))  # the schema's defaults, as the pipeline fills them
        made = task.synthesize(data / "synthetic", seed=dataset["seed"], options=options)
        task.subset(made["source"], made["manifests"], data / "subset", data / "hidden", link="hardlink", options={})
    subset, gt = data / "subset", task.hidden_ground_truth(data / "hidden")
    report_path = args.workdir / "multistage.json"
    report = json.loads(report_path.read_text()) if report_path.exists() else {}
    report["cpu_capability"] = torch.backends.cpu.get_cpu_capability()
    report["aten_cpu_capability"] = os.environ.get("ATEN_CPU_CAPABILITY", "")
    for seed in args.seeds:
        seed_dir = args.workdir / "results" / task.name / spec["name"] / f"seed_{seed}"
        started, cpu = time.perf_counter(), {"start": time.process_time()}
        finals = train_chain(task, copy.deepcopy(spec), subset, seed_dir / "member_0", seed=seed)
        cpu["stages"] = time.process_time()
        stage_seconds = {name: sum(h["epoch_seconds"] for h in final["history"]) for name, final in finals.items()}
        last = spec["stages"][-1]["name"]
        top1 = score(task, spec, seed_dir / "member_0" / f"stage_{last}" / "model.pt", subset, gt, seed_dir)
        cpu["score"] = time.process_time()
        probes = {
            stage["name"]: probe(
                task,
                stage,
                subset,
                seed_dir / "member_0" / f"stage_{stage['name']}" / "backbones",
                torch.device("cpu"),
                workers=0,
                knn_k=20,
                seed=seed,
            )
            for stage in spec["stages"]
            if stage["kind"] == "pretext"
        }
        cpu["probe"] = time.process_time()
        entry = {
            "top1": top1,
            "stage_seconds": stage_seconds,
            "wall_seconds": time.perf_counter() - started,
            # CPU seconds of this process (one torch thread): every stage, the test prediction, the probes
            "cpu_seconds": {
                "stages": cpu["stages"] - cpu["start"],
                "predict_score": cpu["score"] - cpu["stages"],
                "probe": cpu["probe"] - cpu["score"],
            },
            "probes": probes,
        }
        if args.ablation:
            ablation = load_spec(args.ablation)
            ablation_dir = args.workdir / "results" / task.name / ablation["name"] / f"seed_{seed}"
            run = engine.TrainingRun(
                task=task, spec=ablation, subset_dir=subset, seed=seed, identity={"spec": ablation["name"], "seed": seed}
            )
            cpu_started = time.process_time()
            final = engine.train(run, ablation_dir / "member_0" / "model.pt", ablation_dir / "member_0" / "state")
            entry["ablation"] = {
                "cpu_seconds": time.process_time() - cpu_started,
                "submission": ablation["name"],
                "top1": score(task, ablation, ablation_dir / "member_0" / "model.pt", subset, gt, ablation_dir),
                "seconds": sum(h["epoch_seconds"] for h in final["history"]),
            }
        report.setdefault("seeds", {})[str(seed)] = entry
        report_path.write_text(json.dumps(report, indent=1))
        rows = next(iter(probes.values()), [])
        print(
            f"seed {seed}: top1 {top1:.4f}"
            + (f" (ablation {entry['ablation']['top1']:.4f})" if args.ablation else "")
            + (
                f"; linear probe {rows[0]['linear_top1']:.3f} -> {rows[-1]['linear_top1']:.3f}, k-NN {rows[0]['knn_top1']:.3f} -> {rows[-1]['knn_top1']:.3f}"
                if rows
                else ""
            )
            + "; stage seconds "
            + ", ".join(f"{k} {v:.1f}" for k, v in stage_seconds.items())
            + "; CPU seconds "
            + ", ".join(f"{k} {v:.1f}" for k, v in entry["cpu_seconds"].items()),
            flush=True,
        )


if __name__ == "__main__":
    main()
