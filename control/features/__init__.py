"""Optional features of the server, each in its own folder with its configuration section,
its routes, its wiring into the sessions and the media plane, and its metrics:

- ``control/features/effects/``: background blur and replacement (docs/effects.md);
- ``control/features/captions/``: live captions and translation (docs/captions.md).

The composition root installs them through :class:`FeatureContext` (context.py).
"""

from control.features.context import Feature, FeatureContext

__all__ = ["Feature", "FeatureContext"]
