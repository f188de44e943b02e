"""The certificate's section on a multi-stage spec: each stage's recipe, curves, time and
inputs, the probe of every pretext stage (did it learn anything: linear probe and k-NN on
val per epoch against its random init), and the ablation (the final score with and without
the earlier stages), all read from the member records (their `chain` and `probes`)."""

from __future__ import annotations

import statistics
from pathlib import Path

import yaml

from viprepro.report import figures
from viprepro.report.document import Code, Details, Figure, Note, Paragraph, Section, Table


def _chains(evidence) -> dict[tuple[int, int], list[dict]]:
    return {(r["seed"], r["member"]): r.get("chain") or [] for r in evidence.train_records}


def _label(evidence, seed: int, member: int) -> str:
    return f"seed {seed}" + (f" member {member}" if evidence.spec["ensemble"] > 1 else "")


def draw(evidence, folder: Path, task) -> dict:
    """stage_<name>: its training curves over every seed; probe_<name>: a pretext stage's probe curves."""
    drawn: dict = {}
    chains = _chains(evidence)
    for stage in evidence.spec["stages"]:
        name = stage["name"]
        histories = {
            _label(evidence, s, m): entry.get("history") or []
            for (s, m), chain in sorted(chains.items())
            for entry in chain
            if entry.get("stage") == name and entry.get("history")
        }
        if histories:
            drawn[f"stage_{name}"] = figures.training_curves(
                histories, task.val_metric, folder / f"stage_{name}.png", title=f"Stage {name} ({stage['kind']}): training curves"
            )
        else:
            drawn[f"stage_{name}"] = "no history of this stage was recorded"
    for stage in (s for s in evidence.spec["stages"] if s["kind"] == "pretext"):
        rows = _probe_rows(evidence, stage["name"])
        if not rows:
            drawn[f"probe_{stage['name']}"] = "no probe of this stage was recorded"
            continue
        histories = {
            label: [
                {"epoch": r["epoch"], "train_loss": r["linear_top1"], f"val_{task.val_metric}": r["knn_top1"], "lr": None} for r in probe
            ]
            for label, probe in rows.items()
        }
        drawn[f"probe_{stage['name']}"] = probe_curves(histories, folder / f"probe_{stage['name']}.png", stage["name"])
    return drawn


def probe_curves(rows: dict[str, list[dict]], out: Path, name: str) -> Path:
    """Linear-probe and k-NN val accuracy per epoch (epoch 0: the random init), one line per seed."""
    plt = figures._pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    for axis, (key, label) in zip(axes, (("train_loss", "linear probe top-1 (val)"), ("val_top1", "k-NN top-1 (val)"))):
        for run, history in rows.items():
            points = [(h["epoch"], h[key]) for h in history if h.get(key) is not None]
            axis.plot(*zip(*points), marker="o", markersize=3, linewidth=1.4, label=run)
        axis.axvline(0, color="gray", linewidth=0.8, linestyle=":")
        axis.set_title(label)
        axis.set_xlabel("pretext epoch (0 = random init)")
    axes[0].legend(fontsize=7)
    fig.suptitle(f"Stage {name}: what its features are worth on val")
    return figures._save(fig, out)


def _probe_rows(evidence, name: str) -> dict[str, list[dict]]:
    rows = {}
    for record in sorted(evidence.train_records, key=lambda r: (r["seed"], r["member"])):
        for probe in record.get("probes") or []:
            if probe.get("stage") == name:
                rows[_label(evidence, record["seed"], record["member"])] = probe["epochs"]
    return rows


def _mean(values) -> str:
    values = [v for v in values if isinstance(v, (int, float))]
    if not values:
        return "-"
    return f"{statistics.fmean(values):.4f}" + (f" ± {statistics.stdev(values):.4f}" if len(values) > 1 else "")


def section(evidence, drawn: dict) -> Section:
    chains = _chains(evidence)
    blocks = [
        Paragraph(
            "Each member was trained stage by stage, every stage one job from scratch or from the named earlier stage's "
            "output (the weights audit rebuilt each stage's starting weights in a fresh process and followed the chain)."
        )
    ]
    rows = []
    for stage in evidence.spec["stages"]:
        entries = [e for chain in chains.values() for e in chain if e.get("stage") == stage["name"]]
        inputs = ", ".join(f"{role} {name}" for role, name in _inputs(stage)) or "from scratch"
        last = [e["history"][-1] for e in entries if e.get("history")]
        rows.append(
            [
                stage["name"],
                stage["kind"],
                inputs,
                _mean([e.get("wall_seconds") for e in entries]),
                _mean([h.get("train_loss") for h in last]),
                _mean([h.get("val_top1") for h in last]) if any("val_top1" in h for h in last) else "-",
                "passed" if entries and all((e.get("file_audit") or {}).get("passed") for e in entries) else "FAILED",
            ]
        )
    blocks.append(Table(["stage", "kind", "input", "time (s, mean ± sd)", "final train loss", "final val top-1", "file audit"], rows))
    for stage in evidence.spec["stages"]:
        name = stage["name"]
        shown = {k: v for k, v in stage.items() if k not in ("name", "kind", "recipe")}
        blocks.append(
            Details(
                f"stage {name} ({stage['kind']}): recipe",
                [Code(yaml.safe_dump({**shown, "recipe": stage["recipe"]}, sort_keys=True), "yaml")],
            )
        )
        made = drawn.get(f"stage_{name}")
        blocks.append(
            Figure(made, f"Stage {name}: training curves per seed") if isinstance(made, Path) else Note(f"Stage {name}: {made}", "warn")
        )
        if stage["kind"] == "pretext":
            blocks += _probe_blocks(evidence, name, drawn)
    blocks += _ablation_blocks(evidence)
    return Section("Stages", blocks)


def _inputs(stage: dict) -> list[tuple[str, str]]:
    from viprepro.specs.stages import inputs_of

    return inputs_of(stage)


def _probe_blocks(evidence, name: str, drawn: dict) -> list:
    rows = _probe_rows(evidence, name)
    if not rows:
        return [Note(f"Stage {name}: no probe was recorded", "warn")]
    start = [r[0] for r in rows.values()]
    end = [r[-1] for r in rows.values()]
    gains = [b["linear_top1"] - a["linear_top1"] for a, b in zip(start, end)]
    beats = sum(g > 0 for g in gains)
    kind = "good" if beats == len(gains) else "warn"
    made = drawn.get(f"probe_{name}")
    return [
        Table(
            ["probe of stage " + name, "random init (epoch 0)", f"after {end[0]['epoch']} epochs"],
            [
                ["linear probe top-1 (val)", _mean([r["linear_top1"] for r in start]), _mean([r["linear_top1"] for r in end])],
                ["k-NN top-1 (val)", _mean([r["knn_top1"] for r in start]), _mean([r["knn_top1"] for r in end])],
            ],
        ),
        Note(f"The pretext stage's linear probe beats the random init's in {beats} of {len(gains)} runs.", kind),
        Figure(made, f"Stage {name}: linear probe and k-NN per epoch") if isinstance(made, Path) else Note(str(made), "warn"),
    ]


def _ablation_blocks(evidence) -> list:
    name = evidence.spec.get("ablation")
    if not name:
        return [Note("No ablation is named (spec key `ablation`): the score without the earlier stages is not shown.", "warn")]
    if evidence.ablation is None:
        return [Note(f"The ablation `{name}` has no verdict in this run.", "warn")]
    ours, theirs = evidence.verdict["metrics"][0], evidence.ablation["metrics"][0]
    rows = [
        [f"{evidence.verdict['submission']} (all stages)", _band(ours["band"])],
        [f"{name} (last stage's recipe from scratch)", _band(theirs["band"])],
    ]
    difference = None
    if ours["band"].get("mean") is not None and theirs["band"].get("mean") is not None:
        difference = ours["band"]["mean"] - theirs["band"]["mean"]
    return [
        Table([f"ablation: {ours['metric']} on {ours.get('split', 'test')}", "seed band"], rows),
        Paragraph(
            f"Mean difference with the earlier stages: {difference:+.4f}." if difference is not None else "No difference: a band is empty."
        ),
    ]


def _band(band: dict) -> str:
    if not band.get("n"):
        return "no seed with a score"
    return f"{band['mean']:.4f}" + (f" ± {band['std']:.4f}" if band["n"] > 1 else "") + f" (n={band['n']})"
