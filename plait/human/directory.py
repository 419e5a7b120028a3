"""Human tasks, who may act: :class:`Directory` maps people to groups and names the admins.

Invariant kept here: a directory is immutable once built (groups and admins are frozen sets),
so the engine's permission checks read a consistent view.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping

from plait.errors import ConfigurationError


# a plain dataclass, not plait.frozen's: it is made to be subclassed
@dataclasses.dataclass(frozen=True)
class Directory:
    """Who belongs to which group (``{"recruiters": ["ada", "lin"]}``) and who is an admin.

    Given to ``Engine(directory=...)``, it makes the engine check that whoever completes,
    claims or reassigns a task is its assignee, a member of the assigned group, or an admin.
    Subclass it and override :meth:`groups_of` and :meth:`is_admin` to read another source.
    """

    groups: Mapping[str, Collection[str]] = dataclasses.field(default_factory=dict)
    admins: Collection[str] = ()

    def __post_init__(self) -> None:
        groups: dict[str, frozenset[str]] = {}
        for group, members in dict(self.groups).items():
            if isinstance(members, str):
                raise ConfigurationError(
                    f"Directory: the members of group {group!r} must be a list of names, "
                    f"not the string {members!r}"
                )
            groups[group] = frozenset(members)
        if isinstance(self.admins, str):
            raise ConfigurationError("Directory(admins=...) must be a list of names")
        object.__setattr__(self, "groups", groups)
        object.__setattr__(self, "admins", frozenset(self.admins))

    def groups_of(self, person: str) -> frozenset[str]:
        """The groups ``person`` belongs to."""
        return frozenset(g for g, members in self.groups.items() if person in members)

    def is_admin(self, person: str) -> bool:
        """Whether ``person`` may act on every task."""
        return person in self.admins
