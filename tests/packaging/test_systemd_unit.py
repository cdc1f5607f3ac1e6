"""deploy/consult-sfu.service passes ``systemd-analyze verify`` (skipped where systemd is absent)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

UNIT = Path(__file__).resolve().parents[2] / "deploy" / "consult-sfu.service"
INSTALLED_BINARY = "/opt/consult-sfu/bin/consult-sfu"


def verify(unit_text: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    path = tmp_path / "consult-sfu.service"
    path.write_text(unit_text)
    return subprocess.run([analyze, "verify", str(path)], capture_output=True, text=True, timeout=60, check=False)


def test_the_unit_verifies(tmp_path: Path) -> None:
    text = UNIT.read_text()
    assert f"ExecStart={INSTALLED_BINARY} " in text
    # verify checks that ExecStart's program exists: point it at this environment's
    binary = Path(sys.executable).parent / "consult-sfu"
    result = verify(text.replace(INSTALLED_BINARY, str(binary)), tmp_path)
    assert result.returncode == 0 and result.stderr.strip() == "", result.stderr


def test_verify_finds_a_broken_unit(tmp_path: Path) -> None:
    """The check above can fail: a misspelt value is reported."""
    binary = Path(sys.executable).parent / "consult-sfu"
    broken = UNIT.read_text().replace(INSTALLED_BINARY, str(binary)).replace("Restart=on-failure", "Restart=sometimes")
    assert "sometimes" in verify(broken, tmp_path).stderr


def test_a_configuration_error_is_not_restarted() -> None:
    """Exit code 2 (one-line configuration error) must not loop through restarts."""
    assert "RestartPreventExitStatus=2" in UNIT.read_text()
