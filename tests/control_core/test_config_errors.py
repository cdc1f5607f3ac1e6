"""Every bad configuration ends every subcommand the same way: exit code 2, one line on
stderr naming the setting and the rule, no traceback, nothing on stdout.

Each case runs the real ``consult-sfu`` executable for ``serve``, ``token``, ``apikey create``
and ``models install`` (concurrently: each fails while reading its configuration, before
the server is imported, in well under a second of CPU).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

BINARY = Path(sys.executable).parent / "consult-sfu"
SERVE = ["serve", "--port", "0"]  # never reached: the configuration fails first
TOKEN = ["token", "--room", "r", "--identity", "a"]
APIKEY = ["apikey", "create", "--org", "clinic"]
MODELS = ["models", "install", "package.argosmodel"]
EVERY = (SERVE, TOKEN, APIKEY, MODELS)


def run(tmp_path: Path, args: list[str], env: dict[str, str], config: str | None) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("CONSULT_SFU_")}
    full_env.update(XDG_DATA_HOME=str(tmp_path / "xdg"), **env)
    before = ["--config", str(tmp_path / "sfu.toml")] if config is not None else []
    return subprocess.run([str(BINARY), *before, *args], cwd=tmp_path, env=full_env, capture_output=True, text=True, timeout=60, check=False)


def assert_refused_in_one_line(tmp_path: Path, commands: tuple[list[str], ...], words: str, env: dict[str, str] | None = None, config: str | None = None) -> None:
    if config is not None:
        (tmp_path / "sfu.toml").write_text(config)
    with ThreadPoolExecutor(max_workers=len(commands)) as pool:
        results = list(pool.map(lambda args: run(tmp_path, args, env or {}, config), commands))
    for args, result in zip(commands, results, strict=True):
        lines = result.stderr.splitlines()
        assert result.returncode == 2, (args, result.returncode, result.stderr)
        assert len(lines) == 1 and "Traceback" not in result.stderr, (args, result.stderr)
        assert lines[0].startswith("consult-sfu: configuration error: ") and words in lines[0], (args, lines)
        assert result.stdout == "", (args, result.stdout)


def test_an_unknown_captions_key_in_the_file(tmp_path: Path) -> None:
    assert_refused_in_one_line(tmp_path, EVERY, "unknown setting captions.colour (known: ", config='[captions]\ncolour = "red"\n')


def test_an_unknown_section_in_the_file(tmp_path: Path) -> None:
    assert_refused_in_one_line(tmp_path, EVERY, "unknown section [sever] (known: captions, chat, cluster, effects, files, ice,", config="[sever]\nport = 9000\n")


def test_ice_servers_that_are_not_json(tmp_path: Path) -> None:
    words = "ice.servers must be a list of tables (JSON in the environment), got 'stun:stun.example.org' (from CONSULT_SFU_ICE_SERVERS)"
    assert_refused_in_one_line(tmp_path, EVERY, words, env={"CONSULT_SFU_ICE_SERVERS": "stun:stun.example.org"})


def test_a_log_level_that_does_not_exist(tmp_path: Path) -> None:
    words = "server.log_level must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL, got 'verbose'"
    assert_refused_in_one_line(tmp_path, EVERY, words, config='[server]\nlog_level = "verbose"\n')


def test_a_boolean_set_to_maybe(tmp_path: Path) -> None:
    words = "sfu.latency_probe must be true or false (or yes/no, on/off, 1/0), got 'maybe' (from CONSULT_SFU_SFU_LATENCY_PROBE)"
    assert_refused_in_one_line(tmp_path, EVERY, words, env={"CONSULT_SFU_SFU_LATENCY_PROBE": "maybe"})


def test_a_number_in_a_feature_section(tmp_path: Path) -> None:
    words = "effects.max_segment_every must be an integer, got 'lots' (from CONSULT_SFU_EFFECTS_MAX_SEGMENT_EVERY)"
    assert_refused_in_one_line(tmp_path, EVERY, words, env={"CONSULT_SFU_EFFECTS_MAX_SEGMENT_EVERY": "lots"})


def test_apikey_create_with_redis_down(tmp_path: Path) -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        url = f"redis://127.0.0.1:{s.getsockname()[1]}/0"
    env = {"CONSULT_SFU_STORE": "redis", "CONSULT_SFU_REDIS_URL": url}
    assert_refused_in_one_line(tmp_path, (APIKEY,), f"store.redis_url: the store at {url} cannot be reached", env=env)


def test_a_data_dir_that_cannot_be_written(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("")
    with zipfile.ZipFile(tmp_path / "package.argosmodel", "w") as archive:  # passes the zip check
        archive.writestr("readme.txt", "hello")
    env = {"CONSULT_SFU_DATA_DIR": str(tmp_path / "a-file" / "data")}
    assert_refused_in_one_line(tmp_path, (SERVE, TOKEN), "server.data_dir: cannot keep the token secret in ", env=env)
    assert_refused_in_one_line(tmp_path, (APIKEY,), "store.data_dir: cannot keep API keys in ", env=env)
    assert_refused_in_one_line(tmp_path, (MODELS,), "captions.translation_folder: cannot install into ", env=env)


def test_serve_on_a_port_in_use(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        env = {"CONSULT_SFU_SECRET": "s" * 40, "CONSULT_SFU_DATA_DIR": str(tmp_path / "data")}
        assert_refused_in_one_line(tmp_path, (["serve", "--port", str(port)],), f"cannot listen on 127.0.0.1:{port}", env=env)


@pytest.mark.parametrize("word", ["true", "Yes", "on", "1", "false", "NO", "off", "0"])
def test_the_documented_boolean_spellings(word: str) -> None:
    from control.config import load

    assert load(None, env={"CONSULT_SFU_SFU_LATENCY_PROBE": word}).sfu.latency_probe is (word.lower() in ("true", "yes", "on", "1"))
