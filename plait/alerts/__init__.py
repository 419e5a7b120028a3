"""Alerts: a webhook call or an e-mail when a workflow fails or blocks, a crash loop is
stopped, or a human task becomes overdue or escalates; each event sent once, with a link to
its page in the UI (docs/operations.md, "Alerts").

Settings are :class:`Alerts` (``Engine(alerts=...)``, else the environment); workers find
events and send them (:mod:`plait.alerts.runner`) through the store's outbox;
``engine.list_alerts()`` shows what was sent.
"""

from plait.alerts.config import AlertKind, Alerts, AlertStatus, SmtpServer, resolve
from plait.alerts.deliver import KEY_HEADER, SIGNATURE_HEADER, alert_key, signature
from plait.alerts.runner import AlertAPI, AlertInfo, AlertRunner

__all__ = [
    "KEY_HEADER",
    "SIGNATURE_HEADER",
    "AlertAPI",
    "AlertInfo",
    "AlertKind",
    "AlertRunner",
    "AlertStatus",
    "Alerts",
    "SmtpServer",
    "alert_key",
    "resolve",
    "signature",
]
