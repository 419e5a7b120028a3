"""Scoring a résumé against a job, offline and explained (see docs/hiring-scoring.md).

- ``redaction``: remove who the person is before anything reads the résumé.
- ``skills``: the vocabulary (aliases -> canonical skills) and ``extract_skills``.
- ``resume``: sections, roles held, and how much a line is evidence of doing the work.
- ``features``: the parts of a score (role, skills, tasks, seniority, document).
- ``embedding``: the offline embedder and the per-job cache.
- ``scorer``: ``score`` and its ``Score``.
- ``evaluation``: labelled pools, pairwise accuracy and NDCG.
"""
