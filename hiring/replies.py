"""What a candidate's reply means: interested, not interested, a question, or a request to
stop; and which proposed slot it picks, if any.

Offline by default: ``plait.ai.classify`` compares the reply with the example replies below
(nearest prototype on the offline embedder), after two transparent rules that need no model
— an explicit unsubscribe wording, and "option 2" / "the second one" naming a slot — and
two for plain answers: a clear "not interested" / "no thanks", and a "yes" asking nothing.
"""

from __future__ import annotations

import re

from plait.ai import classify as classify_text

LABELS = ("interested", "not interested", "question", "unsubscribe")

EXAMPLES: dict[str, list[str]] = {
    "interested": [
        "Yes, I'd love to hear more about the role. When can we talk?",
        "Sounds interesting, happy to set up a call next week.",
        "Thanks for reaching out! I'm open to a conversation.",
        "Count me in, please send some times that work for the team.",
        "I am interested in the position and available for an interview.",
    ],
    "not interested": [
        "Thanks, but I'm happy in my current job and not looking right now.",
        "I appreciate it, but I'll pass on this one.",
        "Not interested at the moment, good luck with the search.",
        "I have just accepted another offer, so I will decline.",
        "This role isn't a fit for me, thank you anyway.",
    ],
    "question": [
        "What is the salary range for this position?",
        "Is the role remote, or would I need to relocate?",
        "Could you tell me more about the team and the tech stack?",
        "How many interview rounds are there and how long does it take?",
        "Does the position offer visa sponsorship?",
    ],
    "unsubscribe": [
        "Please remove me from your mailing list.",
        "Stop emailing me.",
        "Unsubscribe.",
        "Do not contact me again.",
        "Take my details out of your database, I don't want these messages.",
    ],
}

_STOP = re.compile(
    r"\b(unsubscribe|stop (e-?mailing|contacting|messaging) me|remove me from|"
    r"do not (contact|e-?mail) me|don't (contact|e-?mail) me)\b",
    re.I,
)
# Plain answers the nearest-prototype reading gets wrong when short ("Yes, interested!"
# sits nearest to "Not interested at the moment"): a clear no, or a yes without a question.
_NO = re.compile(
    r"\b(not (interested|looking)|no,? thanks?( you)?|i'?ll pass|(have to|must) decline)\b", re.I
)
_YES = re.compile(
    r"^\s*(yes|yeah|sure|absolutely|definitely|count me in|i'?m in|interested)\b", re.I
)
_ORDINALS = {"first": 1, "1st": 1, "second": 2, "2nd": 2, "third": 3, "3rd": 3}
_SLOT = re.compile(
    r"\b(?:option|slot|number|no\.?|#)\s*(?P<n>[1-9])\b|\bthe (?P<o>first|second|third|1st|2nd|3rd)"
    r"\b(?: one| slot| option| time)?|^\s*(?P<b>[1-9])\s*[.!]?\s*$",
    re.I | re.M,
)


def pick_slot(text: str) -> int | None:
    """The 1-based slot a reply names ("option 2", "the second one", or just "2")."""
    m = _SLOT.search(text)
    if not m:
        return None
    if m.group("n") or m.group("b"):
        return int(m.group("n") or m.group("b"))
    return _ORDINALS[m.group("o").lower()]


def wants_to_stop(text: str) -> bool:
    """Whether the reply asks in so many words not to be contacted again (a rule that no
    model overrules: it is honoured at once)."""
    return bool(_STOP.search(text))


def classify(text: str) -> tuple[str, int | None]:
    """The reply's label and the slot it names (if any)."""
    slot = pick_slot(text)
    if wants_to_stop(text):
        return "unsubscribe", slot
    if slot is not None:
        return "interested", slot
    if _NO.search(text):
        return "not interested", None
    if _YES.search(text) and "?" not in text:
        return "interested", None
    found = classify_text(text or "(empty)", LABELS, EXAMPLES)
    return found.label, None
