"""Background effects in the server (docs/effects.md): ``install_effects`` wires them in.

- config.py: the ``[effects]`` section;
- feature.py: ``set_effect`` on the sessions, the transform on the media room, metrics;
- api.py: /v1/backgrounds and the thumbnails of the room page's picker.
"""

from control.features.effects.feature import FEATURE_KEY, EffectsFeature, install_effects

__all__ = ["FEATURE_KEY", "EffectsFeature", "install_effects"]
