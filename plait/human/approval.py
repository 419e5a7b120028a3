"""``plait.Approval``: the answer to a human task asked without a form.

In a module of its own, imported on first use (``plait.Approval``, ``plait.human.Approval``
and ``plait.human.forms.Approval`` resolve it lazily), because defining a Pydantic model
loads pydantic's model machinery (~60 ms), which a worker running no human task never needs.
"""

from __future__ import annotations

import pydantic


class Approval(pydantic.BaseModel):
    """The answer to a human task asked without a form: approve or reject, with a comment."""

    # Its stored form name stays "plait.human:Approval" (rows written before the package).
    __module__ = "plait.human"

    approved: bool
    comment: str | None = None
