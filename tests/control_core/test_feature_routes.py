"""What installing a feature adds: its /v1 routes and their OpenAPI description, its
consultation-memory holder."""

from __future__ import annotations

from pathlib import Path

import aiohttp
from aiohttp.test_utils import TestServer

from control import config as config_module
from control.apikeys import create_key
from control.app import PLANE, create_app
from tests.support.server import SECRET, RunningServer


async def test_installed_features_add_their_v1_routes_and_document_them(server: RunningServer) -> None:
    key = await create_key(server.app[PLANE].store, "org1", None)
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {key}"}) as http:
        async with http.get(server.http_url + "/v1/openapi.json") as resp:
            doc = await resp.json()
        async with http.get(server.http_url + "/v1/backgrounds") as resp:
            assert resp.status == 200 and await resp.json() == {"images": []}
    assert {"/v1/backgrounds", "/v1/backgrounds/{image_id}"} <= set(doc["paths"])
    assert "BackgroundImage" in doc["components"]["schemas"]
    assert doc["paths"]["/v1/backgrounds"]["get"]["operationId"] == "getBackgrounds"


async def test_without_the_effects_feature_there_are_no_background_routes(tmp_path: Path) -> None:
    config = config_module.load(None, env={}, server__secret=SECRET, server__data_dir=str(tmp_path), ice__host_addresses=["127.0.0.1"])
    app = create_app(config, features=[])
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        base = f"http://127.0.0.1:{server.port}"
        key = await create_key(app[PLANE].store, "org1", None)
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {key}"}) as http:
            async with http.get(base + "/v1/openapi.json") as resp:
                doc = await resp.json()
            async with http.get(base + "/v1/backgrounds") as resp:
                assert resp.status == 404 and (await resp.json())["error"]["code"] == "not_found"
        assert "/v1/rooms" in doc["paths"] and not [p for p in doc["paths"] if "backgrounds" in p]
    finally:
        await server.close()


async def test_what_the_consultation_memory_forgets_is_what_recordings_off_says(server: RunningServer) -> None:
    import recordings_off
    from control.app import MEMORY

    holders = server.app[MEMORY].holders()
    assert holders == ["captions", "chat", "effects", "files", "reconnect_choices", "waiting_room"]
    assert all(f"``{name}``" in (recordings_off.__doc__ or "") for name in holders)
