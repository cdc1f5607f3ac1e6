"""Request bodies of /v1: content type, size and nesting limits, and a maintained schema validator.

Each of these was broken before issue 13: a deeply nested body answered 500 with a
RecursionError traceback, JSON sent as text/plain was accepted, and the hand-written
schema checker ignored keywords outside its subset.
"""

from __future__ import annotations

import logging

import pytest

from control.api.common import MAX_JSON_BODY_BYTES
from control.api.validate import check
from control.domain.errors import InvalidField
from signalling.bounded_json import MAX_JSON_DEPTH
from tests.control.conftest import Api

GOOD_ROOM = b'{"kind": "quick", "practitioner": {"identity": "dr-a"}}'


async def post(api: Api, body: bytes, content_type: str | None) -> tuple[int, dict]:  # type: ignore[type-arg]
    headers = api.headers(api.org_key)
    if content_type is not None:
        headers["Content-Type"] = content_type
    async with api.client.post("/v1/rooms", data=body, headers=headers) as resp:
        return resp.status, await resp.json()


async def test_json_must_be_sent_as_application_json(api: Api) -> None:
    for content_type in ("text/plain", "application/x-www-form-urlencoded", None):
        status, err = await post(api, GOOD_ROOM, content_type)
        assert (status, err["error"]["code"]) == (415, "unsupported_media_type"), (content_type, err)
        assert "application/json" in err["error"]["message"]
    status, _ = await post(api, GOOD_ROOM, "application/json; charset=utf-8")
    assert status == 201


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 30_000])  # 30,000 levels: 60 KB, under the size limit
async def test_deep_nesting_is_bad_json_not_a_server_error(api: Api, depth: int, caplog: pytest.LogCaptureFixture) -> None:
    body = b'{"kind": "quick", "metadata": {"x": ' + b"[" * depth + b"]" * depth + b"}}"
    with caplog.at_level(logging.WARNING):
        status, err = await post(api, body, "application/json")
    assert (status, err["error"]["code"]) == (400, "bad_json"), err
    assert f"the limit is {MAX_JSON_DEPTH}" in err["error"]["message"]
    assert not [r for r in caplog.records if r.exc_info], "no traceback in the log"


async def test_body_size_limit(api: Api) -> None:
    padding = b" " * (MAX_JSON_BODY_BYTES + 1 - len(GOOD_ROOM))
    status, err = await post(api, GOOD_ROOM + padding, "application/json")
    assert (status, err["error"]["code"]) == (413, "too_large")
    status, _ = await post(api, GOOD_ROOM + padding[:-1], "application/json")
    assert status == 201  # exactly at the limit


async def test_non_finite_numbers_are_bad_json(api: Api) -> None:
    for number in (b"NaN", b"Infinity", b"1e999"):
        status, err = await post(api, b'{"kind": "quick", "starts_at": ' + number + b"}", "application/json")
        assert (status, err["error"]["code"]) == (400, "bad_json"), number


def test_validator_enforces_every_keyword() -> None:
    """The old subset silently ignored e.g. minItems, uniqueItems, const and oneOf."""
    schema = {
        "type": "object",
        "properties": {
            "tags": {"type": "array", "minItems": 1, "uniqueItems": True},
            "mode": {"const": "x"},
        },
    }
    for bad, field in (({"tags": []}, "tags"), ({"tags": ["a", "a"]}, "tags"), ({"mode": "y"}, "mode")):
        with pytest.raises(InvalidField) as refused:
            check(schema, bad, "", {})
        assert refused.value.field == field
    check(schema, {"tags": ["a"], "mode": "x"}, "", {})


def test_errors_name_the_field_and_never_echo_the_value() -> None:
    schema = {"$ref": "#/components/schemas/Person"}
    components = {
        "Person": {
            "type": "object",
            "required": ["identity"],
            "additionalProperties": False,
            "properties": {"identity": {"type": "string", "maxLength": 4}},
        }
    }
    with pytest.raises(InvalidField) as refused:
        check(schema, {"identity": "secret-value-too-long"}, "guests[0]", components)
    assert refused.value.message == "field 'guests[0].identity' must be at most 4 characters"
    with pytest.raises(InvalidField) as refused:
        check(schema, {}, "", components)
    assert (refused.value.code, refused.value.message) == ("missing_field", "field 'identity' is required")
    with pytest.raises(InvalidField) as refused:
        check(schema, {"identity": "a", "evil": 1}, "", components)
    assert refused.value.message == "field 'evil' is not a known field"
