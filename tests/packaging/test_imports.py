"""Heavy optional libraries load only in the processes that use them.

The administration commands never import OpenCV, mediapipe, the caption libraries or even
aiortc and PyAV; a
server's own process does not either until a participant uses a feature that needs them
(effects at the first ``set_effect``, captions in their worker processes only). Checked in
this environment, where every extra is installed, on real processes.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.chat.processes import _healthy, environment
from tests.control.conftest import free_port
from tests.packaging.serve import start

HEAVY = ("cv2", "mediapipe", "torch", "vosk", "pocketsphinx", "argostranslate", "ctranslate2", "stanza", "matplotlib")
PROBE = (
    "import atexit, json, sys\n"
    "atexit.register(lambda: sys.stderr.write('\\nIMPORTED ' + json.dumps(sorted({m.split('.')[0] for m in sys.modules} & set(HEAVY))) + '\\n'))\n"
    "from control.cli import main\n"
    "main(sys.argv[1:])\n"
)


#: not even the media stack for a command that forwards no media (sfu's face imports it lazily)
MEDIA_STACK = ("aiortc", "av")


def heavy_imports(tmp_path: Path, *args: str) -> list[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONSULT_SFU_")}
    env["CONSULT_SFU_DATA_DIR"] = str(tmp_path / "data")
    code = f"HEAVY = {HEAVY + MEDIA_STACK!r}\n{PROBE}"
    result = subprocess.run([sys.executable, "-c", code, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    line = next(line for line in result.stderr.splitlines() if line.startswith("IMPORTED "))
    return list(json.loads(line.removeprefix("IMPORTED ")))


@pytest.mark.parametrize(
    "args",
    [
        ("--version",),
        ("--help",),
        ("token", "--room", "r", "--identity", "a"),
        ("apikey", "create", "--org", "clinic"),
    ],
    ids=lambda args: " ".join(args[:2]),
)
def test_commands_import_no_heavy_library(tmp_path: Path, args: tuple[str, ...]) -> None:
    assert heavy_imports(tmp_path, *args) == []


def mapped_libraries(pid: int) -> set[str]:
    maps = Path(f"/proc/{pid}/maps").read_text()
    return {name for name in HEAVY + MEDIA_STACK if f"/{name}/" in maps or f"/{name}." in maps or f"/{name}_" in maps}


@pytest.mark.long
async def test_an_idle_server_process_loads_no_heavy_library(tmp_path: Path) -> None:
    env = environment(tmp_path / "data")
    del env["CONSULT_SFU_CAPTIONS_START_WORKERS"]  # the default: caption workers start at first use
    binary = str(Path(sys.executable).parent / "consult-sfu")
    server = await asyncio.to_thread(start, binary, free_port(), env, tmp_path / "serve.log")
    try:
        await _healthy(server)
        await asyncio.sleep(1.0)
        # nor the media stack (PyAV's libav, aiortc's codecs): loaded at the first room (sfu/media_server.py)
        assert await asyncio.to_thread(mapped_libraries, server.proc.pid) == set()
        children = await asyncio.to_thread(server.children)
        assert children == [], children  # no caption worker while nobody uses captions
    finally:
        await asyncio.to_thread(server.stop)
