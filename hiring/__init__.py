"""hiring: plait's flagship application. Scoring: ``score``, ``extract_skills``, ``redact``.

``hiring.score(job_text, resume_text)`` is a plain function (no engine needed) that redacts
the résumé and returns a ``Score`` with a ``value`` and its explanation; see
docs/hiring-scoring.md.
"""

from hiring.scoring.redaction import Redacted, redact
from hiring.scoring.scorer import MatchedSkill, Part, Score, score
from hiring.scoring.skills import Skill, extract_skills

__all__ = [
    "MatchedSkill",
    "Part",
    "Redacted",
    "Score",
    "Skill",
    "extract_skills",
    "redact",
    "score",
]
