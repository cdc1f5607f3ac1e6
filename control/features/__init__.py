"""Optional features of the server, each in its own folder with its configuration section
(``config.py``, read by the one settings loader), its routes, its wiring into the sessions
and the media plane, and its metrics:

- ``control/features/effects/``: background blur and replacement (docs/effects.md);
- ``control/features/captions/``: live captions and translation (docs/captions.md).

The composition root installs them through :class:`control.features.context.FeatureContext`.
This package imports nothing itself, so the settings loader can read the features'
sections without loading the features.
"""
