"""The server's data folder by default: ``$XDG_DATA_HOME/consult-sfu``, else
``~/.local/share/consult-sfu`` (the XDG base directory rule; a relative XDG_DATA_HOME is
ignored, as the specification says).

The same for every subcommand (``serve``, ``token``, ``apikey``, ``models``), wherever it is
run from, so ``consult-sfu token`` signs with the secret the server uses. A service sets
``data_dir`` (or ``CONSULT_SFU_DATA_DIR``) explicitly; ``make run`` and the tests pass theirs.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

APP_FOLDER = "consult-sfu"


def default_data_dir(env: Mapping[str, str] | None = None) -> Path:
    environ = os.environ if env is None else env
    base = environ.get("XDG_DATA_HOME", "")
    if not base or not os.path.isabs(base):
        home = environ.get("HOME") or str(Path.home())
        base = os.path.join(home, ".local", "share")
    return Path(base) / APP_FOLDER
