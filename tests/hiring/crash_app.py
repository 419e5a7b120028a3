"""The hiring application as ``tests/hiring/test_pipeline_crash.py`` runs it in worker
processes: ``hiring.app``'s workflows on ``PLAIT_DATABASE_URL``, with a shorter lease (a
surviving worker notices a killed one within ~3 s, not 10) and a short
poll interval (signals and tasks sent from the test's process are seen at once). Nothing
else differs from ``hiring.app:engine``.
"""

from __future__ import annotations

import os
from datetime import timedelta

import plait
from hiring.app import WORKFLOWS

engine = plait.Engine(
    os.environ["PLAIT_DATABASE_URL"],
    workflows=WORKFLOWS,
    lease_ttl=timedelta(seconds=10),
    poll_interval=timedelta(milliseconds=100),
)
