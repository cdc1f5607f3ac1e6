from hypothesis import given
from hypothesis import strategies as st

from sfu.packet.seqnum import seq_add, seq_diff, seq_gt, ts_add, ts_diff

seqs = st.integers(0, 0xFFFF)
tss = st.integers(0, 0xFFFFFFFF)


def test_seq_wraps_at_65535():
    assert seq_add(65535, 1) == 0
    assert seq_add(0, -1) == 65535
    assert seq_diff(0, 65535) == 1
    assert seq_diff(65535, 0) == -1
    assert seq_gt(0, 65535)
    assert not seq_gt(65535, 0)
    assert not seq_gt(5, 5)


def test_seq_diff_half_range_edges():
    assert seq_diff(32767, 0) == 32767
    assert seq_diff(32768, 0) == -32768


def test_ts_wraps_at_2_32():
    assert ts_add(0xFFFFFFFF, 1) == 0
    assert ts_add(0, -3000) == 0xFFFFFFFF - 2999
    assert ts_diff(10, 0xFFFFFFFF - 9) == 20
    assert ts_diff(0xFFFFFFFF - 9, 10) == -20


@given(seqs, st.integers(-32768, 32767))
def test_seq_add_then_diff_is_identity(a, d):
    assert seq_diff(seq_add(a, d), a) == d


@given(seqs, st.integers(1, 32767))
def test_seq_gt_for_forward_steps(a, d):
    assert seq_gt(seq_add(a, d), a)
    assert not seq_gt(a, seq_add(a, d))


@given(seqs, seqs)
def test_seq_diff_antisymmetric(a, b):
    d = seq_diff(a, b)
    assert -32768 <= d <= 32767
    if d != -32768:
        assert seq_diff(b, a) == -d


@given(tss, st.integers(-(2**31), 2**31 - 1))
def test_ts_add_then_diff_is_identity(a, d):
    r = ts_add(a, d)
    assert 0 <= r <= 0xFFFFFFFF
    assert ts_diff(r, a) == d
