"""The hiring demo (`python -m hiring demo`, what `make demo` runs) played in a real Chromium.

The demo runs as a subprocess on free ports with a temporary data folder; its password is
read from what it prints. One browser session then plays the flow a new user meets: the
recruiter confirms a job's skills, the hiring manager approves the shortlist, the recruiter
confirms the declines, edits and approves an outreach e-mail, reads it in the demo mailbox,
replies as the candidate, picks a slot and reads the invite; then the candidate page and the
job's report. Every page is screenshotted into ``test-output/screenshots/hiring/`` (and, with
``PLAIT_UI_DOCS=1``, into ``docs/hiring/``, the pictures ``docs/demo.md`` shows).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, ROOT, _free_port, _need_browser

pytestmark = pytest.mark.timeout(180)

SHOTS = ROOT / "test-output" / "screenshots" / "hiring"
DOCS = ROOT / "docs" / "hiring"
JOB = "backend-engineer"
JOB_TITLE = "Senior Backend Engineer (Python / PostgreSQL)"
LONG = 45_000  # ms: generous, for a loaded machine; nothing here sleeps for a fixed time


class Demo:
    """`python -m hiring demo` in a subprocess; its output is kept for error messages."""

    def __init__(self, data: Path) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PLAIT_", "HIRING_"))}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "hiring", "demo", "--port", str(self.port),
             "--smtp-port", str(_free_port()), "--data", str(data)],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            start_new_session=True,
        )  # fmt: skip
        self.lines: list[str] = []
        self.password: str | None = None
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))
            found = re.search(r"password: (\S+)", line)
            if found and self.password is None:
                self.password = found.group(1)

    def output(self) -> str:
        return "\n".join(self.lines[-40:])

    def wait_ready(self, seconds: float = 60) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the demo exited ({self.proc.returncode}):\n{self.output()}")
            if self.password is not None:
                try:
                    if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
            time.sleep(0.2)
        raise RuntimeError(f"the demo did not answer within {seconds} s:\n{self.output()}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.reader.join(timeout=5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    _need_browser()
    d = Demo(tmp_path_factory.mktemp("hiring-demo"))
    try:
        d.wait_ready()
        yield d
    finally:
        d.stop()


@pytest.fixture(scope="module")
def page(demo: Demo) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    pw = sync_playwright().start()
    chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
    context = chromium.new_context(
        viewport={"width": 1280, "height": 800}, timezone_id="Europe/Berlin", locale="en-GB"
    )
    context.set_default_timeout(15_000)
    yield context.new_page()
    context.close()
    chromium.close()
    pw.stop()


@pytest.fixture(scope="module")
def shot() -> Iterator[Callable[..., None]]:
    SHOTS.mkdir(parents=True, exist_ok=True)
    taken: list[Path] = []

    def take(page: Any, name: str, focus: Any = None) -> None:
        # The whole page up to 2,400 px tall (or the 1,400 px ending below ``focus``), in
        # 256 colours: small enough to commit.
        path = SHOTS / f"{name}.png"
        total = page.evaluate("document.documentElement.scrollHeight")
        top, height = 0, min(total, 2400)
        if focus is not None:
            box = focus.bounding_box()
            page_y = box["y"] + page.evaluate("window.scrollY")
            top = max(0, min(page_y + box["height"] + 40, total) - 1400)
            height = min(1400, total - top)
        clip = {"x": 0, "y": top, "width": 1280, "height": height}
        page.screenshot(path=str(path), full_page=True, clip=clip)
        try:
            from PIL import Image
        except ImportError:
            pass
        else:
            with Image.open(path) as image:
                image.convert("RGB").quantize(256).save(path, optimize=True)
        taken.append(path)

    yield take
    if os.environ.get("PLAIT_UI_DOCS") == "1":
        DOCS.mkdir(parents=True, exist_ok=True)
        for path in taken:
            shutil.copy(path, DOCS / path.name)


def sign_in(page: Any, demo: Demo, name: str) -> None:
    from playwright.sync_api import expect

    if page.locator("form[action='/logout'] button").count():
        page.locator("form[action='/logout'] button").click()
    page.goto(demo.url + "/login")
    page.fill("#name", name)
    assert demo.password is not None
    page.fill("#password", demo.password)
    page.click("button[type=submit]")
    expect(page.locator(".who")).to_be_visible()


def reload_until(page: Any, find: Callable[[], Any], seconds: float = 60) -> Any:
    """Reloads until ``find()`` is visible (for pages without a live update)."""
    from playwright.sync_api import expect

    deadline = time.monotonic() + seconds
    while True:
        try:
            expect(find()).to_be_visible(timeout=2_000)
            return find()
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            page.reload()


def open_task(page: Any, demo: Demo, title: str) -> None:
    from playwright.sync_api import expect

    page.goto(demo.url + "/inbox")
    row = reload_until(page, lambda: page.locator("tr[data-task]", has_text=title).first, 90)
    row.locator("a").first.click()
    expect(page.locator("h1")).to_contain_text(title)


def test_the_demo_in_a_browser(demo: Demo, page: Any, shot: Any) -> None:
    from playwright.sync_api import expect

    # The recruiter opens the address the demo printed, signs in and finds the jobs, each
    # waiting for its skills' confirmation.
    opened = re.search(r"Open (http\S+)", "\n".join(demo.lines))
    assert opened, demo.output()
    page.goto(opened.group(1))
    expect(page).to_have_url(re.compile(r"/login"))
    page.fill("#name", "rita")
    page.fill("#password", demo.password or "")
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text("Jobs")
    expect(page.locator("tbody tr")).to_have_count(3)
    expect(page.locator("tbody")).to_contain_text("Confirm the skills for")
    shot(page, "01-jobs")
    page.click(f"a[href='/hiring/jobs/{JOB}'] >> nth=0")
    expect(page.locator(".waiting-line")).to_contain_text("Confirm the skills")
    expect(page.locator("section.col[aria-label='received'] article.card")).to_have_count(9)
    shot(page, "02-board-received")

    # Confirm the skills: drop one that does not belong, make one a nice-to-have, add one.
    page.locator(".waiting-line a").first.click()
    expect(page.locator("h1")).to_contain_text("Confirm the skills")
    names = page.locator("[data-list='skills'] [data-item] input[name$='.name']")
    values = [names.nth(i).input_value() for i in range(names.count())]
    assert "Python" in values and "Kafka" in values, values
    kafka = values.index("Kafka")
    page.locator(f"#f-skills-{kafka}-required").uncheck()
    # The offline extractor read "budgeting and forecasting" into the salary line: not a skill.
    items = page.locator("[data-list='skills'] [data-item]")
    wrong = items.filter(has=page.locator("input[value='budgeting and forecasting']"))
    if wrong.count():
        wrong.locator("button.remove").click()
        expect(wrong).to_have_count(0)
    page.click("[data-list='skills'] button.add")
    page.locator("[data-list='skills'] [data-item] input[name$='.name']").last.fill("asyncio")
    page.locator("[data-list='skills'] [data-item] input[type=checkbox]").last.uncheck()
    shot(page, "03-skills-task")
    page.click("button:has-text('Review changes')")
    review = page.locator("#review-panel")
    expect(review).to_be_visible()
    expect(review).to_contain_text("asyncio")
    shot(page, "04-skills-review", review)
    page.click("#submit-answer")
    expect(page.locator(".flash")).to_contain_text("Answer recorded")

    # The pipeline screens the candidates and shortlists them for the hiring manager.
    # The board follows without a reload.
    page.goto(f"{demo.url}/hiring/jobs/{JOB}")
    page.evaluate("window.__notReloaded = true")
    screened = page.locator("section.col[aria-label='screened'] article.card")
    expect(screened).to_have_count(9, timeout=LONG)
    expect(page.locator(".waiting-line")).to_contain_text("Approve the shortlist", timeout=LONG)
    expect(screened.first.locator(".score")).not_to_be_empty()
    assert page.evaluate("window.__notReloaded") is True
    shot(page, "05-board-screened")

    # The hiring manager approves the shortlist, taking one more candidate in.
    sign_in(page, demo, "hank")
    open_task(page, demo, "shortlist")
    expect(page.locator("#f-candidates-0-include")).to_be_checked()
    expect(page.locator("#f-candidates-4-include")).not_to_be_checked()
    taken = page.locator("#f-candidates-4-candidate_id").input_value()
    page.locator("#f-candidates-4-include").check()
    page.click("button:has-text('Review changes')")
    review = page.locator("#review-panel")
    expect(review).to_be_visible()
    shot(page, "06-shortlist-review", review)
    page.click("#submit-answer")
    expect(page.locator(".flash")).to_contain_text("Answer recorded")

    # The recruiter confirms the courteous declines for those not taken.
    sign_in(page, demo, "rita")
    open_task(page, demo, "Send a courteous decline")
    expect(page.locator("section.panel.soft")).to_contain_text(JOB_TITLE)
    shot(page, "07-declines-task")
    page.fill("#f-comment", "Thank them; the bar for this role is high.")
    page.click("button[value=approve]")
    expect(page.locator(".flash")).to_contain_text("Answer recorded")

    # One outreach e-mail: the recruiter edits the draft, reviews the change and approves it.
    page.goto(demo.url + "/inbox")
    open_task(page, demo, "Approve the outreach e-mail")
    name = page.locator("section.panel.soft dd").first.inner_text().strip()
    first = name.split()[0]
    body = page.locator("#f-body")
    expect(body).to_contain_text(f"Dear {first},")
    edited = body.input_value().replace(
        "Would you be open",
        "Your work on PostgreSQL at scale is exactly what we need. Would you be open",
    )
    body.fill(edited)
    page.click("button:has-text('Review changes')")
    review = page.locator("#review-panel")
    expect(review).to_contain_text("PostgreSQL at scale")
    shot(page, "08-outreach-review", review)
    page.click("#submit-answer")
    expect(page.locator(".flash")).to_contain_text("Answer recorded")

    # The e-mail arrives in the demo mailbox, as the candidate would receive it.
    page.click("nav >> text=Mailbox")
    mail = reload_until(page, lambda: page.locator("tbody tr", has_text=name).first)
    shot(page, "09-mailbox")
    mail.locator("td a").first.click()
    head = page.locator("dl.mailhead")
    expect(head).to_contain_text(f"{first.lower()}")
    expect(head).to_contain_text("reply+")
    expect(head).to_contain_text("one-click (RFC 8058)")
    text = page.locator("section pre").first
    expect(text).to_contain_text("PostgreSQL at scale")  # the recruiter's edit was sent
    expect(text).to_contain_text("Why you are hearing from us")  # the GDPR Art. 14 notice
    shot(page, "10-outreach-mail")

    # Reply as the candidate: interested. The pipeline answers with three times to choose.
    reply = page.locator("#reply-text")
    reply.fill("Yes, I'd love to talk. Any afternoon works for me.\n" + reply.input_value())
    page.click("button:has-text('Send the reply')")
    page.goto(demo.url + "/hiring/mailbox")
    slots = reload_until(
        page, lambda: page.locator("tbody tr", has_text=name).filter(has_text="time").first
    )
    slots.locator("td a").first.click()
    expect(page.locator("h1")).to_contain_text("Interview times")
    expect(page.locator("section pre").first).to_contain_text("/hiring/slot/")
    shot(page, "11-slots-mail")

    # Pick the first time (as the e-mail's link would); an invite arrives with the .ics.
    page.click("button:has-text('Pick slot 1')")
    expect(page.locator("h1")).to_contain_text("your interview time is confirmed")
    expect(page.locator(".public")).to_contain_text("A calendar invite is on its way")
    shot(page, "12-slot-picked")
    page.goto(demo.url + "/hiring/mailbox")
    invite = reload_until(
        page, lambda: page.locator("tbody tr", has_text=name).filter(has_text="invite").first
    )
    shot(page, "13-mailbox-invite")
    invite.locator("td a").first.click()
    event = page.locator(".invite")
    expect(event).to_contain_text("REQUEST")
    expect(event).to_contain_text(name)
    shot(page, "14-invite-mail")

    # The candidate page: the score explained with its evidence, messages, the audit trail.
    page.locator(".head .sub a", has_text=name).click()
    expect(page.locator("h1")).to_have_text(name)
    expect(page.locator(".facts .badge").first).to_have_text("interviewing")
    expect(page.locator("ul.skills li").first).to_contain_text("required")
    expect(page.locator("ul.skills q").first).not_to_be_empty()  # the résumé's own sentence
    expect(page.locator("main")).to_contain_text("PostgreSQL at scale")  # the message sent
    expect(page.locator("main")).to_contain_text("Yes, I'd love to talk")  # and the reply
    expect(page.locator("main")).to_contain_text("outreach answered")  # the audit trail
    shot(page, "15-candidate", page.locator("ul.skills"))
    shot(page, "16-candidate-messages", page.locator("table.audit"))

    # The job's report and its board: where everyone is now.
    page.goto(f"{demo.url}/hiring/jobs/{JOB}/report")
    funnel = page.locator("section", has=page.locator("h2", has_text="Funnel"))
    expect(funnel.locator("tr", has_text="interviewing")).to_contain_text("1")
    now = page.locator("tr", has=page.locator(f"a:text-is('{name}')")).locator("td").nth(3)
    expect(now).to_have_text(re.compile(r"interview at \w{3} \d\d \w{3} \d{4}, \d\d:\d\d UTC"))
    shot(page, "17-report")
    page.goto(f"{demo.url}/hiring/jobs/{JOB}")
    interviewing = page.locator("section.col[aria-label='interviewing'] article.card")
    expect(interviewing).to_contain_text(name)
    expect(page.locator("section.col[aria-label='not selected'] article.card")).to_have_count(4)
    # The candidate the hiring manager took in beyond the proposal is on the shortlist.
    taken_card = page.locator(f"section.col[aria-label='shortlisted'] [data-candidate='{taken}']")
    expect(taken_card).to_have_count(1)
    shot(page, "18-board-after")
