"""A job that waits on a busy MLflow store says so in its log (no silent idling on a lock)."""

from __future__ import annotations

import logging

from viprepro.jobs import tracking


def test_a_wait_on_a_locked_store_is_logged(caplog):
    answers = iter([RuntimeError("(sqlite3.OperationalError) database is locked")] * 2 + ["run"])

    def create_run():
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    with caplog.at_level(logging.WARNING, logger="viprepro.jobs.tracking"):
        assert tracking._retry(create_run) == "run"
    assert any("MLflow store busy: create_run waited" in r.getMessage() and "2 retries" in r.getMessage() for r in caplog.records)


def test_no_wait_no_message(caplog):
    with caplog.at_level(logging.WARNING, logger="viprepro.jobs.tracking"):
        assert tracking._retry(lambda: 1) == 1
    assert not caplog.records
