"""The rules for names and ids, shared by the REST API's schemas and the join tokens."""

from __future__ import annotations

#: room ids, departments, organisation names: what a URL path segment can carry as is
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"
#: identities and display names: any text without control characters
TEXT_ID_PATTERN = r"^[^\x00-\x1f]+$"
TEXT_ID_MAX = 128
