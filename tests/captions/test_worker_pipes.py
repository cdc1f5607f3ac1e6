"""Each caption worker writes its results on a pipe of its own (captions/workers.py).

They used to share one output queue, whose writers share a cross-process lock: a worker killed
while it held it (an out-of-memory kill mid-message; in a full test run, the SIGKILL of
test_a_dead_recognition_worker_is_replaced_and_captions_go_on) stopped every other worker's
output, and close() hung for ever. Here a real process dies half-way through a message on its
pipe, beside one that writes a whole message and the pool's own recognition worker: the others'
messages arrive, and close() ends.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import struct
from dataclasses import replace
from multiprocessing.connection import Connection

import pytest

from captions.config import CaptionsConfig
from captions.worker_protocol import WorkerOutput, WorkerReady
from captions.workers import WorkerPool
from tests.support.waiting import until

pytestmark = pytest.mark.long


def _half_a_message_then_die(writer: Connection) -> None:
    # the pipe's framing: a 4-byte length, then that many bytes; only 4 of 1,000 are written
    os.write(writer.fileno(), struct.pack("!i", 1000) + b"half")
    os._exit(9)


def _one_whole_message(writer: Connection) -> None:
    writer.send(WorkerReady("whole", ()))
    writer.close()


async def test_a_worker_dead_mid_message_stops_no_other_output_nor_close(captions_config: CaptionsConfig) -> None:
    arrived: list[WorkerOutput] = []
    pool = WorkerPool(replace(captions_config, translation_workers=0), arrived.append)
    pool.start()
    try:
        context = multiprocessing.get_context("spawn")
        for target in (_half_a_message_then_die, _one_whole_message):
            output, writer = context.Pipe(duplex=False)
            # the pool's own way to start a worker on its pipe, with these processes as workers
            pool._start(context.Process(target=target, args=(writer,), daemon=True), output, writer)
        await until(
            lambda: {m.worker for m in arrived if isinstance(m, WorkerReady)} == {"whole", "recognition-0"},
            timeout=60,
            what="the whole message and the recognition worker's, beside the dead writer's half",
        )
    finally:
        async with asyncio.timeout(30):
            await pool.close()
