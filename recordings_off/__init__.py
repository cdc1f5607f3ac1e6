"""The privacy guarantee: nothing of a consultation outlives it.

consult-sfu never records media: the media plane forwards packets and keeps at most a
few hundred of them per subscriber leg, in memory, to answer NACKs. Whatever else a
consultation produces while it runs is held by a holder registered here
(:class:`ConsultationMemory`), with the lifetime of its data (the media room, or the whole
consultation) and, for content, the bytes it holds now (``/metrics``
``consult_sfu_consultation_bytes_held``, 0 when no consultation runs), so that the end
forgets all of it in one place. Registered today (``ConsultationMemory.holders()`` of a
server):

- ``captions``: the transcript, each participant's caption languages, the audio taps
  (lifetime: the media room);
- ``effects``: which camera has which background effect (the media room);
- ``chat``: the transcript (in the store, shared by the processes; the consultation), taken
  at the end and deleted, or handed over then deleted;
- ``files``: the shared files held by the room's owner (the media room);
- ``waiting_room``: the lobby's live entries of people connected to this process (the
  consultation). The waiting entries themselves (who waits, since when, with which name)
  live in the control plane's store; ending the consultation (``control.domain.rules.end``)
  removes them there.
- ``reconnect_choices``: each participant's subscription caps, background effect and
  captions choice, kept in the store so a re-join served by another worker or node gets
  them back (control/reconnect_choices.py; the consultation). Deleted when the participant
  leaves for good, and at the end.

The end-of-consultation audit (tests/chat/test_nothing_kept.py) checks that every holder
is back to nothing and that nothing of the consultation's content is left anywhere else.
"""

from recordings_off.forgetting import ConsultationMemory, Forgetter, HeldBytes, Lifetime

__all__ = ["ConsultationMemory", "Forgetter", "HeldBytes", "Lifetime"]
