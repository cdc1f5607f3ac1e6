"""JSON schemas of the REST API: used both in the OpenAPI document and to check requests."""

from __future__ import annotations

from typing import Any

from control.domain.names import NAME_PATTERN, TEXT_ID_MAX, TEXT_ID_PATTERN
from control.domain.roles import ROLES

__all__ = ["COMPONENTS", "NAME_PATTERN"]
MAX_TIME = 4102444800  # 2100-01-01, unix seconds
WEEK_S = 7 * 24 * 3600

Schema = dict[str, Any]


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _nullable(schema: Schema) -> Schema:
    out = dict(schema)
    t = out.get("type")
    out["type"] = [t, "null"] if isinstance(t, str) else [*list(t or []), "null"]
    return out


TIME: Schema = {"type": "number", "minimum": 0, "maximum": MAX_TIME, "description": "unix seconds"}
TEXT_ID: Schema = {"type": "string", "minLength": 1, "maxLength": TEXT_ID_MAX, "pattern": TEXT_ID_PATTERN}
DEPARTMENT: Schema = {"type": "string", "pattern": NAME_PATTERN}

COMPONENTS: dict[str, Schema] = {
    "Person": {
        "type": "object",
        "required": ["identity"],
        "additionalProperties": False,
        "properties": {"identity": TEXT_ID, "name": TEXT_ID},
    },
    "PersonOut": {
        "type": "object",
        "properties": {"identity": {"type": "string"}, "name": {"type": ["string", "null"]}},
    },
    "RoomSettings": {
        "type": "object",
        "additionalProperties": False,
        "description": "Organisation policies the media plane and the browser honour.",
        "properties": {
            "resolution_change_allowed": {"type": "boolean", "default": True},
            "background_effects_allowed": {"type": "boolean", "default": True},
            "effects_ask_again": {
                "type": "boolean",
                "default": False,
                "description": "ask to confirm a replaced background each time the room is entered",
            },
            "captions_allowed": {"type": "boolean", "default": True},
            "chat_retention": {
                "type": ["string", "null"],
                "enum": ["delete", "hand_over", None],
                "default": None,
                "description": "the chat transcript at the end: deleted, or handed to the chat_transcript "
                "webhook then deleted; null: the organisation's setting (PUT /v1/chat/settings)",
            },
            "chat_deleted_after": {
                "type": "boolean",
                "deprecated": True,
                "description": "replaced by chat_retention (true: delete, false: hand_over)",
            },
            "post_consultation_message": {"type": "string", "maxLength": 2000, "default": ""},
        },
    },
    "AccessWindow": {
        "type": "object",
        "additionalProperties": False,
        "description": "Joining is allowed from start - before_start_s to end + after_end_s.",
        "properties": {
            "before_start_s": {"type": "number", "minimum": 0, "maximum": WEEK_S, "default": 3600},
            "after_end_s": {"type": "number", "minimum": 0, "maximum": WEEK_S, "default": 3600},
        },
    },
    "RoomCreate": {
        "type": "object",
        "required": ["kind"],
        "additionalProperties": False,
        "properties": {
            "kind": {"type": "string", "enum": ["appointment", "quick", "walk_in"]},
            "department": DEPARTMENT,
            "practitioner": _ref("Person"),
            "client": _ref("Person"),
            "guests": {"type": "array", "items": _ref("Person"), "maxItems": 20},
            "starts_at": TIME,
            "ends_at": TIME,
            "access_window": _ref("AccessWindow"),
            "settings": _ref("RoomSettings"),
            "metadata": {
                "type": "object",
                "maxProperties": 20,
                "additionalProperties": {"type": "string", "maxLength": 256},
            },
        },
    },
    "Room": {
        "type": "object",
        "required": ["id", "kind", "state", "starts_at", "ends_at", "access_window", "settings"],
        "properties": {
            "id": {"type": "string"},
            "kind": {"type": "string", "enum": ["appointment", "quick", "walk_in"]},
            "department": {"type": ["string", "null"]},
            "practitioner": {"anyOf": [_ref("PersonOut"), {"type": "null"}]},
            "client": {"anyOf": [_ref("PersonOut"), {"type": "null"}]},
            "guests": {"type": "array", "items": _ref("PersonOut")},
            "starts_at": {"type": "number"},
            "ends_at": {"type": "number"},
            "access_window": {
                "type": "object",
                "properties": {"opens_at": {"type": "number"}, "closes_at": {"type": "number"}},
            },
            "settings": {"type": "object"},
            "state": {"type": "string", "enum": ["scheduled", "started", "ended"]},
            "created_at": {"type": "number"},
            "started_at": {"type": ["number", "null"]},
            "ended_at": {"type": ["number", "null"]},
            "duration_s": {"type": ["number", "null"]},
            "forced": {"type": "boolean"},
            "available": {"type": ["boolean", "null"]},
            "waiting_count": {"type": "integer"},
            "participant_count": {"type": "integer"},
            "metadata": {"type": "object"},
        },
    },
    "RoomList": {
        "type": "object",
        "properties": {"rooms": {"type": "array", "items": _ref("Room")}},
    },
    "TokenCreate": {
        "type": "object",
        "required": ["identity", "role"],
        "additionalProperties": False,
        "properties": {
            "identity": TEXT_ID,
            "name": TEXT_ID,
            "role": {"type": "string", "enum": list(ROLES)},
        },
    },
    "Token": {
        "type": "object",
        "required": ["token", "join_url", "expires_at"],
        "properties": {
            "token": {"type": "string"},
            "join_url": {"type": "string"},
            "expires_at": {"type": "number"},
            "access_window": {"type": "object"},
            "room": {"type": "string"},
            "identity": {"type": "string"},
            "role": {"type": "string"},
        },
    },
    "WaitingEntry": {
        "type": "object",
        "properties": {
            "participant_id": {"type": "string"},
            "room": {"type": "string"},
            "identity": {"type": "string"},
            "name": {"type": "string"},
            "role": {"type": "string"},
            "status": {"type": ["string", "null"], "enum": ["on_time", "late", "walk_in", "waiting_for_client", None]},
            "appointment_at": {"type": ["number", "null"]},
            "waiting_since": {"type": ["number", "null"]},
        },
    },
    "WaitingList": {
        "type": "object",
        "properties": {"waiting": {"type": "array", "items": _ref("WaitingEntry")}},
    },
    "Deny": {
        "type": "object",
        "additionalProperties": False,
        "properties": {"message": {"type": "string", "maxLength": 1000}},
    },
    "AnnouncementCreate": {
        "type": "object",
        "required": ["text"],
        "additionalProperties": False,
        "properties": {
            "text": {"type": "string", "minLength": 1, "maxLength": 2000},
            "expires_at": _nullable(TIME),
            "expires_in_s": {"type": "number", "exclusiveMinimum": 0, "maximum": 366 * 24 * 3600},
        },
    },
    "Announcement": {
        "type": "object",
        "properties": {
            "id": {"type": "string"},
            "text": {"type": "string"},
            "created_at": {"type": "number"},
            "expires_at": {"type": ["number", "null"]},
            "expired": {"type": "boolean"},
            "scope": {"type": "string", "enum": ["room", "department"]},
        },
    },
    "AnnouncementList": {
        "type": "object",
        "properties": {"announcements": {"type": "array", "items": _ref("Announcement")}},
    },
    "Availability": {
        "type": "object",
        "required": ["available"],
        "additionalProperties": False,
        "properties": {"available": {"type": "boolean"}},
    },
    "AvailablePractitioner": {
        "type": "object",
        "properties": {
            "room": {"type": "string"},
            "practitioner": _ref("PersonOut"),
            "department": {"type": ["string", "null"]},
            "available_since": {"type": ["number", "null"]},
            "walk_in_until": {"type": "number"},
            "waiting_count": {"type": "integer"},
        },
    },
    "AvailableList": {
        "type": "object",
        "properties": {"available": {"type": "array", "items": _ref("AvailablePractitioner")}},
    },
    "WebhooksPut": {
        "type": "object",
        "required": ["urls"],
        "additionalProperties": False,
        "properties": {
            "urls": {
                "type": "array",
                "maxItems": 10,
                "items": {"type": "string", "format": "uri", "maxLength": 2000},
            }
        },
    },
    "Webhooks": {
        "type": "object",
        "properties": {
            "urls": {"type": "array", "items": {"type": "string"}},
            "signing_secret": {"type": ["string", "null"]},
            "events": {"type": "array", "items": {"type": "string"}},
            "previous_secret_valid_until": {
                "type": ["number", "null"],
                "description": "until then (unix seconds) deliveries also carry the previous secret's signature",
            },
        },
    },
    "WebhookSecretRotate": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "overlap_s": {
                "type": "number", "minimum": 0, "maximum": 604800,
                "description": "seconds the previous secret still signs deliveries (default 86400)",
            },
        },
    },
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
            }
        },
    },
}
