"""The reproduction certificate: one folder per submission that stands on its own.

    results/<task>/<submission>/certificate/
        certificate.html    self-contained (figures embedded as data: URIs, inline CSS)
        certificate.md      the same text, figures linked from figures/
        verdict.json        the full verdict record
        figures/*.png       training curves, claimed vs seeds, per-class, confusion, examples
        inputs/spec.yaml, inputs/config.yaml (+ the claimed training log): what `viprepro
                            rerun` needs to run it again
        rerun.json          code version and where those inputs are
        environment.txt     every installed package and its version

It reads the verdict, the training records and histories, and the score folders (including
the figures the scoring step drew from the ground truth); never the hidden ground truth.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from viprepro.files.fileio import atomic_path, read_json, write_json, write_text
from viprepro.report import document, figures, sections
from viprepro.report.joblog import job_commands

SCORE_FIGURES = "figures"  # the folder score.py draws into


@dataclass
class CertificateInputs:
    """Everything the certificate is made from, already read."""

    verdict: dict
    train_records: list[dict]
    histories: dict[tuple[int, int], list[dict]]
    scores: dict[int, dict]
    score_folders: dict[int, Path]
    config: dict | None = None
    claimed_log: Path | None = None
    commands: list[dict] = field(default_factory=list)
    ablation: dict | None = None  # the verdict of the spec's ablation (a multi-stage spec)

    @property
    def spec(self) -> dict:
        return self.verdict["spec"]

    @property
    def claimed_seed(self) -> int:
        return self.verdict["claimed_seed"]


def gather(
    verdict: Path,
    train_records: list[Path],
    scores: list[Path],
    *,
    config: dict | None = None,
    claimed_log: Path | None = None,
    workdir: Path | None = None,
    ablation: Path | None = None,
) -> CertificateInputs:
    """Read the records a certificate is made from (paths as the pipeline lays them out)."""
    records = [read_json(p) for p in train_records]
    histories = {}
    for record, path in zip(records, train_records):
        history = Path(path).with_name("history.json")
        histories[(record["seed"], record["member"])] = read_json(history) if history.is_file() else []
    record = read_json(verdict)
    from viprepro.judging.verdict_record import by_seed, read_scores
    from viprepro.tasks import get_task

    submissions = [Path(p).parent / get_task(record["task"]).submission_filename for p in scores]
    outputs = [*(Path(p).with_name("model.pt") for p in train_records), *submissions, *scores, verdict]
    by_folder = [(Path(p), read_scores(p)) for p in scores]  # each scores.json names its seed
    return CertificateInputs(
        verdict=record,
        train_records=records,
        histories=histories,
        scores=by_seed(by_folder, "scores record"),
        score_folders={scores_record["seed"]: folder for folder, scores_record in by_folder},
        config=config,
        claimed_log=claimed_log,
        commands=job_commands(workdir, outputs) if workdir else [],
        ablation=read_json(ablation) if ablation else None,
    )


def draw_figures(evidence: CertificateInputs, folder: Path) -> dict[str, Path | str]:
    """Every figure of the certificate into `folder`: name -> PNG path, or why it is missing."""
    from viprepro.tasks import get_task

    verdict, task = evidence.verdict, get_task(evidence.verdict["task"])
    name = f"{verdict['submission']} ({task.name})"
    drawn: dict[str, Path | str] = {}
    for judgement in verdict["metrics"]:
        drawn[f"claim_{judgement['metric']}"] = figures.seed_band(
            judgement, folder / f"claim_{judgement['metric']}.png", claimed_seed=evidence.claimed_seed, label=judgement["metric"]
        )
    histories = {
        (f"seed {s}" + (f" member {m}" if evidence.spec["ensemble"] > 1 else "")): h
        for (s, m), h in sorted(evidence.histories.items())
        if h
    }
    claimed_curves = (verdict.get("trajectory") or {}).get("curves")
    if histories:
        drawn["training_curves"] = figures.training_curves(
            histories, task.val_metric, folder / "training_curves.png", claimed=claimed_curves, title=f"Training curves: {name}"
        )
    else:
        drawn["training_curves"] = "no training history was recorded"
    if task.per_class is None:
        drawn["per_class"] = f"the {task.name} task reports no per-class score"
    else:
        key, label = task.per_class.key, task.per_class.label
        per_class = {seed: scores[key] for seed, scores in evidence.scores.items() if isinstance(scores.get(key), dict)}
        if evidence.claimed_seed in per_class:
            drawn["per_class"] = figures.per_class(
                per_class,
                folder / "per_class.png",
                claimed_seed=evidence.claimed_seed,
                metric_label=label,
                title=f"{label} per class on the test split: {name}",
            )
        else:
            drawn["per_class"] = f"the scores of the claimed seed have no `{key}`"
    for figure in sorted(task.figure_kinds):  # confusion_matrix, examples: the order the certificate shows them
        drawn[figure] = _copy_score_figure(evidence, figure, folder)
    if evidence.spec.get("stages"):
        from viprepro.report import certificate_stages

        drawn.update(certificate_stages.draw(evidence, folder, task))
    return drawn


def _copy_score_figure(evidence: CertificateInputs, figure: str, folder: Path) -> Path | str:
    """A figure the scoring step drew at the claimed seed (it alone saw the ground truth)."""
    source = evidence.score_folders.get(evidence.claimed_seed, Path("-")) / SCORE_FIGURES
    made = source / f"{figure}.png"
    if made.is_file() and made.stat().st_size:
        folder.mkdir(parents=True, exist_ok=True)
        return Path(shutil.copyfile(made, folder / made.name))
    listing = source / "figures.json"
    if listing.is_file():
        error = read_json(listing).get(figure, {}).get("error")
        if error:
            return f"the scoring step could not draw it: {error}"
    return "the scoring step drew no such figure (scored without --subset or --figures)"


def write(evidence: CertificateInputs, out: Path) -> Path:
    """Build the whole certificate folder at `out` (replaced as a whole, never half-written)."""
    with atomic_path(out) as staged:
        staged.mkdir(parents=True)
        write_json(staged / "verdict.json", evidence.verdict)
        inputs = _write_inputs(evidence, staged)
        environment = (evidence.verdict["provenance"].get("environment") or {}).get("packages") or {}
        write_text(staged / "environment.txt", "".join(f"{name}=={version}\n" for name, version in environment.items()))
        drawn = draw_figures(evidence, staged / "figures")
        doc = sections.certificate(evidence, drawn, inputs)
        write_text(staged / "certificate.md", document.to_markdown(doc, staged))
        write_text(staged / "certificate.html", document.to_html(doc))
    return out


def _write_inputs(evidence: CertificateInputs, folder: Path) -> dict:
    """What a rerun needs: the spec, the pipeline config, the claimed log, the code version."""
    spec = dict(evidence.spec)
    inputs = {"spec": "inputs/spec.yaml", "config": None, "claimed_log": None}
    if evidence.claimed_log and spec.get("claimed_log"):
        target = folder / "inputs" / spec["claimed_log"]
        if not target.resolve().is_relative_to((folder / "inputs").resolve()):
            target = folder / "inputs" / Path(spec["claimed_log"]).name
            spec["claimed_log"] = target.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(evidence.claimed_log, target)
        inputs["claimed_log"] = target.relative_to(folder).as_posix()
    write_text(folder / inputs["spec"], yaml.safe_dump(spec, sort_keys=False))
    if evidence.config is not None:
        inputs["config"] = "inputs/config.yaml"
        write_text(folder / inputs["config"], yaml.safe_dump(evidence.config, sort_keys=False))
    verdict = evidence.verdict
    write_json(
        folder / "rerun.json",
        {
            "task": verdict["task"],
            "submission": verdict["submission"],
            "inputs": inputs,
            "code_version": verdict["provenance"].get("code_version"),
            "config_hash": verdict["provenance"].get("config_hash"),
            "reproduced": {j["metric"]: j["reproduced"] for j in verdict["metrics"]},
        },
    )
    return inputs
