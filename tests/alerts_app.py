"""An engine for the alert restart tests, loaded by real worker processes
(``python -m plait.cli worker tests.alerts_app:engine``): ``PLAIT_ALERTS_TEST_DB`` is the
database, ``PLAIT_ALERTS_TEST_WEBHOOK`` the receiver; alerts are scanned for and retried
every fraction of a second."""

from __future__ import annotations

import os
from datetime import timedelta

import plait


@plait.workflow
async def failing(ctx: plait.Context) -> None:
    raise RuntimeError("the model is down")


def make_engine(url: str, webhook: str) -> plait.Engine:
    return plait.Engine(
        url,
        workflows=[failing],
        poll_interval=timedelta(milliseconds=50),
        alerts=plait.Alerts(
            webhook=webhook,
            ui_url="https://plait.example",
            scan_interval=timedelta(milliseconds=100),
            retry_interval=timedelta(milliseconds=200),
            timeout=timedelta(seconds=2),
        ),
    )


engine = make_engine(
    os.environ.get("PLAIT_ALERTS_TEST_DB", "sqlite://:memory:"),
    os.environ.get("PLAIT_ALERTS_TEST_WEBHOOK", "http://127.0.0.1:9/hook"),
)
