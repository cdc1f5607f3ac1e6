"""Fixtures of the chat and files tests: the control tests' stores (memory and a real
redis-server) and API, reused as they are."""

from tests.control.conftest import api, make_store, redis_url, store_kind  # noqa: F401
