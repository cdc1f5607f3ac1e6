"""Sans-I/O rules of the control plane: rooms, access windows, waiting queue, admission.

Everything here is pure: functions take the current time ``now`` (unix seconds) and
mutate/return plain dataclasses. The stores persist these objects; the REST API and the
live lobby drive them. No asyncio, no aiohttp, no Redis in this package.
"""
