"""Live captions in the server (docs/captions.md): ``feature.install_captions`` wires them in.

- config.py: the ``[captions]`` section;
- feature.py: the ``captions`` message, audio taps on the media room, delivery, metrics.

Nothing is imported here, so the settings loader reads config.py without loading the rest.
"""
