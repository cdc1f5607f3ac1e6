import sfu.packet


def test_public_names_importable():
    for name in sfu.packet.__all__:
        assert getattr(sfu.packet, name) is not None, name
