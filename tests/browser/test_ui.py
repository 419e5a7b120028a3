"""The web UI in a real headless Chromium against a running server with a worker.

One browser for the module; the tests run in order and share the server's state: a
recruiter signs in, finds the waiting offer, answers its task through the generated form
(a validation error first, then an edited field and its diff), and watches the workflow
finish without reloading; an operator cancels a waiting workflow; a viewer sees no action
buttons; a form post without the CSRF token is refused. Then the operator's pages: an
operator finds a schedule declared in code, reads its next run in their own zone and opens
its last run, pauses and resumes it and runs it now, while a viewer sees no buttons; an admin
finds a subject, sees what erasing deletes, erases it, and the workflow keeps its timeline
with its payloads erased, while an operator has no erasure page; the workflows page shows
versions and the versions in flight. Every page is screenshotted.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from croniter import croniter

from tests.browser.conftest import signed_in

pytestmark = pytest.mark.timeout(120)


def test_sign_in_and_find_a_waiting_workflow(browser, live_server, shots):
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": 1360, "height": 860})
    page = context.new_page()
    page.goto(live_server.url + "/workflows")
    expect(page).to_have_url(re.compile(r"/login\?next=/workflows"))  # not signed in
    page.fill("#name", "rita")
    page.fill("#password", "not her password")
    page.click("button[type=submit]")
    expect(page.locator(".flash.error")).to_contain_text("do not match")
    shots(page, "login")
    page.fill("#password", "rita-pass-2026")
    page.click("button[type=submit]")
    expect(page).to_have_url(re.compile(r"/workflows$"))
    expect(page.locator("h1")).to_have_text("Workflows")
    expect(page.locator(".who")).to_contain_text("Rita Recruiter")
    expect(page.locator("[data-inbox-count]")).to_have_text("2")
    shots(page, "workflows")

    page.click(".chips a:has-text('waiting')")
    expect(page).to_have_url(re.compile(r"status=waiting"))
    offer = live_server.ids["offer"]
    row = page.locator(f"tr[data-workflow='{offer}']")
    expect(row).to_contain_text("Approve offer for Ada Lovelace")
    # two offers, the sync and the two index refreshes (for the versions in flight)
    expect(page.locator("tr[data-workflow]")).to_have_count(5)
    row.locator(f"a[href='/workflows/{offer}']").first.click()
    expect(page.locator(".waiting-line")).to_contain_text("Approve offer for Ada Lovelace")
    expect(page.locator(".waiting-line")).to_contain_text("recruiters")
    steps = page.locator(".timeline .tl")
    expect(steps.filter(has_text="draft_offer")).to_contain_text("completed")
    expect(steps.filter(has_text="Approve offer")).to_contain_text("waiting")
    expect(page.locator("text=Cancel workflow")).to_have_count(0)  # an approver, not an operator
    shots(page, "workflow-waiting")
    context.close()


def test_answer_a_task_with_a_validation_error_then_a_diff(browser, live_server, shots):
    from playwright.sync_api import expect

    page = signed_in(browser, live_server, "rita")
    page.click("nav >> text=Inbox")
    rows = page.locator("tr[data-task]")
    expect(rows).to_have_count(2)
    shots(page, "inbox")
    rows.filter(has_text="Ada Lovelace").locator("a").first.click()
    expect(page.locator("h1")).to_have_text("Approve offer for Ada Lovelace")
    expect(page.locator("#f-salary")).to_have_value("52000")  # pre-filled with the proposal
    expect(page.locator("#f-level")).to_have_value("mid")
    expect(page.locator("#f-remote")).to_be_checked()
    expect(page.locator("section").first).to_contain_text("median of the band")
    # Lists grow and shrink.
    expect(page.locator("[data-list='skills'] [data-item]")).to_have_count(2)
    page.click("[data-list='skills'] button.add")
    page.locator("[data-list='skills'] [data-item] input").nth(2).fill("kubernetes")
    page.locator("[data-list='skills'] [data-item]").nth(0).locator("button.remove").click()
    shots(page, "task")

    page.fill("#f-salary", "12000")  # below the form's minimum
    page.click("button:has-text('Review changes')")
    error = page.locator("#f-salary-err")
    expect(error).to_be_visible()
    expect(error).to_contain_text("30000")
    expect(page.locator("#f-salary")).to_have_attribute("aria-invalid", "true")
    shots(page, "task-validation-error")

    page.fill("#f-salary", "61000")
    page.select_option("#f-level", "senior")
    page.click("button:has-text('Review changes')")
    review = page.locator("#review-panel")
    expect(review).to_be_visible()
    salary = review.locator("tr[data-change='salary']")
    expect(salary.locator("td.before")).to_have_text("52000")
    expect(salary.locator("td.after")).to_have_text("61000")
    expect(review.locator("tr[data-change='level']")).to_contain_text("senior")
    expect(review.locator("tr[data-change='skills']")).to_contain_text("kubernetes")
    shots(page, "task-review")

    page.fill("#c-comment", "Senior after the second interview")
    page.click("#submit-answer")
    offer = live_server.ids["offer"]
    expect(page).to_have_url(re.compile(f"/workflows/{offer}"))
    expect(page.locator(".flash")).to_contain_text("Answer recorded")
    page.evaluate("window.__notReloaded = true")
    # The workflow sleeps, sends the offer and completes: the page follows without a reload.
    expect(page.locator(".facts .badge").first).to_have_text("completed", timeout=15_000)
    expect(page.locator(".timeline .tl").filter(has_text="send_offer")).to_contain_text("completed")
    assert page.evaluate("window.__notReloaded") is True
    human = page.locator(".timeline .tl.human_task")
    expect(human).to_contain_text("by rita")
    expect(human).to_contain_text("salary")
    expect(page.locator("[data-inbox-count]")).to_have_text("1")
    shots(page, "workflow-completed")
    page.context.close()


def test_operator_cancels_a_workflow(browser, live_server, shots):
    from playwright.sync_api import expect

    page = signed_in(browser, live_server, "olga")
    sync = live_server.ids["sync"]
    page.goto(f"{live_server.url}/workflows/{sync}")
    expect(page.locator(".waiting-line")).to_contain_text("export-ready")
    page.click("button:has-text('Cancel workflow')")
    confirm = page.locator(".confirm")
    expect(confirm).to_contain_text("children and open tasks are cancelled too")
    shots(page, "workflow-cancel-confirm")
    confirm.locator("button:has-text('Yes')").click()
    expect(page.locator(".flash")).to_contain_text("Cancellation requested")
    expect(page.locator(".facts .badge").first).to_have_text("cancelled", timeout=15_000)
    expect(page.locator(".timeline")).to_contain_text("cancel requested")
    expect(page.locator(".timeline")).to_contain_text("by olga")

    failed = live_server.ids["import"]
    page.goto(f"{live_server.url}/workflows/{failed}")
    expect(page.locator(".error-box")).to_contain_text("UpstreamDown")
    expect(page.locator("button:has-text('Resume')")).to_be_visible()
    expect(page.locator(".tl.step .attempts li")).to_have_count(3)  # opened: it failed
    shots(page, "workflow-failed")

    page.goto(f"{live_server.url}/workflows/{live_server.ids['screening']}")
    expect(page.locator(".tree a")).to_have_count(2)
    shots(page, "workflow-children")
    page.goto(f"{live_server.url}/workers")
    expect(page.locator("tr[data-worker]")).to_have_count(1)
    expect(page.locator("tr[data-worker]")).to_contain_text("alive")
    shots(page, "workers")
    page.context.close()


def test_viewer_sees_no_actions_and_csrf_is_required(browser, live_server, shots):
    from playwright.sync_api import expect

    page = signed_in(browser, live_server, "vic")
    offer2 = live_server.ids["offer2"]
    page.goto(f"{live_server.url}/workflows/{offer2}")
    expect(page.locator(".waiting-line")).to_be_visible()
    expect(page.locator(".actions")).to_have_count(0)
    expect(page.locator("button:has-text('Cancel workflow')")).to_have_count(0)
    page.click(".waiting-line a")
    expect(page.locator("h1")).to_contain_text("Grace Hopper")
    expect(page.locator("#task-form")).to_have_count(0)
    expect(page.locator("section").nth(1)).to_contain_text("can read this task but not answer")
    shots(page, "task-viewer")

    # A form post without the session's CSRF token is refused, and nothing changes.
    request = page.context.request
    refused = request.post(
        f"{live_server.url}/workflows/{offer2}/cancel",
        form={"confirmed": "1"},
        headers={"accept": "text/html"},
    )
    assert refused.status == 403
    assert "CSRF" in refused.text()
    olga = signed_in(browser, live_server, "olga")
    refused = olga.context.request.post(
        f"{live_server.url}/workflows/{offer2}/cancel", form={"confirmed": "1"}
    )
    assert refused.status == 403 and "csrf" in refused.text()
    olga.goto(f"{live_server.url}/workflows/{offer2}")
    expect(olga.locator(".facts .badge").first).to_have_text("waiting")
    olga.context.close()
    page.context.close()


def test_without_javascript_the_review_is_a_page_and_without_sse_the_page_polls(
    browser, live_server, shots
):
    from playwright.sync_api import expect

    from tests.browser.conftest import PASSWORDS

    def sign_in(page, target):
        page.goto(live_server.url + "/login?next=" + target)
        page.fill("#name", "rita")
        page.fill("#password", PASSWORDS["rita"])
        page.click("button[type=submit]")

    offer2 = live_server.ids["offer2"]
    # A page with JavaScript but without EventSource, open while the workflow waits.
    poller = browser.new_context(viewport={"width": 1360, "height": 860})
    poller.add_init_script("delete window.EventSource;")
    watching = poller.new_page()
    sign_in(watching, f"/workflows/{offer2}")
    expect(watching.locator(".facts .badge").first).to_have_text("waiting")
    watching.evaluate("window.__notReloaded = true")
    assert watching.evaluate("typeof window.EventSource") == "undefined"

    # Without JavaScript, the review of the answer is a page of its own.
    context = browser.new_context(
        viewport={"width": 1360, "height": 860}, java_script_enabled=False
    )
    page = context.new_page()
    sign_in(page, "/inbox")
    page.click("a:has-text('Approve offer for Grace Hopper')")
    page.fill("#f-salary", "58000")
    page.click("button:has-text('Review changes')")
    expect(page).to_have_url(re.compile(r"/tasks/.+/review$"))
    expect(page.locator("tr[data-change='salary'] td.after")).to_have_text("58000")
    shots(page, "task-review-no-js")
    page.click("#submit-answer")
    expect(page).to_have_url(re.compile(f"/workflows/{offer2}"))
    expect(page.locator(".flash")).to_contain_text("Answer recorded")
    context.close()

    # The polling page follows the workflow to its end without a reload.
    expect(watching.locator(".facts .badge").first).to_have_text("completed", timeout=20_000)
    assert watching.evaluate("window.__notReloaded") is True
    poller.close()


# -- the operator's pages: schedules, erasure, versions in flight ----------------------------
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
    # starting a run can be undone (cancel it): the question is not dressed as destructive
    expect(row.locator(".confirm")).to_have_class(re.compile(r"\bcalm\b"))
    expect(row.locator(".confirm button:has-text('Yes')")).to_have_class("primary")
    shots(page, "schedules-run-now")
    row.locator(".confirm button:has-text('Yes')").click()
    expect(page).to_have_url(re.compile(r"/workflows/nightly-report@"))
    started = page.url.rsplit("/", 1)[1].split("?")[0]
    expect(page.locator(".flash")).to_contain_text("Started now by its schedule")
    expect(page.locator(".facts .badge").first).to_have_text("completed", timeout=15_000)
    started_row = page.locator(".timeline .tl.event").filter(has_text="started")
    expect(started_row).to_contain_text("by olga")
    expect(started_row).to_contain_text("run now, of schedule nightly-report")
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
    expect(page.locator(".confirm")).not_to_have_class(re.compile(r"\bcalm\b"))
    expect(page.locator(".confirm button:has-text('Yes')")).to_have_class("danger solid")
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
