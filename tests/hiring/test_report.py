"""How the board and the report word what a candidate waits for."""

from __future__ import annotations


def test_a_status_text_shows_times_for_people() -> None:
    from hiring.report import readable

    assert readable("interview at 2026-12-07T09:00:00+00:00") == (
        "interview at Mon 07 Dec 2026, 09:00 UTC"
    )
    assert readable("interview at 2026-12-07T10:30:00+01:00") == (
        "interview at Mon 07 Dec 2026, 09:30 UTC"
    )
    assert readable("scored 0.74") == "scored 0.74"
