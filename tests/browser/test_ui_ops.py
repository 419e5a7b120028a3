"""The operator's pages in a real headless Chromium, on the server and browser that
``test_ui.py`` uses (one session): an operator finds a schedule declared in code, reads its
next run in their own zone and opens its last run, pauses and resumes it and runs it now; a
viewer sees the schedules without buttons; an admin finds a subject, sees what erasing it
deletes, erases it, and the workflow keeps its timeline with erased payloads; a non-admin has
no erasure page; the workflows page shows versions and the versions in flight. Every page is
screenshotted.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from croniter import croniter

from tests.browser.conftest import signed_in

pytestmark = pytest.mark.timeout(120)


def _next_report_in_paris() -> str:
    """When ``nightly-report`` (02:00 in New York) runs next, as Paris reads a clock."""
    new_york = datetime.now(UTC).astimezone(ZoneInfo("America/New_York"))
    tick: datetime = croniter("0 2 * * *", new_york).get_next(datetime)
    return tick.astimezone(ZoneInfo("Europe/Paris")).strftime("%H:%M")


def test_operator_pauses_resumes_and_runs_a_schedule(browser, live_server, shots):
    from playwright.sync_api import expect

    page = signed_in(browser, live_server, "olga")
    page.click("nav >> text=Schedules")
    expect(page.locator("h1")).to_have_text("Schedules")
    row = page.locator("tr[data-schedule='nightly-report']")
    expect(row).to_contain_text("declared in code")
    expect(row).to_contain_text("0 2 * * *")
    expect(row).to_contain_text("America/New_York")
    expect(row.locator("td.next time").first).to_contain_text(_next_report_in_paris())
    expect(row.locator("td.state .badge")).to_have_text("active")
    last = row.locator(f"td.last a[href='/workflows/{live_server.ids['report']}']")
    expect(last).to_be_visible()
    expect(row.locator("td.last .badge")).to_have_text("completed")
    expect(page.locator("tr[data-schedule='hourly-report'] td.state .badge")).to_have_text("paused")
    shots(page, "schedules")

    last.click()
    expect(page.locator("h1")).to_contain_text("nightly_report")
    expect(page.locator(".facts .badge").first).to_have_text("completed")
    page.go_back()

    row.locator("button:has-text('Pause')").click()
    expect(page.locator(".flash")).to_contain_text("Paused")
    expect(row.locator("td.state .badge")).to_have_text("paused")
    expect(row.locator("td.next")).to_contain_text("paused")
    shots(page, "schedules-paused")
    row.locator("button:has-text('Resume')").click()
    expect(page.locator(".flash")).to_contain_text("Resumed")
    expect(row.locator("td.state .badge")).to_have_text("active")

    row.locator("button:has-text('Run now')").click()
    expect(row.locator(".confirm")).to_contain_text("Start nightly_report")
    shots(page, "schedules-run-now")
    row.locator(".confirm button:has-text('Yes')").click()
    expect(page).to_have_url(re.compile(r"/workflows/nightly-report@"))
    started = page.url.rsplit("/", 1)[1].split("?")[0]
    expect(page.locator(".flash")).to_contain_text("Started now by its schedule")
    expect(page.locator(".facts .badge").first).to_have_text("completed", timeout=15_000)
    expect(page.locator(".timeline")).to_contain_text("by olga")
    page.click("nav >> text=Schedules")
    expect(row.locator(f"td.last a[href='/workflows/{started}']")).to_be_visible()
    page.context.close()

    viewer = signed_in(browser, live_server, "vic")
    viewer.goto(live_server.url + "/schedules")
    expect(viewer.locator("tr[data-schedule]")).to_have_count(2)
    expect(viewer.locator("tr[data-schedule] button")).to_have_count(0)
    expect(viewer.locator("nav >> text=Erasure")).to_have_count(0)
    viewer.context.close()


def test_admin_erases_a_subject_and_the_timeline_stays(browser, live_server, shots):
    from playwright.sync_api import expect

    ada = live_server.ids["ada"]
    page = signed_in(browser, live_server, "amir")
    page.goto(f"{live_server.url}/workflows/{ada}")
    expect(page.locator("#main")).to_contain_text("ada@example.org")  # before: the payloads
    page.click("nav >> text=Erasure")
    expect(page.locator("h1")).to_contain_text("Erase")
    shots(page, "subjects")
    page.fill("input[name=subject]", "cand-ada")
    page.click("button:has-text('Find')")
    expect(page).to_have_url(re.compile(r"/subjects/cand-ada$"))
    deletes = page.locator("section.erase")
    expect(deletes).to_contain_text("1 workflow (children included), 1 record and 0 blobs")
    expect(page.locator(f"tr[data-workflow='{ada}']")).to_contain_text("kept")
    shots(page, "subject")

    page.click("button:has-text('Erase cand-ada')")
    expect(page.locator(".confirm")).to_contain_text("cannot be undone")
    shots(page, "subject-confirm")
    page.locator(".confirm button:has-text('Yes')").click()
    expect(page).to_have_url(re.compile(r"/subjects/cand-ada\?done=erased$"))
    expect(page.locator(".flash")).to_contain_text("Erased")
    expect(page.locator("section.erasures")).to_contain_text("by amir")
    expect(page.locator(f"tr[data-workflow='{ada}']")).to_contain_text("erased")
    expect(page.locator("section.erase")).to_have_count(0)  # nothing left to erase
    shots(page, "subject-erased")

    page.goto(f"{live_server.url}/workflows/{ada}")
    main = page.locator("#main")
    expect(main).not_to_contain_text("ada@example.org")
    expect(page.locator(".erased-line")).to_contain_text("erased by amir")
    expect(page.locator(".panel").first).to_contain_text("erased")
    timeline = page.locator(".timeline")
    cv = timeline.locator(".tl").filter(has_text="read_cv")
    expect(cv).to_contain_text("completed")
    expect(cv).to_contain_text("result erased")
    expect(timeline.locator(".tl.event").filter(has_text="erased")).to_contain_text("by amir")
    shots(page, "workflow-erased")
    page.context.close()

    operator = signed_in(browser, live_server, "olga")
    expect(operator.locator("nav >> text=Erasure")).to_have_count(0)
    refused = operator.goto(live_server.url + "/subjects")
    assert refused is not None and refused.status == 403
    operator.context.close()


def test_workflows_show_versions_in_flight(browser, live_server, shots):
    from playwright.sync_api import expect

    page = signed_in(browser, live_server, "vic")
    page.goto(live_server.url + "/workflows?name=refresh_index")
    rows = page.locator("tr[data-workflow]")
    expect(rows).to_have_count(2)
    expect(page.locator("thead th").nth(2)).to_have_text("Version")
    expect(
        page.locator(f"tr[data-workflow='{live_server.ids['index-old']}'] td").nth(2)
    ).to_have_text("1")
    expect(
        page.locator(f"tr[data-workflow='{live_server.ids['index-new']}'] td").nth(2)
    ).to_have_text("2")
    versions = page.locator("section.versions")
    expect(versions.locator("tr[data-version='refresh_index@1']")).to_contain_text("1")
    expect(versions.locator("tr[data-version='refresh_index@2']")).to_contain_text("1")
    shots(page, "workflows-versions")
    page.context.close()
