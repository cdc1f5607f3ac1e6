"""The organisations' background images: validated on upload, decoded once, kept ready.

In memory, keyed by (organisation id, image id). The control API calls ``add``/``list``/
``delete`` from the event loop (``add`` decodes: run it in an executor for big files);
effects call :meth:`StoredImage.at_size` from their worker threads. A lock guards both.

Memory: each image is kept decoded only once, scaled down to just cover the largest
output (``max_output_width`` x ``max_output_height``, 1280x720 by default: 2.7 MB), plus a
few ready-made copies at the frame sizes in use (BGR and I420, bounded per image) and a 320x180 JPEG
thumbnail for the room page's picker. The uploaded bytes are not kept.

A deleted image stays in use by the effects that already hold it until they change; new
effects cannot pick it.
"""

from __future__ import annotations

import builtins
import importlib
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import asdict, dataclass
from types import ModuleType
from typing import TYPE_CHECKING

from effects.config import EffectsConfig
from effects.errors import ImageNotFound, ImageRejected
from effects.image_formats import (
    CONTENT_TYPES,
    HeaderError,
    check_structure,
    header_dimensions,
    sniff_format,
)

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from effects.i420 import I420Array

    BgrImage = npt.NDArray[np.uint8]


def _cv2() -> ModuleType:
    """OpenCV, imported at the first picture (the ``effects`` extra): a server without the
    extra, or one whose participants never use backgrounds, never loads it (~40 ms, ~30 MB).
    numpy too is imported where a picture is handled, not with the module (~15 MB)."""
    try:
        return importlib.import_module("cv2")
    except ImportError:
        raise ImageRejected(
            "unavailable", "background images need the effects extra (pip install 'consult-sfu[effects]'), not installed here"
        ) from None


#: Ready-made copies kept per image (one per frame size in use; renditions scale after).
SIZES_KEPT_PER_IMAGE = 8
THUMBNAIL_SIZE = (320, 180)
MAX_NAME_LENGTH = 100
MAX_ORG_LENGTH = 128


@dataclass(frozen=True)
class ImageInfo:
    org: str
    image_id: str
    name: str
    content_type: str
    #: The uploaded picture's size (as displayed, EXIF orientation applied).
    width: int
    height: int
    size_bytes: int
    added_at: float

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


class StoredImage:
    """One decoded image; :meth:`at_size` gives it ready to composite at a frame size."""

    def __init__(self, info: ImageInfo, master: BgrImage, thumbnail_jpeg: bytes) -> None:
        self.info = info
        self.thumbnail_jpeg = thumbnail_jpeg
        self._master = master
        self._sizes: OrderedDict[tuple[int, int], BgrImage] = OrderedDict()
        self._sizes_i420: OrderedDict[tuple[int, int], I420Array] = OrderedDict()
        self._lock = threading.Lock()

    def at_size(self, width: int, height: int) -> BgrImage:
        """BGR uint8 array of exactly width x height (covering, centre-cropped); read-only, cached."""
        key = (width, height)
        with self._lock:
            ready = self._sizes.get(key)
            if ready is not None:
                self._sizes.move_to_end(key)
                return ready
        from effects.compositor import cover

        ready = cover(self._master, width, height)
        ready.setflags(write=False)
        with self._lock:
            self._sizes[key] = ready
            while len(self._sizes) > SIZES_KEPT_PER_IMAGE:
                self._sizes.popitem(last=False)
        return ready

    def at_size_i420(self, width: int, height: int) -> I420Array:
        """The same picture as an I420 (yuv420p) array for frames of width x height (even)."""
        key = (width, height)
        with self._lock:
            ready = self._sizes_i420.get(key)
            if ready is not None:
                self._sizes_i420.move_to_end(key)
                return ready
        from effects.i420 import from_bgr

        ready = from_bgr(self.at_size(width, height))
        ready.setflags(write=False)
        with self._lock:
            self._sizes_i420[key] = ready
            while len(self._sizes_i420) > SIZES_KEPT_PER_IMAGE:
                self._sizes_i420.popitem(last=False)
        return ready

    @property
    def sizes_ready(self) -> builtins.list[tuple[int, int]]:
        """Frame sizes with a ready copy (BGR or I420), in first-use order."""
        with self._lock:
            return builtins.list(dict.fromkeys([*self._sizes, *self._sizes_i420]))


class BackgroundImageStore:
    def __init__(self, config: EffectsConfig | None = None) -> None:
        self._config = config or EffectsConfig()
        self._images: dict[str, dict[str, StoredImage]] = {}
        self._lock = threading.Lock()

    def add(self, org: str, name: str, data: bytes, *, now: float | None = None) -> ImageInfo:
        """Validate, decode and keep an uploaded PNG or JPEG; :class:`ImageRejected` if refused."""
        _check_org(org)
        name = _checked_name(name)
        with self._lock:
            if len(self._images.get(org, {})) >= self._config.max_images_per_org:
                raise ImageRejected(
                    "too_many",
                    f"organisation {org!r} already has {self._config.max_images_per_org} background images "
                    "(max_images_per_org); delete one first",
                )
        stored = self.prepare(org, name, data, now=now)
        info = stored.info
        with self._lock:
            images = self._images.setdefault(org, {})
            if len(images) >= self._config.max_images_per_org:  # filled while we decoded
                raise ImageRejected("too_many", f"organisation {org!r} already has the maximum number of images")
            images[info.image_id] = stored
        return info

    def prepare(self, org: str, name: str, data: bytes, *, now: float | None = None) -> StoredImage:
        """Validate and decode an upload into a new image with a fresh id, *not* kept here.

        For a set shared between processes (control.features.effects.shared): the caller
        counts the organisation's images where they are shared, stores the bytes, then
        :meth:`keep` s the result. :class:`ImageRejected` if refused.
        """
        _check_org(org)
        name = _checked_name(name)
        content_type, width, height, master = self._decode(data)
        info = ImageInfo(
            org=org,
            image_id="img_" + secrets.token_hex(8),
            name=name,
            content_type=content_type,
            width=width,
            height=height,
            size_bytes=len(data),
            added_at=time.time() if now is None else now,
        )
        return StoredImage(info, master, _thumbnail(master))

    def keep(self, stored: StoredImage) -> None:
        """Keep an image prepared here or adopted from elsewhere (no count check: the set's owner counted)."""
        with self._lock:
            self._images.setdefault(stored.info.org, {})[stored.info.image_id] = stored

    def adopt(self, info: ImageInfo, data: bytes) -> StoredImage:
        """Decode the bytes of an image another process added (same id, name and time) and keep it."""
        _check_org(info.org)
        _, _, _, master = self._decode(data)
        stored = StoredImage(info, master, _thumbnail(master))
        self.keep(stored)
        return stored

    def forget(self, org: str, image_id: str) -> None:
        """Drop the local copy if there is one (deleted elsewhere); effects holding it keep it."""
        with self._lock:
            images = self._images.get(org, {})
            images.pop(image_id, None)
            if not images:
                self._images.pop(org, None)

    def list(self, org: str) -> builtins.list[ImageInfo]:
        """The organisation's images, oldest first."""
        with self._lock:
            infos = [stored.info for stored in self._images.get(org, {}).values()]
        return sorted(infos, key=lambda info: (info.added_at, info.image_id))

    def get(self, org: str, image_id: str) -> StoredImage:
        with self._lock:
            stored = self._images.get(org, {}).get(image_id)
        if stored is None:
            raise ImageNotFound(org, image_id)
        return stored

    def delete(self, org: str, image_id: str) -> ImageInfo:
        with self._lock:
            images = self._images.get(org, {})
            stored = images.pop(image_id, None)
            if not images:
                self._images.pop(org, None)
        if stored is None:
            raise ImageNotFound(org, image_id)
        return stored.info

    def dump(self) -> dict[str, object]:
        with self._lock:
            return {
                org: [{**stored.info.to_dict(), "sizes_ready": stored.sizes_ready} for stored in images.values()]
                for org, images in self._images.items()
            }

    def _decode(self, data: bytes) -> tuple[str, int, int, BgrImage]:
        config = self._config
        if not isinstance(data, bytes | bytearray | memoryview):
            raise ImageRejected("unsupported_format", "data: expected the file's bytes")
        data = bytes(data)
        if len(data) > config.max_image_bytes:
            raise ImageRejected(
                "too_large", f"file is {len(data)} bytes; the limit is {config.max_image_bytes} bytes (max_image_bytes)"
            )
        fmt = sniff_format(data)
        if fmt is None:
            raise ImageRejected("unsupported_format", "file is neither PNG nor JPEG (judged by its first bytes)")
        try:
            width, height = header_dimensions(fmt, data)
        except HeaderError as error:
            raise ImageRejected("corrupt", str(error)) from None
        _check_dimensions(config, width, height)
        try:
            check_structure(fmt, data)
        except HeaderError as error:
            raise ImageRejected("corrupt", str(error)) from None
        import numpy as np

        cv2 = _cv2()
        decoded = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
        if decoded is None:
            raise ImageRejected("corrupt", f"{fmt.upper()} file could not be decoded")
        shown = (decoded.shape[1], decoded.shape[0])
        # JPEG EXIF orientation may swap width and height; anything else is a lying header.
        if shown not in {(width, height), (height, width)}:
            raise ImageRejected("corrupt", f"{fmt.upper()} header says {width}x{height}, picture is {shown[0]}x{shown[1]}")
        return CONTENT_TYPES[fmt], shown[0], shown[1], self._master(np.asarray(decoded, dtype=np.uint8))

    def _master(self, image: BgrImage) -> BgrImage:
        """Scaled down (never up) to just cover the largest output size."""
        import numpy as np

        height, width = image.shape[:2]
        scale = max(self._config.max_output_width / width, self._config.max_output_height / height)
        if scale < 1.0:
            size = (max(1, round(width * scale)), max(1, round(height * scale)))
            cv2 = _cv2()
            image = np.asarray(cv2.resize(image, size, interpolation=cv2.INTER_AREA), dtype=np.uint8)
        image = np.ascontiguousarray(image)
        image.setflags(write=False)
        return image


def _check_dimensions(config: EffectsConfig, width: int, height: int) -> None:
    if width > config.max_image_width or height > config.max_image_height:
        raise ImageRejected(
            "too_large",
            f"picture is {width}x{height}; the limit is {config.max_image_width}x{config.max_image_height}",
        )
    if width < config.min_image_width or height < config.min_image_height:
        raise ImageRejected(
            "too_small",
            f"picture is {width}x{height}; the minimum is {config.min_image_width}x{config.min_image_height}",
        )


def _check_org(org: str) -> None:
    if not isinstance(org, str) or not org or len(org) > MAX_ORG_LENGTH:
        raise ImageRejected("invalid_name", f"org: must be a non-empty string of at most {MAX_ORG_LENGTH} characters")


def _checked_name(name: str) -> str:
    if not isinstance(name, str) or not name.strip() or len(name.strip()) > MAX_NAME_LENGTH:
        raise ImageRejected("invalid_name", f"name: must be a non-blank string of at most {MAX_NAME_LENGTH} characters")
    if any(ord(char) < 32 for char in name):
        raise ImageRejected("invalid_name", "name: must not contain control characters")
    return name.strip()


def _thumbnail(master: BgrImage) -> bytes:
    from effects.compositor import cover

    cv2 = _cv2()
    ok, encoded = cv2.imencode(".jpg", cover(master, *THUMBNAIL_SIZE), [cv2.IMWRITE_JPEG_QUALITY, 80])
    if not ok:  # cannot happen for a valid uint8 BGR array; keep the failure explicit
        raise ImageRejected("corrupt", "picture could not be re-encoded as a thumbnail")
    return bytes(encoded)
