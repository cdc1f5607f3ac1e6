"""The ``[effects]`` section: :class:`effects.config.EffectsConfig` (docs/effects.md).

Read by the one settings loader (control/config.py, control/settings.py) like every other
section; EffectsConfig checks its ranges itself (``InvalidEffectsConfig``, a ValueError).
"""

from __future__ import annotations

from control.settings import Section
from effects.config import EffectsConfig

SECTION = Section("effects", EffectsConfig)
