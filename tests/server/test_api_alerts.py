"""``GET /api/alerts``: the outbox as a viewer sees it."""

from __future__ import annotations

from plait.store.records import NewAlert
from tests.server.apifixtures import Api


async def test_alerts_lists_the_outbox_newest_first_for_viewers(api: Api) -> None:
    store, now = api.engine.store, api.engine.clock.now_ms()
    alerts = [
        NewAlert("workflow_failed", f"w{i}@1.1", "webhook", f"w{i}", "hiring", None, f"m{i}", now)
        for i in range(3)
    ]
    assert await store.add_alerts(alerts, now, now) == 3
    [claimed, *_] = await store.claim_alerts(("webhook",), now, 1000, 1)
    assert await store.settle_alert(claimed.id, claimed.attempts, now, None, None)

    r = await api.get("/api/alerts")
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    assert [i["workflow_id"] for i in items] == ["w2", "w1", "w0"]
    assert [i["status"] for i in items] == ["pending", "pending", "sent"]
    assert items[2]["kind"] == "workflow_failed" and items[2]["attempts"] == 1
    assert items[2]["key"].startswith("plait-") and items[2]["link"] is None
    r = await api.get("/api/alerts", params={"status": "sent", "limit": 5})
    assert [i["workflow_id"] for i in r.json()["items"]] == ["w0"]
    assert (await api.get("/api/alerts", params={"status": "lost"})).status_code == 422
    assert (await api.get("/api/alerts", who="nemo")).status_code == 403
    assert (await api.get("/api/alerts", who=None)).status_code == 401
