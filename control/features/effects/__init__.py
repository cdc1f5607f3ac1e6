"""Background effects in the server (docs/effects.md): ``feature.install_effects`` wires them in.

- config.py: the ``[effects]`` section;
- feature.py: ``set_effect`` on the sessions, the transform on the media room, metrics;
- api.py: /v1/backgrounds and the thumbnails of the room page's picker.

Nothing is imported here, so the settings loader reads config.py without loading the rest.
"""
