"""EchoDeduplicator: same words from two speakers within the window -> one caption."""

from __future__ import annotations

from captions.dedup import EchoDeduplicator, Heard, normalise_text, similarity


def heard(uid: str, speaker: str, text: str, start: float, level: float = -20.0) -> Heard:
    return Heard(uid, speaker, text, start, level)


def test_normalisation_and_similarity() -> None:
    assert normalise_text("  Hello,   WORLD! ") == "hello world"
    assert similarity("how are you feeling today", "How are you feeling, today?") == 1.0
    assert similarity("how are you feeling today", "please take one tablet") < 0.5
    assert similarity("", "x") == 0.0


def test_echo_after_the_original_is_suppressed() -> None:
    dedup = EchoDeduplicator(window_s=2.0, min_similarity=0.8)
    assert dedup.offer_final(heard("a1", "alice", "how are you feeling today", 10.0), 12.0).emit
    decision = dedup.offer_final(heard("b1", "bob", "how are you feeling to day", 10.2, -35), 12.3)
    assert not decision.emit and decision.duplicate_of is not None
    assert decision.duplicate_of.speaker_id == "alice"
    assert dedup.suppressed == 1


def test_echo_shown_first_is_reattributed_to_who_started_first() -> None:
    dedup = EchoDeduplicator(window_s=2.0, min_similarity=0.8)
    assert dedup.offer_final(heard("b1", "bob", "how are you feeling today", 10.2), 12.0).emit
    decision = dedup.offer_final(heard("a1", "alice", "how are you feeling today", 10.0), 12.1)
    assert decision.emit and decision.supersedes is not None
    assert decision.supersedes.utterance_id == "b1"
    # A third copy is now a duplicate of alice's (re-attributed) caption.
    third = dedup.offer_final(heard("c1", "carol", "how are you feeling today", 10.4), 12.2)
    assert not third.emit and third.duplicate_of is not None
    assert third.duplicate_of.speaker_id == "alice"


def test_tie_on_start_goes_to_the_louder() -> None:
    dedup = EchoDeduplicator(window_s=2.0, min_similarity=0.8, tie_s=0.05)
    assert dedup.offer_final(heard("b1", "bob", "see you next week", 10.01, -40), 11.0).emit
    decision = dedup.offer_final(heard("a1", "alice", "see you next week", 10.0, -18), 11.1)
    assert decision.supersedes is not None


def test_different_words_same_speaker_or_outside_the_window_are_kept() -> None:
    dedup = EchoDeduplicator(window_s=2.0, min_similarity=0.8)
    assert dedup.offer_final(heard("a1", "alice", "how are you", 10.0), 11.0).emit
    assert dedup.offer_final(heard("b1", "bob", "fine thank you", 10.1), 11.1).emit
    assert dedup.offer_final(heard("a2", "alice", "how are you", 10.5), 11.2).emit  # same speaker
    assert dedup.offer_final(heard("b2", "bob", "how are you", 14.0), 15.0).emit  # too late


def test_echo_partials_are_held_back() -> None:
    dedup = EchoDeduplicator(window_s=2.0, min_similarity=0.8)
    assert dedup.offer_partial(heard("a1", "alice", "how are you", 10.0), 10.8).emit
    assert not dedup.offer_partial(heard("b1", "bob", "how are you", 10.2), 11.0).emit
    assert dedup.offer_partial(heard("b1", "bob", "something else entirely", 10.2), 11.1).emit


def test_echo_whose_end_was_misheard_is_still_the_same_utterance() -> None:
    from captions.dedup import same_beginning

    assert same_beginning("do you have any allergies to lead us at a", "do you have any allergies to medicine")
    assert not same_beginning("do you have any pain", "do you have any questions")  # 4 words only
    assert not same_beginning("a b c d e f g h i j k l m", "a b c d e x y z q r s t u")  # 5 of 13 words: too little
