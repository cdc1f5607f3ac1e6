"""The built wheel, installed into a fresh virtual environment without the test tooling or
the optional extras, serves a 1:1 call between two aiortc peers.

What it proves: the sdist holds everything the wheel needs (static files included), the
wheel's dependencies are enough to serve (nothing imported from the test extras, OpenCV,
mediapipe, vosk ...), ``consult-sfu --version`` is the package's version, and ``token`` run
from another directory signs with the server's secret (the one data_dir default). No package
index is used: tests/packaging/wheelhouse.py repacks the wheel's dependencies from this
environment.
"""

from __future__ import annotations

import asyncio
import configparser
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.chat.processes import _healthy
from tests.control.conftest import free_port
from tests.packaging.serve import start
from tests.packaging.wheelhouse import ROOT, build_sdist_and_wheel, wheelhouse
from tests.support.media import PatternVideoTrack
from tests.support.peer import TestPeer

pytestmark = pytest.mark.long

TEST_TOOLING = ("pytest", "playwright", "selenium", "hypothesis", "schemathesis", "ruff", "mypy", "matplotlib")
EXTRAS = ("opencv-contrib-python", "mediapipe", "vosk", "pocketsphinx", "argostranslate", "torch")


@dataclass
class Installed:
    venv: Path
    wheel: Path
    sdist: Path
    packages: list[str]

    def bin(self, name: str) -> str:
        return str(self.venv / "bin" / name)


def clean_env(**extra: str) -> dict[str, str]:
    """No PYTHONPATH (the tests' source tree) and no CONSULT_SFU_ settings of the caller."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH" and not k.startswith("CONSULT_SFU_")}
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    work = tmp_path_factory.mktemp("wheel")
    sdist, wheel = build_sdist_and_wheel(work)
    house = work / "wheelhouse"
    wheelhouse(wheel, house)
    venv = work / "venv"
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", str(venv)], check=True, env=clean_env(), timeout=300)
    subprocess.run(
        [str(venv / "bin" / "pip"), "install", "-q", "--no-index", "--find-links", str(house), str(wheel)],
        check=True, env=clean_env(), timeout=600,
    )
    listed = subprocess.run(
        [str(venv / "bin" / "pip"), "list", "--format", "json"], check=True, env=clean_env(), capture_output=True, text=True
    ).stdout
    yield Installed(venv, wheel, sdist, sorted(p["name"].lower() for p in json.loads(listed)))


def test_the_wheel_installs_without_test_tooling_or_extras(installed: Installed) -> None:
    assert "consult-sfu" in installed.packages and "aiortc" in installed.packages
    assert not [p for p in installed.packages if p in TEST_TOOLING or p in EXTRAS], installed.packages
    where = subprocess.run(
        [installed.bin("python"), "-c", "import control; print(control.__file__)"],
        cwd="/", env=clean_env(), capture_output=True, text=True, check=True,
    ).stdout
    assert where.startswith(str(installed.venv)), where  # the installed copy, not the source tree


def test_version(installed: Installed) -> None:
    metadata = configparser.ConfigParser()
    metadata.read(ROOT / "setup.cfg")
    out = subprocess.run([installed.bin("consult-sfu"), "--version"], env=clean_env(), capture_output=True, text=True, check=True)
    assert out.stdout.strip() == f"consult-sfu {metadata['metadata']['version']}"


def mint(installed: Installed, cwd: Path, env: dict[str, str], room: str, identity: str, role: str) -> str:
    out = subprocess.run(
        [installed.bin("consult-sfu"), "token", "--room", room, "--identity", identity, "--role", role],
        cwd=cwd, env=env, capture_output=True, text=True, check=True, timeout=60,
    ).stdout
    return out.splitlines()[0].removeprefix("token: ")


async def test_the_installed_server_serves_a_1to1_call(installed: Installed, tmp_path: Path) -> None:
    # No data_dir and no secret configured: both commands use the XDG default and the secret
    # generated there, although they run from different directories.
    env = clean_env(XDG_DATA_HOME=str(tmp_path / "xdg"), CONSULT_SFU_ICE_HOST_ADDRESSES="127.0.0.1")
    port = free_port()
    (tmp_path / "serve").mkdir()
    (tmp_path / "elsewhere").mkdir()
    binary = installed.bin("consult-sfu")
    server = await asyncio.to_thread(start, binary, port, env, tmp_path / "serve.log", tmp_path / "serve")
    try:
        await _healthy(server, timeout_s=60)
        doctor_token = await asyncio.to_thread(mint, installed, tmp_path / "elsewhere", env, "r1", "dr", "practitioner")
        patient_token = await asyncio.to_thread(mint, installed, tmp_path / "elsewhere", env, "r1", "ann", "client")
        doctor = TestPeer(server.ws_url, doctor_token, "dr")
        patient = TestPeer(server.ws_url, patient_token, "ann")
        try:
            dr_joined = await doctor.connect()
            ann_joined = await patient.connect()
            assert (dr_joined["type"], ann_joined["type"]) == ("joined", "joined"), (dr_joined, ann_joined)
            await doctor.publish([(PatternVideoTrack(320, 240, 15), "camera")])
            await patient.publish([(PatternVideoTrack(320, 240, 15), "camera")])
            await patient.wait_frames(dr_joined["participant_id"], "video", 5, timeout=45)
            await doctor.wait_frames(ann_joined["participant_id"], "video", 5, timeout=45)
        finally:
            await doctor.close()
            await patient.close()
    finally:
        await asyncio.to_thread(server.stop)
    text = server.log_text()
    assert "Traceback" not in text, text[-3000:]
    assert "background effects are off" in text and "captions are not installed" in text, text[-3000:]

