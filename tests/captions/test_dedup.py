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
    # overlapping speech that started later waits for its final, whatever it reads
    assert not dedup.offer_partial(heard("b1", "bob", "my knee hurts when walking", 10.2), 11.1).emit
    # the final decides: different words are shown
    assert dedup.offer_final(heard("b1", "bob", "my knee hurts when walking", 10.2), 11.5).emit


def test_an_echo_partial_shorter_or_misheard_is_held_back() -> None:
    """Issue 13: the echo's first partials ("how are") are too short to be similar to the
    original's ("how are you feeling"), or misheard: they were shown, and never taken back."""
    dedup = EchoDeduplicator(window_s=2.0, min_similarity=0.8)
    assert dedup.offer_partial(heard("a1", "alice", "how are you feeling", 10.0), 10.9).emit
    assert not dedup.offer_partial(heard("b1", "bob", "how are", 10.2), 11.0).emit
    assert not dedup.offer_partial(heard("b1", "bob", "how are you fee link", 10.2), 11.3).emit
    assert not dedup.offer_partial(heard("b1", "bob", "how old you feeling to day", 10.2), 11.6).emit
    assert dedup.partials_held == 3


def test_partials_wait_while_an_earlier_speaker_has_no_words_yet() -> None:
    """The original started (the worker said so) but has no partial yet: the echo waits."""
    dedup = EchoDeduplicator(window_s=2.0, min_similarity=0.8)
    dedup.speech_began(heard("a1", "alice", "", 10.0, -99.0), 10.1)
    assert not dedup.offer_partial(heard("b1", "bob", "do you", 10.2), 10.6).emit
    # alice's own partials are never held back by a later speaker
    assert dedup.offer_partial(heard("a1", "alice", "do you have", 10.0), 10.7).emit
    # once alice's utterance is final and out of the window, bob speaks freely
    assert dedup.offer_final(heard("a1", "alice", "do you have any allergies", 10.0), 11.5).emit
    assert dedup.offer_partial(heard("b2", "bob", "no", 13.0), 13.6).emit


def test_a_shown_partial_that_turns_out_to_be_an_echo_is_withdrawn() -> None:
    dedup = EchoDeduplicator(window_s=2.0, min_similarity=0.8)
    # bob's partial came before anything of alice's (her recogniser was slower)
    assert dedup.offer_partial(heard("b1", "bob", "do you", 10.2), 10.6).emit
    assert dedup.offer_partial(heard("a1", "alice", "do you have any", 10.0), 10.7).emit
    held = dedup.offer_partial(heard("b1", "bob", "do you have", 10.2), 10.8)
    assert not held.emit and held.withdraw == "b1"
    assert dedup.offer_final(heard("a1", "alice", "do you have any allergies", 10.0), 11.5).emit
    final = dedup.offer_final(heard("b1", "bob", "do you have any allergies", 10.2), 11.7)
    assert not final.emit and final.withdraw is None  # already withdrawn
    assert dedup.withdrawn == 1


def test_a_suppressed_final_withdraws_its_shown_partials() -> None:
    dedup = EchoDeduplicator(window_s=2.0, min_similarity=0.8)
    assert dedup.offer_final(heard("a1", "alice", "how are you feeling today", 10.0), 11.0).emit
    assert dedup.offer_partial(heard("b1", "bob", "how are you feeling today", 14.5), 15.0).emit  # out of the window
    dedup.offer_partial(heard("b1", "bob", "how are you feeling today", 14.5), 15.1)
    assert dedup.offer_final(heard("c1", "carol", "how are you feeling today", 14.0), 15.2).emit
    decision = dedup.offer_final(heard("b1", "bob", "how are you feeling today", 14.5), 15.3)
    assert not decision.emit and decision.withdraw == "b1"


def test_a_reattributed_final_withdraws_the_originals_partial_line() -> None:
    """The echo's final was shown first; the original's final re-sends it under the echo's
    id, so the original's own partial line must go."""
    dedup = EchoDeduplicator(window_s=2.0, min_similarity=0.8)
    assert dedup.offer_partial(heard("a1", "alice", "see you next", 10.0), 10.5).emit
    assert dedup.offer_final(heard("b1", "bob", "see you next week", 10.2), 11.0).emit
    decision = dedup.offer_final(heard("a1", "alice", "see you next week", 10.0), 11.2)
    assert decision.emit and decision.supersedes is not None and decision.withdraw == "a1"


def test_an_utterance_that_ends_without_words_withdraws_its_partial() -> None:
    dedup = EchoDeduplicator(window_s=2.0, min_similarity=0.8)
    assert dedup.offer_partial(heard("a1", "alice", "uh", 10.0), 10.5).emit
    assert dedup.ended_without_words("alice", "a1", 11.0).withdraw == "a1"
    assert dedup.ended_without_words("alice", "a1", 11.1).withdraw is None


def test_echo_whose_end_was_misheard_is_still_the_same_utterance() -> None:
    from captions.dedup import same_beginning

    assert same_beginning("do you have any allergies to lead us at a", "do you have any allergies to medicine")
    assert not same_beginning("do you have any pain", "do you have any questions")  # 4 words only
    assert not same_beginning("a b c d e f g h i j k l m", "a b c d e x y z q r s t u")  # 5 of 13 words: too little
