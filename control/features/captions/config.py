"""The ``[captions]`` section: the captions package's settings plus this feature's own.

Read by the one settings loader (control/config.py, control/settings.py) like every other
section: values from the TOML file or ``CONSULT_SFU_CAPTIONS_<KEY>`` variables, converted by
the type of their field; a bad one stops the command with a message naming
``captions.<key>`` and the rule. VAD settings are a ``[captions.vad]`` table in the file, or
``CONSULT_SFU_CAPTIONS_VAD_<KEY>`` variables. Relative folders are relative to the server's
``data_dir``; the defaults are ``<data_dir>/models/vosk`` and ``<data_dir>/models/translate``.

Settings of the feature itself (not of the captions package):

- ``start_workers``: ``first_use`` (default: the worker processes are spawned when the first
  participant turns captions on, so a server where nobody uses captions never pays for their
  ~450 MB; the first listener waits for the models to load, a few seconds) or ``startup``
  (spawned in the background when the server starts);
- ``default_language``: what a participant who never chose is assumed to speak
  (default ``en`` when it can be recognised, else the first recognisable language);
- ``ready_timeout_s``: how long the workers may take to start before captions are
  declared unavailable (default 120);
- ``idle_stop_s``: with ``first_use``, the workers stop once nobody has used captions for
  this long (no listener, no consultation holding a transcript; default 600 s, 0: never)
  and start again at the next use.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from captions.config import CaptionsConfig
from captions.errors import CaptionsError
from control.settings import Section


@dataclass(frozen=True)
class CaptionsFeatureConfig:
    captions: CaptionsConfig = field(default_factory=CaptionsConfig)
    start_workers: Literal["startup", "first_use"] = "first_use"
    default_language: str | None = None
    ready_timeout_s: float = 120.0
    idle_stop_s: float = 600.0

    def __post_init__(self) -> None:
        if self.ready_timeout_s <= 0:
            raise ValueError(f"ready_timeout_s must be positive, got {self.ready_timeout_s!r}")
        if self.idle_stop_s < 0:
            raise ValueError(f"idle_stop_s must be 0 (never) or more, got {self.idle_stop_s!r}")

    def under(self, data_dir: Path) -> CaptionsFeatureConfig:
        """The same settings with relative model folders placed under ``data_dir``."""
        captions = self.captions
        folders = {
            name: folder if folder.is_absolute() else data_dir / folder
            for name in ("models_folder", "translation_folder")
            for folder in [getattr(captions, name)]
        }
        return dataclasses.replace(self, captions=dataclasses.replace(captions, **folders))


SECTION = Section("captions", CaptionsFeatureConfig, flatten="captions", errors=(CaptionsError,))
