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
    assert det.check(5.0) is None  # one picture is not a moving camera
    for i in range(1, 6):  # 30 fps again
        det.on_frame(5.0 + i / 30)
    assert det.check(5.2) == "resumed"
    assert det.check(5.3) is None
    assert det.stalls == 1


def test_a_keep_alive_trickle_is_a_stall_but_a_slow_camera_is_not():
    """Firefox re-sends the last picture about once a second once its camera stops."""
    firefox = VideoStallDetector(threshold=3.0)
    dark_room = VideoStallDetector(threshold=3.0)
    events: dict[str, list[tuple[float, str]]] = {"firefox": [], "dark_room": []}
    for tenth in range(0, 200):
        now = tenth / 10
        if tenth < 30 or tenth % 8 == 0:  # 10 fps for 3 s, then a frame every 0.8 s (1.25 fps)
            firefox.on_frame(now)
        if tenth % 2 == 0:  # 5 fps throughout
            dark_room.on_frame(now)
        for name, det in (("firefox", firefox), ("dark_room", dark_room)):
            event = det.check(now)
            if event:
                events[name].append((now, event))
    assert events["dark_room"] == []
    assert [e for _, e in events["firefox"]] == ["stalled"]
    assert 3.0 <= events["firefox"][0][0] <= 6.0  # within a threshold of the camera stopping


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
    with pytest.raises(StallDetectorError, match="min_fps"):
        VideoStallDetector(3.0, min_fps=0)
