"""The privacy guarantee: nothing of a consultation outlives it.

consult-sfu never records media: the media plane forwards packets and keeps at most a
few hundred of them per subscriber leg, in memory, to answer NACKs. Whatever else a
consultation produces while it runs (caption transcripts, chosen background effects,
queue entries of the waiting room) lives in memory and is registered here, so that
ending the consultation forgets all of it in one place.
"""

from recordings_off.forgetting import ConsultationMemory, Forgetter

__all__ = ["ConsultationMemory", "Forgetter"]
