import pytest

from sfu.packet.stall_detector import StallDetectorError, VideoStallDetector


def test_stall_and_resume_reported_once_each():
    det = VideoStallDetector(threshold=3.0)
    det.on_frame(0.0)
    assert det.check(2.9) is None
    assert det.check(3.0) == "stalled"
    assert det.check(4.0) is None
    assert det.stalled
    det.on_frame(5.0)
    assert det.check(5.0) == "resumed"
    assert det.check(5.1) is None
    assert det.stalls == 1


def test_never_delivering_track_stalls_from_first_check():
    det = VideoStallDetector(threshold=3.0)
    assert det.check(10.0) is None
    assert det.check(12.9) is None
    assert det.check(13.0) == "stalled"


def test_muted_is_not_stalled():
    det = VideoStallDetector(threshold=3.0)
    det.on_frame(0.0)
    det.set_muted(True)
    assert det.check(100.0) is None
    det.set_muted(False, now=100.0)
    assert det.check(102.0) is None  # wait restarts at unmute
    assert det.check(103.0) == "stalled"


def test_mute_ends_a_stall():
    det = VideoStallDetector(threshold=1.0)
    det.on_frame(0.0)
    assert det.check(2.0) == "stalled"
    det.set_muted(True)
    assert det.check(2.1) == "resumed"
    assert det.check(9.0) is None
    det.set_muted(False)  # no time: the wait starts at the next check
    assert det.check(20.0) is None
    assert det.check(21.0) == "stalled"


def test_bad_threshold():
    with pytest.raises(StallDetectorError, match="threshold"):
        VideoStallDetector(0)
