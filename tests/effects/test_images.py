"""BackgroundImageStore: upload validation (each refusal code), listing, deletion, ready sizes."""

from __future__ import annotations

import struct
import zlib

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from effects.config import EffectsConfig
from effects.errors import ImageNotFound, ImageRejected
from effects.images import BackgroundImageStore
from tests.effects.conftest import PHOTO


def encoded(ext: str, width: int, height: int) -> bytes:
    yy, xx = np.mgrid[0:height, 0:width]
    image = np.dstack([xx * 255 // max(1, width - 1), yy * 255 // max(1, height - 1), np.full_like(xx, 90)])
    ok, data = cv2.imencode(ext, image.astype(np.uint8))
    assert ok
    return data.tobytes()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG signature and a valid IHDR chunk claiming width x height, and nothing else."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = struct.pack(">I", len(ihdr)) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    return b"\x89PNG\r\n\x1a\n" + chunk


def rejected_code(store: BackgroundImageStore, data: bytes, org: str = "org-a") -> str:
    with pytest.raises(ImageRejected) as caught:
        store.add(org, "upload", data)
    assert caught.value.message  # every refusal explains itself
    return caught.value.code


def test_accepts_png_and_jpeg_and_lists_them_oldest_first():
    store = BackgroundImageStore()
    png = store.add("org-a", "  Waiting room  ", encoded(".png", 640, 360), now=100.0)
    jpeg = store.add("org-a", "Beach", PHOTO.read_bytes(), now=50.0)
    assert (png.content_type, png.width, png.height, png.name) == ("image/png", 640, 360, "Waiting room")
    assert (jpeg.content_type, jpeg.width, jpeg.height) == ("image/jpeg", 512, 600)
    assert jpeg.size_bytes == len(PHOTO.read_bytes())
    assert [info.image_id for info in store.list("org-a")] == [jpeg.image_id, png.image_id]
    assert store.list("org-b") == []
    assert png.to_dict()["content_type"] == "image/png"


def test_images_are_kept_per_organisation():
    store = BackgroundImageStore()
    info = store.add("org-a", "Office", encoded(".png", 320, 180))
    with pytest.raises(ImageNotFound, match="org-b"):
        store.get("org-b", info.image_id)
    with pytest.raises(ImageNotFound):
        store.delete("org-b", info.image_id)
    assert store.get("org-a", info.image_id).info == info


def test_delete_removes_the_image():
    store = BackgroundImageStore()
    info = store.add("org-a", "Office", encoded(".jpg", 320, 180))
    assert store.delete("org-a", info.image_id) == info
    assert store.list("org-a") == []
    with pytest.raises(ImageNotFound, match=info.image_id):
        store.get("org-a", info.image_id)
    with pytest.raises(ImageNotFound):
        store.delete("org-a", info.image_id)


def test_an_image_prepared_in_one_process_is_adopted_in_another_with_the_same_identity():
    # the shared set (control/features/effects/shared.py): one worker prepares and stores the
    # bytes, another decodes them into its own cache under the same id
    uploader, other = BackgroundImageStore(), BackgroundImageStore()
    data = encoded(".png", 640, 360)
    stored = uploader.prepare("org-a", " Garden ", data, now=5.0)
    assert uploader.list("org-a") == []  # prepared, not kept
    uploader.keep(stored)
    assert uploader.get("org-a", stored.info.image_id) is stored
    adopted = other.adopt(stored.info, data)
    assert adopted.info == stored.info and adopted.info.name == "Garden"
    assert np.array_equal(adopted.at_size(320, 180), stored.at_size(320, 180))
    other.forget("org-a", stored.info.image_id)
    other.forget("org-a", "img_unknown")  # nothing to forget: no error
    with pytest.raises(ImageNotFound):
        other.get("org-a", stored.info.image_id)
    with pytest.raises(ImageRejected):
        other.adopt(stored.info, data[:100])


def test_ready_sizes_are_exact_cached_and_read_only():
    store = BackgroundImageStore()
    info = store.add("org-a", "Gradient", encoded(".png", 1600, 900))
    stored = store.get("org-a", info.image_id)
    small = stored.at_size(320, 180)
    assert small.shape == (180, 320, 3) and small.dtype == np.uint8
    assert stored.at_size(320, 180) is small  # decoded and scaled once
    assert stored.at_size(640, 480).shape == (480, 640, 3)
    assert stored.sizes_ready == [(320, 180), (640, 480)]
    assert not small.flags.writeable
    # Same picture, scaled: the gradient runs left to right in red, top to bottom in green.
    assert small[90, 5, 0] < 20 and small[90, 315, 0] > 235
    assert small[2, 160, 1] < 20 and small[177, 160, 1] > 235
    dumped = store.dump()["org-a"]
    assert isinstance(dumped, list)
    assert dumped[0]["sizes_ready"] == [(320, 180), (640, 480)]


def test_large_uploads_are_kept_at_the_largest_output_size_only():
    store = BackgroundImageStore()
    info = store.add("org-a", "Big", encoded(".jpg", 4000, 3000))
    assert (info.width, info.height) == (4000, 3000)
    master = store.get("org-a", info.image_id)._master
    assert master.shape[:2] == (960, 1280)  # covers 1280x720, aspect kept


def test_thumbnail_is_a_small_jpeg():
    store = BackgroundImageStore()
    info = store.add("org-a", "Office", encoded(".png", 800, 600))
    thumbnail = cv2.imdecode(np.frombuffer(store.get("org-a", info.image_id).thumbnail_jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert thumbnail.shape == (180, 320, 3)


@pytest.mark.parametrize(
    "data",
    [
        b"GIF89a" + bytes(200),
        b"<svg xmlns='http://www.w3.org/2000/svg'/>",
        b"",
        cv2.imencode(".bmp", np.zeros((200, 300, 3), np.uint8))[1].tobytes(),
        cv2.imencode(".webp", np.zeros((200, 300, 3), np.uint8))[1].tobytes(),
    ],
    ids=["gif", "svg", "empty", "bmp", "webp"],
)
def test_other_formats_are_unsupported(data):
    assert rejected_code(BackgroundImageStore(), data) == "unsupported_format"


def test_files_over_the_byte_limit_are_too_large():
    store = BackgroundImageStore(EffectsConfig(max_image_bytes=10_000))
    data = PHOTO.read_bytes()
    assert len(data) > 10_000
    with pytest.raises(ImageRejected) as caught:
        store.add("org-a", "Photo", data)
    assert caught.value.code == "too_large"
    assert "10000" in caught.value.message


def test_default_byte_limit_is_five_megabytes():
    store = BackgroundImageStore()
    oversized = encoded(".png", 320, 180) + bytes(5 * 1024 * 1024)
    assert rejected_code(store, oversized) == "too_large"


def test_pictures_over_4096_are_too_large():
    store = BackgroundImageStore()
    assert rejected_code(store, encoded(".png", 4097, 200)) == "too_large"
    assert rejected_code(store, encoded(".jpg", 200, 4100)) == "too_large"


def test_a_header_claiming_a_huge_picture_is_refused_before_decoding():
    # 33 bytes describing 60,000 x 60,000 pixels (10 GB decoded): refused from the header.
    assert rejected_code(BackgroundImageStore(), png_header_only(60_000, 60_000)) == "too_large"


@pytest.mark.parametrize(("ext", "width", "height"), [(".png", 159, 200), (".jpg", 300, 89), (".png", 16, 16)])
def test_pictures_under_160x90_are_too_small(ext, width, height):
    with pytest.raises(ImageRejected) as caught:
        BackgroundImageStore().add("org-a", "Tiny", encoded(ext, width, height))
    assert caught.value.code == "too_small"
    assert "160x90" in caught.value.message


def test_damaged_files_are_corrupt():
    store = BackgroundImageStore()
    png = encoded(".png", 640, 360)
    jpeg = PHOTO.read_bytes()
    garbled_png = png[:40] + bytes(b ^ 0x5A for b in png[40:])
    cases = {
        "png header only": png_header_only(640, 360),
        "png truncated": png[: len(png) // 2],
        "png garbled data": garbled_png,
        "png without IHDR": png[:8] + b"\x00" * 30,
        "jpeg truncated": jpeg[: len(jpeg) // 2],
        "jpeg without frame header": b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(100),
    }
    codes = {name: rejected_code(store, data) for name, data in cases.items()}
    assert codes == dict.fromkeys(cases, "corrupt")
    assert store.list("org-a") == []


def test_refusal_messages_name_the_problem():
    store = BackgroundImageStore()
    png = bytearray(encoded(".png", 320, 180))
    png[60] ^= 0xFF  # inside the first data chunk
    with pytest.raises(ImageRejected, match=r"PNG chunk 1 \(IDAT\) is damaged"):
        store.add("org-a", "x", bytes(png))
    with pytest.raises(ImageRejected, match="neither PNG nor JPEG"):
        store.add("org-a", "x", b"GIF89a" + bytes(100))
    with pytest.raises(ImageRejected, match="159x200"):
        store.add("org-a", "x", encoded(".png", 159, 200))


def test_an_organisation_set_is_bounded():
    store = BackgroundImageStore(EffectsConfig(max_images_per_org=2))
    store.add("org-a", "one", encoded(".png", 320, 180))
    store.add("org-a", "two", encoded(".png", 320, 180))
    assert rejected_code(store, encoded(".png", 320, 180)) == "too_many"
    store.add("org-b", "other org", encoded(".png", 320, 180))


@pytest.mark.parametrize("name", ["", "   ", "x" * 101, "bad\nname"])
def test_names_are_validated(name):
    with pytest.raises(ImageRejected) as caught:
        BackgroundImageStore().add("org-a", name, encoded(".png", 320, 180))
    assert caught.value.code == "invalid_name"
    assert "name" in caught.value.message


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    prefix=st.sampled_from([b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b""]),
    body=st.binary(max_size=400),
    cut=st.integers(min_value=0, max_value=2000),
)
def test_any_bytes_are_either_accepted_or_rejected_with_a_code(prefix, body, cut):
    """Fuzz: random, truncated or spliced uploads never raise anything but ImageRejected."""
    real = encoded(".png", 200, 120) if prefix.startswith(b"\x89") else encoded(".jpg", 200, 120)
    candidates = [prefix + body, real[:cut] + body, real[: min(cut, 40)] + body + real[40:]]
    store = BackgroundImageStore()
    for data in candidates:
        try:
            store.add("org-a", "fuzz", data)
        except ImageRejected as error:
            assert error.code in {"unsupported_format", "too_large", "corrupt", "too_small"}
