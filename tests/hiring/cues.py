"""Personal cues put into résumés by the bias tests: each kind, and where it goes."""

from __future__ import annotations

CUES: dict[str, list[str]] = {
    "name": [
        "Lakisha Washington",
        "Name: Jamal Jones",
        "Mohammed Al-Sayed",
        "Wei Zhang",
        "Emily Walsh",
        "José García-Núñez",
    ],
    "pronoun": ["Pronouns: she/her", "(he/him)", "She is a dedicated professional.", "they/them"],
    "age": ["Age: 58", "24 years old", "Date of birth: 14 March 1966", "Born in 1999"],
    "family": [
        "Mother of two",
        "Married with three children",
        "Marital status: married",
        "Single father",
    ],
    "disability": [
        "Wheelchair user",
        "I am deaf.",
        "Registered disabled",
        "Living with type 1 diabetes",
    ],
}


def with_cue(text: str, cue: str, where: str) -> str:
    """The résumé with the cue on the first line, mid-text (own line or a clause), or in a block."""
    lines = text.strip("\n").splitlines()
    middle = len(lines) // 2
    if where == "first":
        return cue + "\n" + "\n".join(lines)
    if where == "middle":
        return "\n".join([*lines[:middle], cue, *lines[middle:]])
    if where == "clause":
        # appended to a sentence of the text as a sentence of its own
        i = next(
            (j for j in range(middle, len(lines)) if lines[j].rstrip().endswith(".")),
            next((j for j in range(len(lines)) if lines[j].rstrip().endswith(".")), -1),
        )
        if i < 0:
            return with_cue(text, cue, "middle")
        return "\n".join([*lines[:i], lines[i].rstrip() + " " + cue, *lines[i + 1 :]])
    if where == "block":
        block = ["", "Personal details", cue, ""]
        return "\n".join([*lines[:middle], *block, *lines[middle:]])
    raise ValueError(where)


WHERE = ("first", "middle", "clause", "block")
