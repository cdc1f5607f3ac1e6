"""Holds a subscriber leg closed until a keyframe starts, so the receiver's first picture
decodes (a decoder fed inter frames without their reference shows garbage or freezes).

Reset when the leg starts, when its source switches (another stream's inter frames do not
reference anything the receiver has), or after unrecoverable loss.
"""


class KeyframeGate:
    """Per-leg gate: after ``reset`` drop everything until a packet that starts a keyframe."""

    __slots__ = ("_waiting", "dropped")

    def __init__(self, waiting: bool = True) -> None:
        self._waiting = waiting
        self.dropped = 0

    @property
    def waiting(self) -> bool:
        """True while the gate is waiting for a keyframe."""
        return self._waiting

    def reset(self) -> None:
        """Wait for the next keyframe again."""
        self._waiting = True

    def admit(self, is_keyframe: bool, is_frame_start: bool) -> bool:
        """True when the packet may be forwarded."""
        if self._waiting:
            if is_keyframe and is_frame_start:
                self._waiting = False
                return True
            self.dropped += 1
            return False
        return True
