"""The cluster: every core and every node serves consultations.

Vocabulary: a *node* is one ``consult-sfu serve`` (normally one machine); a *worker* is one
media process of a node (``--workers N``); the *entrance* is the worker that accepted a
client's connection; the *owner* is the worker a room is placed on.

| module | |
|---|---|
| ``config`` | the ``[cluster]`` settings |
| ``records`` | what the registry stores, and the keys |
| ``placement`` | which worker takes a new room (pure, ``now`` passed in) |
| ``registry`` | leases and placements, written once on the Store's raw records |
| ``worker`` | one worker's lease, owned rooms and drain (asyncio shell) |
| ``routing``, ``entrance`` | where a join goes; forwarding a socket to the owner |
| ``internal`` | the workers' signed internal endpoint |
| ``admin``, ``commands`` | ``consult-sfu nodes`` / ``drain`` and their signed routes |
| ``install`` | wiring into a worker's application |
| ``supervisor``, ``private_redis``, ``serve`` | a node's processes: workers, its own redis-server |

docs/architecture.md ("Cluster") tells the whole story.
"""
