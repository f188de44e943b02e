"""One command surface (issue 13): each pipeline step is one implementation with one set of
flags, run by one wrapper; the rules call exactly those flags; records name their seed."""

from __future__ import annotations

import importlib.util
import json
import shlex
import subprocess

import pytest
from testutils import REPO, pipeline_env, snakemake_command

from viprepro.cli import main
from viprepro.errors import UserError
from viprepro.jobs.step import StepParser
from viprepro.steps import STEPS, get_step
from viprepro.steps.synth import SYNTH, options_of
from viprepro.tasks import get_task

SCRIPTS = REPO / "workflow_scripts"


def _script(name: str):
    loaded = importlib.util.spec_from_file_location(f"{name}_script", SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(loaded)
    loaded.loader.exec_module(module)
    return module


def _registered_steps():
    for name, entry in STEPS.items():
        if isinstance(entry, dict):
            yield from (get_step(name, sub) for sub in entry)
        else:
            yield get_step(name)


def test_every_workflow_script_is_a_viprepro_step():
    """Each script's parser is the parser of a registered step (one implementation, one set of flags)."""
    registered = {id(step) for step in _registered_steps()}
    for path in sorted(SCRIPTS.glob("*.py")):
        if path.stem == "external":  # a group: `external.py train ...` is `viprepro external train ...`
            continue
        parser = _script(path.stem).get_args_parser()
        assert isinstance(parser, StepParser) and id(parser.step) in registered, path.name
        assert "\ndef " not in path.read_text() and "\nclass " not in path.read_text(), f"{path.name} holds logic of its own"


def test_every_rule_calls_its_step_with_flags_the_step_accepts(tmp_path):
    """The shell line of every job of the tiny pipeline parses with the step's own parser."""
    result = subprocess.run(
        [
            *snakemake_command(),
            "--snakefile",
            str(REPO / "Snakefile"),
            "--directory",
            str(tmp_path),
            "--configfile",
            str(REPO / "tests/data/tiny_config.yaml"),
            "-n",
            "-p",
            "--cores",
            "1",
        ],
        capture_output=True,
        text=True,
        env=pipeline_env(),
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    commands = [
        line.split("Shell command: ", 1)[1]
        for line in (result.stdout + result.stderr).splitlines()
        if line.startswith("Shell command: python")
    ]
    seen = set()
    for command in commands:
        words = shlex.split(command.split(" > ", 1)[0])
        script = words[1].rsplit("/", 1)[-1].removesuffix(".py")
        args = _script(script).get_args_parser().parse_args(words[2:])
        assert args.track and args.rule != "manual", command  # every job is an MLflow run, tagged with its rule
        assert "{" not in " ".join(words[2:]), command  # no JSON on a shell line
        seen.add(script)
    assert seen >= {
        "init_tracking",
        "synthesize",
        "subset",
        "train",
        "predict",
        "score",
        "verdict",
        "certificate",
        "leaderboard",
        "leaderboard_page",
    }


def test_task_options_come_from_the_task_not_from_a_list_of_names():
    detection = StepParser(get_step("score")).parse_args(
        ["--task", "detection", "--gt", "gt.json", "--submission", "s.json", "--out", "o", "--max-json-depth", "8"]
    )
    assert set(detection.task_options) == {"max_submission_mb", "max_json_depth", "max_item_kb"}
    assert detection.task_options["max_json_depth"] == 8
    classification = StepParser(get_step("score")).parse_args(["--task", "classification", "--gt", "g", "--submission", "s", "--out", "o"])
    assert "num_classes" in classification.task_options and "max_json_depth" not in classification.task_options
    with pytest.raises(SystemExit):  # another task's option is refused, not ignored
        StepParser(get_step("score")).parse_args(
            ["--task", "classification", "--gt", "g", "--submission", "s", "--out", "o", "--max-json-depth", "8"]
        )


def test_synth_options_json_then_flags_then_defaults_and_an_unknown_key_is_refused():
    args = StepParser(SYNTH).parse_args(
        ["--task", "classification", "--out", "x", "--options", '{"classes": 3, "image_size": 32}', "--classes", "4"]
    )
    options = options_of(args, get_task("classification"))
    assert options["classes"] == 4 and options["image_size"] == 32 and options["val_per_class"] == 30
    args = StepParser(SYNTH).parse_args(["--task", "classification", "--out", "x", "--options", '{"clases": 3}'])
    with pytest.raises(UserError, match="clases"):
        options_of(args, get_task("classification"))


def test_a_failing_step_is_one_line_exit_1_and_a_failed_run(tmp_path, capsys):
    from viprepro.jobs import tracking

    code = main(
        [
            "train",
            "--track",
            "--task",
            "classification",
            "--spec",
            str(tmp_path / "missing.yaml"),
            "--subset",
            "nowhere",
            "--seed",
            "3",
            "--out",
            str(tmp_path / "model.pt"),
            "--device",
            "cpu",
        ]
    )
    error = capsys.readouterr().err.strip()
    assert code == 1 and error.startswith("viprepro train: error: ") and "missing.yaml" in error and "\n" not in error
    client = tracking._client()
    (run,) = [r for e in client.search_experiments() for r in client.search_runs([e.experiment_id])]
    assert run.info.status == "FAILED" and "missing.yaml" in run.data.tags["error"] and run.data.tags["seed"] == "3"


GT_ROWS = [(f"img_{i}.JPEG", i % 3) for i in range(6)]


@pytest.mark.parametrize("on_invalid", ["fail", "record"])
def test_a_refused_submission_fails_by_hand_and_is_recorded_in_the_pipeline(on_invalid, tmp_path, capsys):
    gt = tmp_path / "gt.csv"
    gt.write_text("Image IDs,Labels\n" + "".join(f"{i},{label}\n" for i, label in GT_ROWS))
    bad = tmp_path / "submission.csv"
    bad.write_text("Image IDs,Predictions\nimg_0.JPEG,9\n")
    out = tmp_path / "scores"
    code = main(
        [
            "score",
            "--task",
            "classification",
            "--gt",
            str(gt),
            "--submission",
            str(bad),
            "--out",
            str(out),
            "--on-invalid",
            on_invalid,
            "--submission-name",
            "bad",
            "--seed",
            "7",
        ]
    )
    captured = capsys.readouterr()
    if on_invalid == "fail":
        assert code == 1 and captured.err.startswith("viprepro score: error: ") and not (out / "scores.json").exists()
    else:
        scores = json.loads((out / "scores.json").read_text())
        assert code == 0 and scores["status"] == "invalid" and scores["problems"]
        assert (scores["submission"], scores["seed"], scores["split"]) == ("bad", 7, "test")


def test_records_are_keyed_by_the_seed_they_name_never_by_their_folder(tmp_path):
    from viprepro.judging.verdict_record import by_seed

    records = [(tmp_path / "seed_0" / "scores", {"seed": 5, "top1": 0.5}), (tmp_path / "elsewhere", {"seed": 6, "top1": 0.6})]
    assert by_seed(records, "scores record") == {5: {"seed": 5, "top1": 0.5}, 6: {"seed": 6, "top1": 0.6}}
    with pytest.raises(UserError, match="names no seed"):
        by_seed([(tmp_path / "seed_0" / "scores", {"top1": 0.5})], "scores record")
    with pytest.raises(UserError, match="a second scores record for seed 5"):
        by_seed([*records, (tmp_path / "copy", {"seed": 5})], "scores record")
