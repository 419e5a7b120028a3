"""Re-opening a human task whose answer no longer decodes into its form (``reopen_task``):
the task is open again, its journal entry waiting, a ``reopened`` event keeps the answer and
the errors, and the workflow's next wait parks until a new answer. Refused (nothing but the
pending entries written) when the task was not answered or the workflow went on since."""

from __future__ import annotations

from plait.store import Store
from plait.store.records import TASK_SIGNAL, Actor, Entry, Fence, NewTask, Wait

from .helpers import NOW, claim, fence, running, step

ERRORS = [("score", "Value error, at most 5")]


def _task(workflow_id: str, seq: int) -> NewTask:
    return NewTask(
        id=f"{workflow_id}:{seq}",
        workflow_id=workflow_id,
        seq=seq,
        title="Rate it",
        assignee=None,
        form_name="gone.module:Rating",
        form_schema='{"properties":{"score":{"type":"integer"}},"required":["score"]}',
        proposal=None,
        context=None,
        due_at=None,
        remind_offsets=(),
        on_timeout={"kind": "raise"},
    )


def _wait(seq: int) -> Entry:
    return Entry(seq, "human_task", "Rate it", "waiting", started_at=NOW)


async def _answered(store: Store, workflow_id: str) -> Fence:
    """A workflow whose task at seq 2 was answered and whose next run received the answer;
    returns that run's fence."""
    f = await running(store, workflow_id)
    outcome = await store.wait_task(f, NOW, [step(1)], _wait(2), _task(workflow_id, 2), True)
    assert outcome.state == "park"
    await store.suspend(f, NOW, [], Wait((TASK_SIGNAL + f"{workflow_id}:2",)))
    await store.complete_task(f"{workflow_id}:2", '{"score":7}', None, [], Actor("ada"), "ok", NOW)
    [claimed] = await claim(store, now=NOW + 1, queues=(f"only-{workflow_id}",))
    f = fence(claimed)
    outcome = await store.wait_task(f, NOW + 1, [], claimed.journal[1], None, True)
    assert outcome.state == "completed"
    return f


async def test_reopen_keeps_the_answer_and_the_next_wait_parks(store: Store) -> None:
    f = await _answered(store, "w")
    waiting = await store.reopen_task(f, NOW + 2, [], 2, ERRORS)
    assert waiting is not None
    assert (waiting.seq, waiting.status, waiting.output) == (2, "waiting", None)
    task = await store.get_task("w:2")
    assert task is not None
    assert (task.status, task.answer, task.completed_by, task.completed_at) == (
        "open",
        None,
        None,
        None,
    )
    [event] = await store.task_events("w:2", None, ("reopened",), None, 10)
    assert event.payload == {
        "errors": [{"field": "score", "why": "Value error, at most 5"}],
        "answer": '{"score":7}',
        "answered_by": "ada",
        "comment": "ok",
    }
    journal = await store.journal("w")
    assert [(r.seq, str(r.status)) for r in journal] == [(1, "completed"), (2, "waiting")]
    # The consumed answer is not read again: the wait parks until a new answer comes.
    outcome = await store.wait_task(f, NOW + 2, [], waiting, None, True)
    assert outcome.state == "park"
    await store.complete_task("w:2", '{"score":4}', None, [], Actor("lin"), None, NOW + 3)
    outcome = await store.wait_task(f, NOW + 3, [], waiting, None, True)
    assert (outcome.state, outcome.output) == (
        "completed",
        '{"outcome":"completed","payload":"{\\"score\\":4}"}',
    )


async def test_no_reopen_once_the_workflow_went_on(store: Store) -> None:
    f = await _answered(store, "v")
    await store.record(f, NOW + 1, [step(3, at=NOW + 1)], [])  # started after the answer
    assert await store.reopen_task(f, NOW + 2, [], 2, ERRORS) is None
    task = await store.get_task("v:2")
    assert task is not None and task.status == "completed" and task.answer == '{"score":7}'
    assert await store.task_events("v:2", None, ("reopened",), None, 10) == []


async def test_no_reopen_of_a_task_that_was_not_answered(store: Store) -> None:
    f = await running(store, "w")
    await store.wait_task(f, NOW, [], _wait(1), _task("w", 1), True)
    pending = [step(2)]
    assert await store.reopen_task(f, NOW, pending, 1, ERRORS) is None
    assert [r.seq for r in await store.journal("w")] == [1, 2]  # the pending entries are written
    task = await store.get_task("w:1")
    assert task is not None and task.status == "open"
