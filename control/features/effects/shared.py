"""What the effects feature shares between processes, through the Store: images and choices.

A node with several workers (``serve --workers N``) and several nodes on one Redis serve one
organisation: an administrator's upload reaches one worker, the rooms that use the picture
run on any. So the set of background images and each person's remembered effect choice live
in the store (raw records, one key per operation, so Redis Cluster works too), and each
worker keeps only a decoded *cache* of the pictures it has used:

    effects:bg:{<org>}:ids          set of the organisation's image ids
    effects:bg:{<org>}:info:<id>    the image's ImageInfo (msgpack)
    effects:bg:{<org>}:data:<id>    the uploaded file's bytes (PNG or JPEG, <= max_image_bytes)
    effects:choice:<org>:<identity> the person's last choice, with a time to live

The ``{<org>}`` hash tag keeps an organisation's image keys in one Redis Cluster slot (one
MGET reads the list). An image is checked against the store every time an effect picks it
(one GET), so a picture deleted through another worker cannot be picked here; a worker that
has not seen it yet decodes the stored bytes once (in the executor). Adding and deleting
publish ``backgrounds_changed`` on the store's event channel; every worker re-sends
``backgrounds`` to that organisation's participants (feature.py).

These are organisation settings and a person's preference, not consultation content: they
outlive consultations (they are no kind of :mod:`control.store.consultation_data`, which
is taken at a consultation's end). Two uploads racing on two workers may both pass the ``max_images_per_org``
count (the set may exceed it by the racing uploads); the next upload is refused.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from control.domain.rules import Event
from control.store import Store
from control.store.base import pack, unpack
from effects.config import EffectsConfig
from effects.errors import ImageNotFound, ImageRejected
from effects.images import BackgroundImageStore, ImageInfo, StoredImage

#: Event on the store's channel when an organisation's image set changed.
BACKGROUNDS_CHANGED = "backgrounds_changed"
#: A remembered effect choice is forgotten after this long without a new choice (30 days).
CHOICE_TTL_S = 30 * 24 * 3600.0


def _ids_key(org: str) -> str:
    return f"effects:bg:{{{org}}}:ids"


def _info_key(org: str, image_id: str) -> str:
    return f"effects:bg:{{{org}}}:info:{image_id}"


def _data_key(org: str, image_id: str) -> str:
    return f"effects:bg:{{{org}}}:data:{image_id}"


def choice_key(org: str, identity: str) -> str:
    return f"effects:choice:{org}:{identity}"


def _info(raw: bytes) -> ImageInfo:
    data = unpack(raw)
    return ImageInfo(**{k: data[k] for k in ImageInfo.__dataclass_fields__})


class SharedBackgrounds:
    """The organisations' background images, in the store, with this worker's decoded cache."""

    def __init__(self, store: Store, images: BackgroundImageStore, config: EffectsConfig, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.images = images
        self.config = config
        self.clock = clock

    async def add(self, org: str, name: str, data: bytes) -> ImageInfo:
        """Validate, decode (executor), count, store and keep; :class:`ImageRejected` if refused."""
        if len(await self.store.index_members(_ids_key(org))) >= self.config.max_images_per_org:
            raise ImageRejected(
                "too_many",
                f"organisation {org!r} already has {self.config.max_images_per_org} background images "
                "(max_images_per_org); delete one first",
            )
        loop = asyncio.get_running_loop()
        stored = await loop.run_in_executor(None, lambda: self.images.prepare(org, name, data, now=self.clock()))
        info = stored.info
        await self.store.set_raw(_data_key(org, info.image_id), bytes(data))
        await self.store.set_raw(_info_key(org, info.image_id), pack(info.to_dict()))
        await self.store.index_add(_ids_key(org), info.image_id)
        self.images.keep(stored)
        await self._changed(org)
        return info

    async def list(self, org: str) -> list[ImageInfo]:
        """The organisation's images, oldest first (index entries without a record are skipped)."""
        ids = sorted(await self.store.index_members(_ids_key(org)))
        raws = await self.store.get_raw_many([_info_key(org, i) for i in ids])
        infos = [_info(raw) for raw in raws if raw is not None]
        return sorted(infos, key=lambda info: (info.added_at, info.image_id))

    async def get(self, org: str, image_id: str) -> StoredImage:
        """The image, decoded here (once) from the store if this worker has not seen it yet.

        :class:`ImageNotFound` when the organisation has no such image (any more).
        """
        if await self.store.get_raw(_info_key(org, image_id)) is None:
            self.images.forget(org, image_id)
            raise ImageNotFound(org, image_id)
        try:
            return self.images.get(org, image_id)
        except ImageNotFound:
            pass
        raw_info, data = await self.store.get_raw_many([_info_key(org, image_id), _data_key(org, image_id)])
        if raw_info is None or data is None:
            raise ImageNotFound(org, image_id)
        info = _info(raw_info)
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(None, self.images.adopt, info, data)
        except ImageRejected:  # it passed the same checks at upload: a changed limit, or a damaged record
            raise ImageNotFound(org, image_id) from None

    async def delete(self, org: str, image_id: str) -> ImageInfo:
        raw = await self.store.get_raw(_info_key(org, image_id))
        if raw is None:
            raise ImageNotFound(org, image_id)
        await self.store.delete_raw(_info_key(org, image_id))
        await self.store.delete_raw(_data_key(org, image_id))
        await self.store.index_remove(_ids_key(org), image_id)
        self.images.forget(org, image_id)
        await self._changed(org)
        return _info(raw)

    async def _changed(self, org: str) -> None:
        await self.store.publish(Event(BACKGROUNDS_CHANGED, org, None, self.clock()))


class SharedChoices:
    """Each person's last effect choice (organisation, identity), for ``effects_ask_again``."""

    def __init__(self, store: Store, ttl_s: float = CHOICE_TTL_S) -> None:
        self.store = store
        self.ttl_s = ttl_s

    async def remember(self, org: str, identity: str, choice: dict[str, Any]) -> None:
        await self.store.set_raw(choice_key(org, identity), pack(choice), ttl_s=self.ttl_s)

    async def recall(self, org: str, identity: str) -> dict[str, Any] | None:
        raw = await self.store.get_raw(choice_key(org, identity))
        return None if raw is None else unpack(raw)
