"""The certificate folder and the leaderboard page, rendered from a small finished run."""

from __future__ import annotations

import base64
import csv
import json
import re

import numpy as np
import pytest
from PIL import Image

from viprepro.report import certificate, document, examples, figures
from viprepro.report.joblog import job_commands

PNG = b"\x89PNG\r\n\x1a\n"
FIGURES = ("claim_top1", "training_curves", "per_class", "confusion_matrix", "examples")
SECTIONS = (
    "What was claimed",
    "How it was rerun",
    "Results: claimed vs reproduced",
    "Efficiency",
    "Deviations and warnings",
    "Environment",
    "Data and provenance digests",
)


def _is_drawn_png(data: bytes, min_side: int = 200) -> bool:
    """A PNG of reasonable size that is not one flat colour (something was drawn)."""
    from io import BytesIO

    if not data.startswith(PNG):
        return False
    with Image.open(BytesIO(data)) as image:
        pixels = np.asarray(image.convert("L"))
    return min(pixels.shape) >= min_side and pixels.std() > 5


@pytest.fixture
def cert(finished_run):
    return finished_run / "results/classification/report_smoke/certificate"


def test_every_figure_exists_and_shows_something(cert):
    for name in FIGURES:
        path = cert / "figures" / f"{name}.png"
        assert path.is_file(), name
        assert _is_drawn_png(path.read_bytes()), name


def test_the_scoring_step_drew_the_ground_truth_figures_for_every_seed(finished_run):
    for seed in (0, 1):
        folder = finished_run / f"results/classification/report_smoke/seed_{seed}/scores/figures"
        assert json.loads((folder / "figures.json").read_text()) == {
            "examples": {"file": "examples.png"},
            "confusion_matrix": {"file": "confusion_matrix.png"},
        }
        assert _is_drawn_png((folder / "examples.png").read_bytes())


def test_the_folder_stands_on_its_own(cert):
    verdict = json.loads((cert / "verdict.json").read_text())
    assert verdict["submission"] == "report_smoke"
    rerun = json.loads((cert / "rerun.json").read_text())
    assert rerun["code_version"]["commit"] == "0" * 40 and rerun["reproduced"]["top1"] == verdict["metrics"][0]["reproduced"]
    assert (cert / rerun["inputs"]["spec"]).is_file() and (cert / rerun["inputs"]["config"]).is_file()
    assert (cert / rerun["inputs"]["claimed_log"]).read_text().startswith("epoch,train_loss,val_metric")
    assert (cert / "environment.txt").read_text() == "numpy==2.0\ntorch==2.9\n"


def test_markdown_has_every_section_in_order_and_links_every_figure(cert):
    text = (cert / "certificate.md").read_text()
    headings = re.findall(r"^## \d+\. (.+)$", text, flags=re.M)
    assert headings == list(SECTIONS)
    for name in FIGURES:
        assert f"](figures/{name}.png)" in text
    assert "uncommitted changes" in text  # the dirty tree is a warning
    assert "first diverge at epoch" in text or "no epoch beyond tolerance" in text


def test_html_embeds_every_figure_and_refers_to_nothing_outside(cert):
    page = (cert / "certificate.html").read_text()
    images = re.findall(r'<img src="([^"]+)"', page)
    assert len(images) == len(FIGURES)
    for uri in images:
        assert uri.startswith("data:image/png;base64,")
        assert _is_drawn_png(base64.b64decode(uri.split(",", 1)[1]))
    references = re.findall(r'(?:src|href)="([^"]*)"', page)
    assert all(r.startswith(("data:", "#")) for r in references), [r for r in references if not r.startswith(("data:", "#"))]
    assert "<link" not in page and "@import" not in page and "url(" not in page


def test_leaderboard_page_rows_match_the_csv_and_link_certificates(finished_run):
    results = finished_run / "results"
    rows = list(csv.DictReader((results / "leaderboard.csv").open()))
    page = (results / "leaderboard.html").read_text()
    shown = re.findall(r'<tr data-task="[^"]+">(.*?)</tr>', page)
    assert len(shown) == len(rows) == 2
    assert 'href="classification/report_smoke/certificate/certificate.html"' in page
    assert "report_other (no certificate)" in page
    for header in ("claimed", "reproduced", "seed band", "verdict", "parameters", "FLOPs / sample", "training time", "inference"):
        assert header in page


def test_a_smoke_scale_row_says_so_on_the_leaderboard(finished_run, tmp_path):
    """A spec shrunk by `scale: smoke` is marked: its score says nothing about the claim."""
    from viprepro.report import leaderboard

    record = json.loads((finished_run / "results/classification/report_smoke/verdict.json").read_text())
    assert leaderboard.build_rows([finished_run / "results/classification/report_smoke/verdict.json"])[0]["scale"] == "full"
    record["spec"]["scale"] = "smoke"
    (tmp_path / "verdict.json").write_text(json.dumps(record))
    assert leaderboard.build_rows([tmp_path / "verdict.json"])[0]["scale"] == "smoke"


def test_a_figure_the_scoring_step_could_not_draw_is_reported_not_hidden(tmp_path, finished_run):
    subset = finished_run / "results/data/classification/subset"
    gt = finished_run / "results/data/classification/hidden/test_gt.csv"
    broken = tmp_path / "submission.csv"
    broken.write_text("Image IDs,Predictions\nnot_an_image.JPEG,0\n")
    drawn = examples.render("classification", gt, broken, subset, tmp_path / "figures")
    assert "error" in drawn["examples"] and "no test sample" in drawn["examples"]["error"]
    (tmp_path / "seed_0/scores/figures").mkdir(parents=True)
    (tmp_path / "seed_0/scores/figures/figures.json").write_text(json.dumps(drawn))
    evidence = certificate.CertificateInputs(
        verdict={"claimed_seed": 0}, train_records=[], histories={}, scores={}, score_folders={0: tmp_path / "seed_0/scores"}
    )
    reason = certificate._copy_score_figure(evidence, "examples", tmp_path / "out")
    assert isinstance(reason, str) and "no test sample" in reason


def test_example_picks_show_wrong_and_right_predictions():
    correct = [True] * 10 + [False] * 3
    chosen = examples.pick(correct, 8)
    assert len(chosen) == 8 and sum(not correct[i] for i in chosen) == 3
    assert examples.pick([True, False], 8) == [0, 1]


def test_per_class_leaves_out_classes_without_ground_truth(tmp_path):
    out = figures.per_class(
        {0: {"car": 0.5, "bus": None, "road": float("nan")}, 1: {"car": 0.7, "bus": None, "road": 0.1}},
        tmp_path / "pc.png",
        claimed_seed=0,
        metric_label="IoU",
    )
    assert _is_drawn_png(out.read_bytes(), min_side=150)


def test_confusion_counts_rows_are_true_classes():
    counts = figures.confusion_counts(np.array([0, 0, 1, 2]), np.array([0, 1, 1, 7]), 3)
    assert counts.tolist() == [[1, 1, 0], [0, 1, 0], [0, 0, 0]]


def test_job_commands_come_from_snakemake_job_records(tmp_path):
    record = {"rule": "train_member", "shellcmd": "python train.py --seed 0", "starttime": 10.0, "endtime": 20.0}
    name = base64.urlsafe_b64encode(b"results/t/s/seed_0/member_0/model.pt").decode()
    (tmp_path / ".snakemake/metadata").mkdir(parents=True)
    (tmp_path / ".snakemake/metadata" / name).write_text(json.dumps(record))
    jobs = job_commands(tmp_path, [tmp_path / "results/t/s/seed_0/member_0/model.pt", tmp_path / "results/missing"])
    assert jobs == [
        {
            "rule": "train_member",
            "command": "python train.py --seed 0",
            "start": 10.0,
            "end": 20.0,
            "outputs": ["results/t/s/seed_0/member_0/model.pt"],
        }
    ]


def test_markdown_and_html_say_the_same_thing(tmp_path):
    doc = document.Document(
        "T",
        [document.Note("**bold** and `code`", "warn")],
        [document.Section("S", [document.Table(["a", "b"], [[1, "x|y"]], numeric={0})])],
    )
    md, page = document.to_markdown(doc, tmp_path), document.to_html(doc)
    assert "> **WARNING:** **bold** and `code`" in md and "| 1 | x\\|y |" in md
    assert "<strong>bold</strong> and <code>code</code>" in page and "<td class=num>1</td><td>x|y</td>" in page
