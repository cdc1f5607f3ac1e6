"""Live captions in the server (docs/captions.md): ``install_captions`` wires them in.

- config.py: the ``[captions]`` section;
- feature.py: the ``captions`` message, audio taps on the media room, delivery, metrics.
"""

from control.features.captions.feature import FEATURE_KEY, CaptionsFeature, install_captions

__all__ = ["FEATURE_KEY", "CaptionsFeature", "install_captions"]
