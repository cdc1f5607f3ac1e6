"""The privacy guarantee: nothing of a consultation outlives it.

consult-sfu never records media: the media plane forwards packets and keeps at most a
few hundred of them per subscriber leg, in memory, to answer NACKs. What the features keep
per consultation while it runs lives in memory and is registered here, so that the end of
the consultation (its media room closing) forgets all of it in one place. Registered
today (``ConsultationMemory.holders()`` of a server):

- ``captions``: the transcript, each participant's caption languages, the audio taps;
- ``effects``: which camera has which background effect.

Not registered here: the waiting room. Its entries (who waits, since when, with which
name) live in the control plane's store, not in the media room's memory, and outlive a
media room that empties while people still wait; ending the consultation
(``control.domain.rules.end``) removes them there. Making every consultation store register
here is issue 18.
"""

from recordings_off.forgetting import ConsultationMemory, Forgetter

__all__ = ["ConsultationMemory", "Forgetter"]
