"""The hiring pipeline end to end on the fake clock: one job, ten candidates, every stage,
people answering through the engine's API, mail through a real SMTP server on loopback,
replies through the webhook path and through a real IMAP server, invites read back with
icalendar."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

import plait
from hiring import book, imap_loop, report, routing
from hiring.mail.imap import ImapSettings
from hiring.models import Slot
from plait.testing import TestEngine
from tests.hiring.pipeline_kit import calendar_of, pipeline, reply_raw
from tests.hiring.test_imap import append, imap_port, mailbox  # noqa: F401  (fixtures)

pytestmark = pytest.mark.timeout(120)

LINK = re.compile(r"https?://hiring\.test/hiring/slot/(\S+)")


async def test_one_job_ten_candidates_every_stage(
    test_engine: TestEngine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    mailbox: ImapSettings,  # noqa: F811
) -> None:
    engine = test_engine
    async with pipeline(engine, tmp_path, monkeypatch) as p:
        await p.start()
        started = engine.clock.now()

        # -- skills: proposed with their sentences, confirmed with an edit by a recruiter
        (task,) = await p.open_tasks("Confirm the skills")
        proposed = task.proposal["skills"]
        assert len(proposed) >= 3 and all(s["sentence"] for s in proposed)
        edited = [dict(s) for s in proposed[1:]] + [
            {"name": "Mentoring", "required": False, "sentence": "added by the recruiter"}
        ]
        await engine.complete_task(task.id, {"skills": edited}, by="rita")
        await p.step()
        (done,) = await engine.tasks(workflow_id=p.job_wid, status="completed")
        assert done.completed_by == "rita" and done.changes  # the edit is recorded

        # -- ten screenings, each a child with the candidate as its subject
        screenings = (await engine.page(name="hiring.screening", limit=50)).items
        assert len(screenings) == 10
        assert all(w.status == plait.WorkflowStatus.COMPLETED for w in screenings)
        assert all(w.subject for w in screenings)

        # -- the shortlist: every scored candidate offered, one added, one removed
        (task,) = await p.open_tasks("Approve the shortlist")
        assert len(task.proposal["candidates"]) == 10
        chosen, proposed_ids = await p.shortlist(add=1, remove=1, by="hank")
        assert len(chosen) == 5 and set(chosen) != set(proposed_ids)
        removed = next(c for c in proposed_ids if c not in chosen)
        added = next(c for c in chosen if c not in proposed_ids)
        others = [w.subject for w in screenings if w.subject not in chosen]
        assert removed in others and len(others) == 5
        assert p.received == []  # nobody is contacted before a person confirms

        # -- declines: confirmed by a recruiter, then one courteous message each
        await p.confirm_declines(by="rita")
        for cid in others:
            assert cid is not None
            (mail,) = p.mails_to((await p.profile(cid)).email)
            assert mail.view().subject.startswith("Your application")
            assert "not to move forward" in mail.view().text

        # -- outreach: drafted, one edited, approved, sent with token and unsubscribe
        people = {cid: await p.profile(cid) for cid in chosen}
        a, b, c, d, e = (people[cid] for cid in chosen)
        await p.approve_outreach({a.email: "PS: the team works hybrid from Berlin."})
        outreach = {cid: p.mails_to(x.email)[-1] for cid, x in people.items()}
        assert all(len(p.mails_to(x.email)) == 1 for x in people.values())
        first = outreach[a.id].view()
        assert "PS: the team works hybrid from Berlin." in first.text
        assert first.reply_to and first.reply_to.startswith("reply+")
        assert first.one_click_unsubscribe and first.list_unsubscribe
        assert "Art. 14" in first.text or "legitimate interest" in first.text
        contacted_at = engine.clock.now()

        # -- replies: A interested (webhook), B a question (IMAP), E not interested
        #    (webhook), D unsubscribes by the link in the List-Unsubscribe header
        assert (await p.reply(a.email, "Yes, I'd love to talk!", number=1)).outcome == "reply"
        append(mailbox, reply_raw(p, b.email, "Is the role remote, and what is the salary?", 2))
        (routed,) = await imap_loop.poll(engine, mailbox)
        assert routed.outcome == "reply" and routed.candidate_id == b.id
        assert await imap_loop.poll(engine, mailbox) == []  # the cursor moved on
        not_now = "Thanks, but I'm not interested in a new role right now."
        assert (await p.reply(e.email, not_now, number=3)).outcome == "reply"
        link = next(u for u in first.list_unsubscribe if u.startswith("http"))
        d_link = next(
            u for u in outreach[d.id].view().list_unsubscribe if u.startswith("http") and u != link
        )
        assert await routing.unsubscribe(engine, d_link.rsplit("/", 1)[-1]) == d.id
        assert await engine.records.get(book.SUPPRESSED, book.address_key(d.email)) is not None
        await p.step()

        assert (await engine.get(await p.journey(d.id))).output == "unsubscribed"
        assert (await engine.get(await p.journey(e.id))).output == "declined"

        # -- B's question: a task for the recruiter, the answer goes out by mail
        (task,) = await p.open_tasks("Answer the candidate's question")
        assert "remote" in task.context["question"]
        await engine.complete_task(task.id, {"answer": "Hybrid: two days in Berlin."}, by="rita")
        await p.step()
        answer = p.mails_to(b.email)[-1].view()
        assert "Hybrid: two days in Berlin." in answer.text
        assert answer.in_reply_to == outreach[b.id].view().message_id or answer.references

        # -- A: slot options in A's own time zone, one picked by its signed link
        options = p.mails_to(a.email)[-1].view()
        assert options.subject.endswith("Interview times")
        tokens = LINK.findall(options.text)
        assert len(tokens) == 3
        assert await routing.choose_slot(engine, tokens[0]) == (a.id, 1)
        await p.step()
        invite_a = p.mails_to(a.email)[-1]
        cal = calendar_of(invite_a)
        assert str(cal["method"]) == "REQUEST"
        (event,) = cal.walk("VEVENT")
        attendees = sorted(str(x).removeprefix("mailto:").lower() for x in event.get("attendee"))
        panel = sorted(
            ["jana.petersen@example.com", "tomas.ferreira@example.com", "henrik.aalto@example.com"]
        )
        assert attendees == sorted([a.email.lower(), *panel])
        start = event.decoded("dtstart")
        assert isinstance(start, datetime) and str(start.tzinfo) == "Europe/Berlin"
        berlin = start.astimezone(ZoneInfo("Europe/Berlin"))
        lisbon = start.astimezone(ZoneInfo("Europe/Lisbon"))
        assert berlin.weekday() < 4  # Tomás works Monday to Thursday
        assert (8, 30) <= (lisbon.hour, lisbon.minute) and lisbon.hour < 16
        assert (9, 0) <= (berlin.hour, berlin.minute)
        # the option mail showed the same time in the candidate's zone
        local = start.astimezone(ZoneInfo(a.time_zone))
        assert f"{local:%H:%M}" in options.text and a.time_zone in options.text
        uid, seq = str(event["uid"]), int(event.get("sequence", 0))
        for member in panel:  # the panel got the same invite
            assert calendar_of(p.mails_to(member)[-1]).walk("VEVENT")[0]["uid"] == uid

        # -- B: answered, then interested, then picks "option 2" by a reply through IMAP
        assert (await p.reply(b.email, "Thanks, sounds good. I'm in!", number=4)).outcome == (
            "reply"
        )
        await p.step()
        options_b = p.mails_to(b.email)[-1].view()
        assert options_b.subject.endswith("Interview times")
        append(mailbox, reply_raw(p, b.email, "Option 2 works for me.", 5))
        (routed,) = await imap_loop.poll(engine, mailbox)
        assert routed.outcome == "reply"
        await p.step()
        invite_b = calendar_of(p.mails_to(b.email)[-1])
        start_b = invite_b.walk("VEVENT")[0].decoded("dtstart")
        second = start_b.astimezone(ZoneInfo(b.time_zone))
        line_2 = next(ln for ln in options_b.text.splitlines() if ln.strip().startswith("2."))
        assert f"{second:%H:%M}" in line_2

        # -- A's interview moves: same UID, SEQUENCE + 1; B's is cancelled
        old = event.decoded("dtstart")
        moved = Slot(start=old + timedelta(days=1), end=old + timedelta(days=1, minutes=45))
        await engine.signal(
            await p.journey(a.id), "reschedule", moved.model_dump(mode="json"), by="rita"
        )
        await engine.signal(await p.journey(b.id), "cancel_interview", None, by="rita")
        await p.step()
        updated = calendar_of(p.mails_to(a.email)[-1])
        (new_event,) = updated.walk("VEVENT")
        assert str(updated["method"]) == "REQUEST" and str(new_event["uid"]) == uid
        assert int(new_event["sequence"]) == seq + 1
        assert new_event.decoded("dtstart") == moved.start
        cancelled = calendar_of(p.mails_to(b.email)[-1])
        assert str(cancelled["method"]) == "CANCEL"
        assert int(cancelled.walk("VEVENT")[0]["sequence"]) >= 1
        assert (await engine.get(await p.journey(b.id))).output == "interview cancelled"

        # -- after A's interview the hiring manager records the decision: the journey ends
        await p.step(within=moved.end - engine.clock.now() + timedelta(minutes=1))
        (task,) = await p.open_tasks("Record the hiring decision")
        assert task.assignee == "hiring-managers"
        await engine.complete_task(task.id, {"outcome": "offer", "notes": "strong"}, by="hank")
        await p.step()
        assert (await engine.get(await p.journey(a.id))).output == "offer"

        # -- C never answers: follow-ups at 3 and 7 days, "no response" at 14
        await p.step(within=timedelta(days=15))
        journal = await engine.journal(await p.journey(c.id))
        follow = [x.started_at for x in journal if x.name.endswith("send_follow_up")]
        assert [round((t - contacted_at) / timedelta(hours=1)) for t in follow] == [72, 168]
        info = await engine.get(await p.journey(c.id))
        assert info.output == "no response" and info.completed_at is not None
        assert round((info.completed_at - contacted_at) / timedelta(hours=1)) == 14 * 24
        assert len(p.mails_to(c.email)) == 3
        assert [m.view().subject for m in p.mails_to(c.email)][1:] == [
            f"Re: {outreach[c.id].view().subject}"
        ] * 2

        # -- D unsubscribed: nothing after the first mail; nothing else is still running
        assert len(p.mails_to(d.email)) == 1
        for cid in chosen:
            assert (await engine.get(await p.journey(cid))).status.finished
        assert engine.clock.now() - started >= timedelta(days=14)

        # -- the board and the report reflect the stages
        board = {card.candidate_id: card for card in await report.board(engine, "backend-engineer")}
        assert len(board) == 10 and all(card.score is not None for card in board.values())
        assert board[a.id].stage == "decided" and "offer" in board[a.id].status_text
        assert board[c.id].stage == "no response"
        assert board[d.id].stage == "unsubscribed"
        assert board[e.id].stage == "declined"
        assert all(board[cid].stage == "not selected" for cid in others if cid)
        summary = await report.job_report(engine, "backend-engineer")
        assert summary.funnel == {
            "screened": 10,
            "shortlisted": 5,
            "contacted": 5,
            "replied": 3,
            "interviewing": 2,
            "offer": 1,
        }
        assert summary.selection_rates["shortlisted"] == 0.5

        # -- the audit trail: the AI score and every person's decision, with who
        trail = await book.audit_trail_for(engine, a.id)
        kinds = {(x.kind, x.actor) for x in trail}
        score = next(x for x in trail if x.kind == "ai.score")
        assert score.actor.startswith("model:") and score.inputs_hash and score.explanation
        # the score's explanation quotes the résumé (for the candidate's page), while the
        # job's workflow was given only the score and the skill names
        card = await report.score_card(engine, a.id)
        assert card is not None and card["method"] and card["matched"]
        assert all(m["sentence"] for m in card["matched"])
        given = [
            json.loads(json.loads(x.output["payload"])["output"])
            for x in await engine.journal(p.job_wid)
            if x.kind == "child_result" and x.name == "hiring.screening"
        ]
        assert len(given) == 10 and all(g["value"] > 0 and g["method"] == "" for g in given)
        assert all(m["skill"] and m["sentence"] == "" for g in given for m in g["matched"])
        assert ("human.shortlisted", "hank") in kinds
        assert ("human.outreach answered", "rita") in kinds
        assert ("human.decision: offer", "hank") in kinds
        added_trail = {(x.kind, x.actor) for x in await book.audit_trail_for(engine, added)}
        assert ("human.shortlisted", "hank") in added_trail
        removed_trail = {(x.kind, x.actor) for x in await book.audit_trail_for(engine, removed)}
        assert ("human.not shortlisted", "hank") in removed_trail
        assert started  # the whole run stayed on the fake clock
