"""The OpenAPI document and a bounded schemathesis run against a real server: no 5xx."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from tests.control.conftest import Api


async def test_document_and_reference_page(api: Api) -> None:
    doc = await api.ok("GET", "/v1/openapi.json", key=None)
    assert doc["openapi"] == "3.1.0"
    assert "/v1/rooms/{room_id}/tokens" in doc["paths"]
    page = await api.ok("GET", "/v1/docs", key=None)
    assert "<h1>consult-sfu control API" in page and "/v1/departments/{department}/waiting" in page
    assert "<script" not in page and "http://" not in page.replace("http:// or https://", "")


@pytest.mark.slow  # a fuzz run of the whole API (make soak); the refusals' cases run by default (test_request_bodies.py)
async def test_schemathesis_finds_no_server_error(api: Api, tmp_path: Path) -> None:
    # some rooms and a waiting client so that fuzzed ids meet real state too
    room = await api.room()
    await api.ok("POST", f"/v1/rooms/{room['id']}/announcements", {"text": "hello"}, status=201)
    base = str(api.client.make_url("/v1/openapi.json"))
    cmd = [
        str(Path(sys.executable).parent / "schemathesis"),
        "run",
        base,
        "--checks",
        os.environ.get(
            "CONSULT_SFU_FUZZ_CHECKS",
            # positive_data_acceptance is left out: a schema cannot say "ends_at after starts_at"
            "not_a_server_error,content_type_conformance,status_code_conformance,"
            "response_schema_conformance,negative_data_rejection",
        ),
        "--max-examples",
        os.environ.get("CONSULT_SFU_FUZZ_EXAMPLES", "30"),
        "--phases",
        "examples,coverage,fuzzing,stateful",
        "--workers",
        "1",
        "--suppress-health-check",
        "all",
        "-H",
        f"Authorization: Bearer {api.org_key}",
        "--request-timeout",
        "10",
        "--no-color",
    ]
    proc = await asyncio.create_subprocess_exec(
        *cmd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        cwd=tmp_path,
        env={**os.environ, "SCHEMATHESIS_HOOKS": ""},
    )
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=110)
    text = out.decode(errors="replace")
    # the failures first (a generated body can be long), then the summary
    failures = text.split("WARNINGS ===", 1)[0][-6000:]
    assert proc.returncode == 0, failures + "\n...\n" + text[-1500:]


DEEP = 30_000  # levels: 60 KB of brackets, under the 64 KiB body limit


async def test_every_json_body_operation_refuses_deep_nesting_and_wrong_content_types(api: Api) -> None:
    """schemathesis drives every operation of /v1/openapi.json that takes a JSON body with
    the cases its generators do not make: a 30,000-level nested body, the same valid-looking
    body as text/plain and as a form, and a body over the size limit. Each must get its
    documented 4xx in the documented shape (schemathesis checks the response against the
    document), never a 5xx (issue 13: the nested body answered 500 with a traceback)."""
    import schemathesis
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    room = await api.room()
    base = str(api.client.make_url("/")).rstrip("/")
    document = await api.ok("GET", "/v1/openapi.json", key=None)
    ids = {"room_id": room["id"], "department": "cardio", "participant_id": "PA_x", "announcement_id": "AN_x", "image_id": "x"}
    hostile = [
        ('{"a": ' + "[" * DEEP + "]" * DEEP + "}", "application/json", 400, "bad_json"),
        ('{"identity": "x", "text": "hello"}', "text/plain", 415, "unsupported_media_type"),
        ("identity=x&text=hello", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
        ('{"text": "' + "x" * 70_000 + '"}', "application/json", 413, "too_large"),
    ]

    def run() -> int:  # schemathesis is synchronous: off the loop that serves the API
        checked = 0
        schema = schemathesis.openapi.from_dict(document)
        for result in schema.get_all_operations():
            operation = result.ok()
            if "application/json" not in (operation.definition.raw.get("requestBody") or {}).get("content", {}):
                continue
            params = {p.name: ids[p.name] for p in operation.path_parameters}
            for text, content_type, status, code in hostile:
                case = operation.Case(path_parameters=params, media_type="application/json")
                headers = {"Authorization": f"Bearer {api.org_key}", "Content-Type": content_type}
                response = case.call(base_url=base, headers=headers, data=text.encode())
                where = f"{operation.method.upper()} {operation.path} ({content_type}, {len(text)} bytes)"
                assert response.status_code == status, (where, response.text[:300])
                assert response.json()["error"]["code"] == code, where
                case.validate_response(
                    response,
                    checks=[not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance],
                )
                checked += 1
        return checked

    checked = await asyncio.to_thread(run)
    assert checked >= 4 * 6, f"only {checked} cases: the document lost its JSON-body operations?"
