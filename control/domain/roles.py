"""The roles a join token or an API request can carry: defined here and nowhere else.

Tokens (control/tokens.py), the REST schemas (control/api/schemas.py), the CLI, the
waiting-room rules and the features all import these names.
"""

from __future__ import annotations

#: Every role, in the order the docs and the CLI list them.
ROLES: tuple[str, ...] = ("practitioner", "department_manager", "client", "guest")
#: Roles that run a consultation: admit, deny, force a start, set captions for others.
HOST_ROLES: frozenset[str] = frozenset({"practitioner", "department_manager"})
