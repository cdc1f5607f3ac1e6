"""``consult-sfu models install FILE``: a package lands in the configured translation folder;
a bad file is refused with a clear message and exit status 2."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import pytest

from control.cli import main


def test_install_into_the_data_dir_and_refuse_a_bad_file(
    tmp_path: Path, argos_files: dict[tuple[str, str], Path], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in [n for n in os.environ if n.startswith("CONSULT_SFU_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("CONSULT_SFU_DATA_DIR", str(tmp_path / "data"))
    main(["models", "install", str(argos_files[("en", "fr")])])
    out = capsys.readouterr().out
    folder = tmp_path / "data" / "models" / "translate"
    assert "en -> fr" in out and str(folder) in out
    assert any((p / "metadata.json").is_file() for p in folder.iterdir())

    # an absolute folder from the environment wins
    other = tmp_path / "elsewhere"
    monkeypatch.setenv("CONSULT_SFU_CAPTIONS_TRANSLATION_FOLDER", str(other))
    main(["models", "install", str(argos_files[("ko", "en")])])
    assert "ko -> en" in capsys.readouterr().out and other.is_dir()

    bad = tmp_path / "not-a-model.argosmodel"
    with zipfile.ZipFile(bad, "w") as archive:
        archive.writestr("readme.txt", "hello")
    for file, expected in ((bad, "metadata.json not found"), (tmp_path / "missing.argosmodel", "no such file")):
        with pytest.raises(SystemExit) as exit_info:
            main(["models", "install", str(file)])
        assert exit_info.value.code == 2
        err = capsys.readouterr().err
        assert "consult-sfu models install:" in err and expected in err, err


def test_a_bad_setting_is_named(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    monkeypatch.setenv("CONSULT_SFU_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CONSULT_SFU_CAPTIONS_RECOGNITION_WORKERS", "two")
    with pytest.raises(SystemExit):
        main(["models", "install", str(tmp_path / "x.argosmodel")])
    assert "captions.recognition_workers must be an integer" in capsys.readouterr().err
