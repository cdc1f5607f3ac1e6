from sfu.packet.keyframe_gate import KeyframeGate


def test_waits_for_keyframe_start_then_admits_everything():
    gate = KeyframeGate()
    assert gate.waiting
    assert not gate.admit(is_keyframe=False, is_frame_start=True)  # inter frame
    assert not gate.admit(is_keyframe=True, is_frame_start=False)  # middle of a keyframe
    assert not gate.admit(is_keyframe=False, is_frame_start=False)
    assert gate.dropped == 3
    assert gate.admit(is_keyframe=True, is_frame_start=True)
    assert not gate.waiting
    assert gate.admit(is_keyframe=False, is_frame_start=False)
    assert gate.admit(is_keyframe=False, is_frame_start=True)


def test_reset_closes_again():
    gate = KeyframeGate(waiting=False)
    assert gate.admit(False, False)
    gate.reset()
    assert gate.waiting
    assert not gate.admit(False, True)
    assert gate.admit(True, True)
