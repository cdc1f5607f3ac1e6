"""What a subscriber asked for one track it receives: a size cap, or paused."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Preference:
    """A cap on the size this subscriber receives (None: no cap), or the track paused.

    Set explicitly by the subscriber (its tile on screen, a data-saving choice). The
    producer's :class:`~sfu.source_selector.SourceSelector` turns it into a source.
    """

    max_width: int | None = None
    max_height: int | None = None
    paused: bool = False
