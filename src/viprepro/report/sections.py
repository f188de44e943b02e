"""What the certificate says, section by section, as a `document.Document`.

The order is the one reviewers read a results section in: the claim, how it was rerun, the
numbers and figures, what went wrong or differs, then the environment and the digests that
pin every input down.
"""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import yaml

from viprepro.judging.verdict import MEANING
from viprepro.report.document import Code, Details, Document, Figure, Note, Paragraph, Section, Table

VERDICT_TEXT = MEANING  # what a reviewer should conclude from each verdict (viprepro.judging.verdict)


def fmt(value, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:.{digits}g}" if abs(value) < 1e5 else f"{value:.3e}"
    return str(value)


def seconds(value) -> str:
    if value is None:
        return "n/a"
    return f"{value:.1f} s" if value < 120 else f"{value / 60:.1f} min" if value < 7200 else f"{value / 3600:.2f} h"


def band_text(band: dict) -> str:
    if band["n"] == 0:
        return "no seed with a score"
    if band["n"] <= 1:
        return f"{fmt(band['mean'])} (one seed)"
    text = f"{fmt(band['mean'])} ± {fmt(band['std'])} [{fmt(band['min'])}, {fmt(band['max'])}] (n={band['n']})"
    if "interval_low" in band:
        text += f"; 95 % prediction interval for one more seed [{fmt(band['interval_low'])}, {fmt(band['interval_high'])}]"
    return text


def _figure(drawn: dict, name: str, caption: str) -> list:
    made = drawn.get(name)
    if isinstance(made, Path):
        return [Figure(made, caption)]
    return [Note(f"Figure not available ({caption.split(':')[0]}): {made}", "warn")] if made else []


def certificate(evidence, drawn: dict, inputs: dict) -> Document:
    verdict = evidence.verdict
    main = verdict["metrics"][0]
    kind = {"reproduced": "good", "exceeds_claim": "info", "within_noise": "warn"}.get(verdict["verdict"], "bad")
    lead = [
        Note(
            f"Verdict: **{verdict['verdict']}**: {VERDICT_TEXT.get(verdict['verdict'], '')}. Why: {verdict.get('reason', '')}. "
            f"{main['metric']} claimed "
            f"{fmt(main['claimed'])}, reproduced {fmt(main['reproduced'])} at seed {evidence.claimed_seed} "
            f"(tolerance {fmt(main['tolerance'])}); audits {'passed' if verdict['audits_passed'] else 'FAILED'}; "
            f"determinism {'passed' if verdict['determinism']['passed'] else 'FAILED'}.",
            kind,
        ),
        Paragraph(
            f"Task `{verdict['task']}`{_edition(verdict.get('edition'))}, submission `{verdict['submission']}`. Certificate written "
            f"{dt.datetime.now(dt.UTC).strftime('%Y-%m-%d %H:%M UTC')} from the records of the run; it needs "
            "neither the repository nor the MLflow store to be read."
        ),
    ]
    if verdict.get("submission_problems"):
        lead.append(Note("The submission file was refused by strict validation: " + "; ".join(verdict["submission_problems"][:50]), "bad"))
    environments = verdict.get("environments")
    if environments:
        lead.append(Note(environments["sentence"], "good" if environments["bit_identical_expected"] else "info"))
    return Document(
        title=f"Reproduction certificate: {verdict['submission']}",
        lead=lead,
        sections=[
            _claimed(evidence),
            _rerun(evidence, inputs),
            _results(evidence, drawn),
            *_stages(evidence, drawn),
            _efficiency(evidence),
            _deviations(evidence, drawn),
            _environment(evidence),
            _digests(evidence),
        ],
    )


def _edition(edition: dict | None) -> str:
    """The edition whose official procedure the run followed (tasks that ran in several)."""
    if not edition:
        return ""
    return f" (edition {edition['edition']}: data procedure and scorer of the official toolkit at `{edition['toolkit_commit']}`)"


def _stages(evidence, drawn: dict) -> list[Section]:
    """A multi-stage spec's section (viprepro.report.certificate_stages); none for the others."""
    if not evidence.spec.get("stages"):
        return []
    from viprepro.report import certificate_stages

    return [certificate_stages.section(evidence, drawn)]


def _claimed(evidence) -> Section:
    spec = evidence.spec
    rows = [[m, fmt(c["value"]), c.get("split", "test"), _tolerance_text(c.get("tolerance", {}))] for m, c in spec["claimed"].items()]
    blocks = [
        Paragraph(spec.get("description") or "(no description given)"),
        Table(["metric", "claimed value", "split", "tolerance"], rows, numeric={1}),
        Table(
            ["what", "value"],
            [
                ["model", f"`{spec['model']['name']}` {spec['model'].get('kwargs') or ''}".strip()],
                ["claimed seed", spec["seed"]],
                ["ensemble members", spec["ensemble"]],
                ["reference", spec.get("reference") or "(none given)"],
                ["training log provided", f"yes (`{spec['claimed_log']}`)" if spec.get("claimed_log") else "no"],
                [
                    "scale",
                    "smoke (shrunk to a CPU run: sizes and epochs only, see viprepro/specs/scale.py): the score says nothing about the claim"
                    if spec.get("scale") == "smoke"
                    else "full (as written)",
                ],
            ],
        ),
    ]
    blocks += _caveats(spec)
    return Section("What was claimed", blocks)


def _caveats(spec: dict) -> list:
    """What the spec says it does not know, where it departs from the entry, and what it could not express."""
    blocks = []
    if spec.get("unknowns"):
        blocks += [
            Paragraph("What the entry's sources leave unknown, and the value this rerun uses instead:"),
            Table(["unknown"], [[text] for text in spec["unknowns"]]),
        ]
    if spec.get("approximations"):
        blocks += [
            Note("This rerun departs from the entry (ingredients viprepro cannot express or had to replace):", "warn"),
            Table(["approximated or missing"], [[text] for text in spec["approximations"]]),
        ]
    if spec.get("unmapped"):
        blocks += [
            Note("Fields of the imported recipe that no spec key expresses: they were NOT applied in this rerun.", "warn"),
            Table(["field", "value"], [[key, repr(value)] for key, value in spec["unmapped"].items()]),
        ]
    return blocks


def _tolerance_text(tolerance: dict) -> str:
    parts = [
        f"absolute {fmt(tolerance['absolute'])}" if tolerance.get("absolute") else "",
        f"relative {fmt(tolerance['relative'])}" if tolerance.get("relative") else "",
    ]
    return " or ".join(p for p in parts if p) or "exact"


def _rerun(evidence, inputs: dict) -> Section:
    verdict, spec = evidence.verdict, evidence.spec
    environment = verdict["provenance"].get("environment") or {}
    jobs = verdict["provenance"].get("jobs", [])
    blocks = [
        Paragraph(
            f"Every ensemble member ({spec['ensemble']}) was trained from scratch at "
            + (
                f"seeds {', '.join(map(str, verdict['seeds']))} (the claimed seed {evidence.claimed_seed} and "
                f"{len(verdict['seeds']) - 1} more for the seed band)"
                if len(verdict["seeds"]) > 1
                else f"the claimed seed {evidence.claimed_seed} only (no extra seeds: no seed band)"
            )
            + f", the test split predicted into the official submission format and scored by the challenge's metric "
            f"(scoring mode `{(evidence.scores.get(evidence.claimed_seed) or {}).get('mode', '?')}`)."
        ),
        Table(
            ["what", "value"],
            [
                ["hardware", f"{environment.get('device', '?')} ({environment.get('cpu_count', '?')} CPU cores visible)"],
                ["torch threads per job", environment.get("torch_threads", "?")],
                ["determinism level", verdict["determinism"]["level"]],
                ["training jobs", len(jobs)],
                [
                    "total training time",
                    f"{seconds(sum(j['wall_seconds'] for j in jobs))} wall, {seconds(sum(j['cpu_seconds'] for j in jobs))} CPU",
                ],
            ],
        ),
        Table(
            ["seed", "member", "device", "threads", "wall time", "CPU time"],
            [[j["seed"], j["member"], j["device"], j["threads"], seconds(j["wall_seconds"]), seconds(j["cpu_seconds"])] for j in jobs],
        ),
        Paragraph("The recipe, with every default filled in:"),
        Code(yaml.safe_dump(spec["recipe"], sort_keys=True), "yaml"),
    ]
    if evidence.commands:
        text = "\n\n".join(f"# {job['rule']} ({_when(job)})\n{job['command']}" for job in evidence.commands)
        blocks += [Paragraph("The commands as Snakemake ran them (from its job records), in start order:"), Code(text, "sh")]
    else:
        blocks.append(Note("The individual job commands were not recorded (no Snakemake job records beside the results).", "warn"))
    rerun = "viprepro rerun path/to/this/certificate --workdir NEW_FOLDER"
    blocks += [
        Paragraph(
            f"To run it again from this folder alone (`{inputs['spec']}`"
            + (f", `{inputs['config']}`" if inputs.get("config") else "")
            + ", `rerun.json` hold the inputs):"
        ),
        Code(rerun, "sh"),
    ]
    return Section("How it was rerun", blocks)


def _when(job: dict) -> str:
    if not job.get("start"):
        return "time not recorded"
    start = dt.datetime.fromtimestamp(job["start"], dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return f"started {start}, took {seconds(job['end'] - job['start'])}" if job.get("end") else f"started {start}"


def _results(evidence, drawn: dict) -> Section:
    verdict = evidence.verdict
    rows = [
        [
            j["metric"],
            j["claimed_split"],
            fmt(j["claimed"]),
            fmt(j["reproduced"]),
            "none" if j["difference"] is None else f"{j['difference']:+.4g}",
            fmt(j["tolerance"]),
            band_text(j["band"]),
            j["verdict"],
        ]
        for j in verdict["metrics"]
    ]
    blocks = [
        Table(
            [
                "metric",
                "split",
                "claimed",
                f"reproduced (seed {evidence.claimed_seed})",
                "difference",
                "tolerance",
                "seed band: mean ± std [min, max]",
                "verdict",
            ],
            rows,
            numeric={2, 3, 4, 5},
        )
    ]
    keys = sorted({k for scores in evidence.scores.values() for k, v in scores.items() if _is_number(v)})
    if keys:
        blocks += [
            Paragraph("Every score of every seed on the test split (scores.json):"),
            Table(
                ["seed", *keys],
                [[seed, *(fmt(scores.get(k)) for k in keys)] for seed, scores in sorted(evidence.scores.items())],
                numeric=set(range(1, len(keys) + 1)),
            ),
        ]
    for judgement in verdict["metrics"]:
        blocks += _figure(
            drawn,
            f"claim_{judgement['metric']}",
            f"{judgement['metric']}: the claim with its tolerance, each seed's reproduced score and the seed band",
        )
    blocks += _figure(
        drawn,
        "training_curves",
        "Training curves: training loss, validation metric and learning rate of every seed"
        + (", with the submission's own log" if verdict.get("trajectory") else ""),
    )
    blocks += _figure(drawn, "per_class", "Per-class metric on the test split at the claimed seed, with the range over seeds")
    blocks += _figure(drawn, "confusion_matrix", "Confusion matrix of the test split at the claimed seed (rows: true class)")
    blocks += _figure(drawn, "examples", "Example test predictions at the claimed seed, drawn by the scoring step")
    return Section("Results: claimed vs reproduced", blocks)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _efficiency(evidence) -> Section:
    efficiency = evidence.verdict["efficiency"]
    energy = (
        sum(r["energy_joules"] for r in evidence.train_records if r.get("energy_joules") is not None and r["seed"] == evidence.claimed_seed)
        or None
    )
    rows = [
        ["parameters", fmt(efficiency.get("parameters"))],
        ["FLOPs per test sample (torch's FlopCounterMode)", fmt(efficiency.get("flops_per_sample"))],
        ["training wall time (claimed seed, all members)", seconds(efficiency.get("train_wall_seconds"))],
        ["training CPU time (claimed seed, all members)", seconds(efficiency.get("train_cpu_seconds"))],
        ["training energy", f"{energy / 3.6e6:.4g} kWh" if energy else "not reported (the device reports no power draw)"],
        ["inference throughput", f"{fmt(efficiency.get('inference_samples_per_s'))} samples/s"],
    ]
    return Section("Efficiency", [Table(["measure", "value"], rows)])


def _deviations(evidence, drawn: dict) -> Section:
    verdict = evidence.verdict
    determinism = verdict["determinism"]
    blocks = []
    if determinism["passed"]:
        blocks.append(
            Note(
                f"Determinism ({determinism['level']}): no nondeterministic operation recorded; inference repeated "
                f"{determinism['inference_repeats']} times gave byte-identical submission files.",
                "good",
            )
        )
    else:
        ops = ", ".join(determinism["nondeterministic_operations"]) or "none"
        differing = [s for s, same in determinism["inference_identical"].items() if not same]
        blocks.append(
            Note(
                f"Determinism ({determinism['level']}) failed: nondeterministic operations: {ops}; "
                f"seeds whose repeated inference differed: {', '.join(differing) or 'none'}.",
                "bad",
            )
        )
    costs = determinism.get("training_options", {}).get("bit_exactness_costs", [])
    if costs:
        blocks.append(Note("Training options that cost bit-exactness: " + "; ".join(costs) + ".", "warn"))
    rows = [
        [name, "passed" if audit["passed"] else "FAILED", audit["detail"], "; ".join(audit["problems"]) or "none"]
        for name, audit in verdict["audits"].items()
    ]
    blocks.append(Table(["rule-compliance audit", "result", "what was checked", "problems"], rows))
    trajectory = verdict.get("trajectory")
    if trajectory:
        first = trajectory["first_divergent_epoch"]
        blocks.append(
            Note(
                f"Training log: {trajectory['epochs_compared']} epoch(s) compared; "
                + (f"the curves first diverge at epoch {first}" if first is not None else "no epoch beyond tolerance")
                + f" (largest deviation: loss {fmt(trajectory['max_deviation']['train_loss'])}, "
                f"validation metric {fmt(trajectory['max_deviation']['val_metric'])}).",
                "warn" if first is not None else "good",
            )
        )
    code = verdict["provenance"].get("code_version") or {}
    if code.get("dirty"):
        blocks.append(
            Note(
                f"The code had uncommitted changes (diff sha256 `{code.get('diff_sha256')}`): a rerun from commit "
                f"`{code.get('commit')}` alone is not the same code.",
                "warn",
            )
        )
    for judgement in verdict["metrics"]:
        if judgement["claimed_split"] == "val":
            blocks.append(
                Note(
                    f"{judgement['metric']} was claimed on the validation split: judged on the seed band of the "
                    "submission's own val predictions (same ensemble, test-time augmentation and inference "
                    "resolution as its test submission) scored by the task's scorer, not on a test score.",
                    "warn",
                )
            )
    missing = [name for name, made in drawn.items() if not isinstance(made, Path)]
    if missing:
        blocks.append(Note(f"Figures missing: {', '.join(missing)} (reasons in the Results section).", "warn"))
    return Section("Deviations and warnings", blocks)


def _environment(evidence) -> Section:
    environment = evidence.verdict["provenance"].get("environment") or {}
    rows = [
        [key, fmt(environment.get(key))]
        for key in (
            "python",
            "torch",
            "cuda",
            "cudnn",
            "device",
            "cpu_model",
            "cpu_capability",
            "gpu",
            "cpu_count",
            "torch_threads",
            "platform",
        )
    ]
    packages = environment.get("packages") or {}
    blocks = []
    environments = evidence.verdict.get("environments")
    if environments:
        claimed = environments["claimed"] or {}
        blocks += [
            Paragraph(environments["sentence"]),
            Table(
                ["", "claim", "this rerun"],
                [[key, fmt(claimed.get(key, "not stated")), fmt(value)] for key, value in environments["reproduced"].items()],
            ),
        ]
        if environments.get("measured"):
            blocks.append(Paragraph(f"How the claim was measured: {environments['measured']}"))
    blocks += [
        Table(["component", "version"], rows),
        Paragraph(
            f"{len(packages)} installed packages (digest `{environment.get('packages_sha256')}`), listed in "
            "`environment.txt` beside this file:"
        ),
    ]
    if packages:
        blocks.append(Details("installed packages", [Code("\n".join(f"{n}=={v}" for n, v in packages.items()))]))
    return Section("Environment", blocks)


def _digests(evidence) -> Section:
    verdict = evidence.verdict
    provenance = verdict["provenance"]
    code = provenance.get("code_version") or {}
    rows = [
        ["code version", f"`{code.get('commit')}`" + (" + uncommitted changes" if code.get("dirty") else "")],
        ["package version", code.get("package_version", "?")],
        ["data manifest (the official subset)", f"`{provenance['data_manifest_digest']}`"],
        ["submission spec", f"`{provenance['spec_digest']}`"],
        ["pipeline config hash", f"`{provenance['config_hash']}`"],
        ["provenance record", f"`{provenance['digest']}`"],
    ]
    rows += [[f"submission file, seed {seed}", f"`{digest}`"] for seed, digest in verdict["submission_sha256"].items()]
    weights = [
        [
            r["seed"],
            r["member"],
            f"`{r['train_data_digest'][:16]}`",
            f"`{r['initial_weights_digest'][:16]}`",
            f"`{r['final_weights_digest'][:16]}`",
        ]
        for r in sorted(evidence.train_records, key=lambda r: (r["seed"], r["member"]))
    ]
    blocks = [Table(["input", "sha256"], rows)]
    if weights:
        blocks += [
            Paragraph("Per training job (first 16 hex digits):"),
            Table(["seed", "member", "training data", "initial weights", "final weights"], weights),
        ]
    return Section("Data and provenance digests", blocks)
