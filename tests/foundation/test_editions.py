"""Editions: a task that ran in several years follows the chosen year's toolkit, and says so.

The 2020 tasks have one edition; a task with several is simulated here by giving the
classification task two (the later-edition task packages declare theirs for real).
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from viprepro.errors import UserError
from viprepro.jobs.step import StepParser
from viprepro.judging.verdict_record import scored_edition
from viprepro.report.leaderboard import edition_text
from viprepro.steps import get_step
from viprepro.steps.score import _identity
from viprepro.steps.synth import SYNTH, options_of
from viprepro.tasks import get_task
from viprepro.tasks.base import edition_record, resolve_edition

EDITIONS = {"2021": "1" * 40, "2022": "2" * 40}


@pytest.fixture
def two_editions(monkeypatch):
    task = get_task("classification")
    monkeypatch.setattr(type(task), "editions", EDITIONS)
    monkeypatch.setattr(type(task), "default_edition", "2022")
    return task


def test_an_edition_resolves_to_the_requested_or_the_default_and_records_its_commit(two_editions):
    assert resolve_edition(two_editions, None, where="here") == "2022"
    assert resolve_edition(two_editions, "2021", where="here") == "2021"
    assert edition_record(two_editions, "2021") == {"edition": "2021", "toolkit_commit": "1" * 40}
    assert edition_text(edition_record(two_editions, "2021")) == "2021 (toolkit 1111111)"
    assert edition_record(two_editions, None) is None and edition_text(None) == ""


def test_an_edition_the_task_never_ran_in_is_refused_naming_where(two_editions):
    with pytest.raises(UserError, match=r"config key 'datasets.classification.edition': .* no edition '2020' \(editions: 2021, 2022\)"):
        resolve_edition(two_editions, "2020", where="config key 'datasets.classification.edition'")


def test_a_task_of_one_edition_refuses_any_edition():
    task = get_task("classification")
    assert resolve_edition(task, None, where="here") is None
    with pytest.raises(UserError, match="single edition"):
        resolve_edition(task, "2021", where="here")


def test_the_commands_take_the_edition_as_a_task_option(two_editions):
    score = StepParser(get_step("score")).parse_args(["--task", "classification", "--gt", "g", "--submission", "s", "--out", "o"])
    assert score.task_options["edition"] == "2022"  # the default reaches the task
    score = StepParser(get_step("score")).parse_args(
        ["--task", "classification", "--gt", "g", "--submission", "s", "--out", "o", "--edition", "2021"]
    )
    assert score.task_options["edition"] == "2021"
    assert _identity(score)["edition"] == "2021"
    with pytest.raises(SystemExit):  # a year the task never ran in
        StepParser(get_step("score")).parse_args(
            ["--task", "classification", "--gt", "g", "--submission", "s", "--out", "o", "--edition", "2020"]
        )
    synth = StepParser(SYNTH).parse_args(["--task", "classification", "--out", "x", "--edition", "2021"])
    assert options_of(synth, two_editions)["edition"] == "2021"  # not checked against the generator's schema


def test_a_task_of_one_edition_has_no_edition_flag():
    with pytest.raises(SystemExit):
        StepParser(get_step("score")).parse_args(
            ["--task", "classification", "--gt", "g", "--submission", "s", "--out", "o", "--edition", "2021"]
        )
    args = StepParser(get_step("score")).parse_args(["--task", "classification", "--gt", "g", "--submission", "s", "--out", "o"])
    assert "edition" not in args.task_options
    assert "edition" not in _identity(args)


def _run(test, val=()):
    return SimpleNamespace(
        spec_path=Path("spec.yaml"),
        test_scores={seed: {"status": "scored", **({"edition": e} if e else {})} for seed, e in enumerate(test)},
        val_scores={seed: {"status": "scored", "edition": e} for seed, e in enumerate(val)},
    )


def test_the_verdict_takes_the_edition_every_seed_was_scored_to():
    assert scored_edition(_run(["2022", "2022"], val=["2022"])) == "2022"
    assert scored_edition(_run([None, None])) is None  # a task of one edition


def test_seeds_scored_to_different_editions_are_not_judged_together():
    with pytest.raises(UserError, match="different editions"):
        scored_edition(_run(["2021", "2022"]))
    with pytest.raises(UserError, match="different editions"):
        scored_edition(_run(["2022"], val=["2021"]))
