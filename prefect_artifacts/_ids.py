"""Row ids and temporary names without a system call per id.

`uuid.uuid4` reads ``os.urandom``, a system call that releases the GIL; inside a
Prefect flow, where the engine's threads hold the GIL much of the time, getting it
back costs a fraction of a millisecond per id. These ids come from a generator seeded
once per process from ``os.urandom`` (and again in every forked child), so they are as
unique as ``uuid4``'s. They are not secrets: keys and credentials use `secrets`.
"""

from __future__ import annotations

import os
import random
import uuid

_rng = random.Random()  # seeded from os.urandom
os.register_at_fork(after_in_child=_rng.seed)  # a child must not repeat its parent's ids


def new_uuid() -> uuid.UUID:
    """A random (version 4) UUID.

    Example:
        ```python
        new_uuid().version  # 4
        ```
    """
    return uuid.UUID(int=_rng.getrandbits(128), version=4)


def new_id() -> str:
    """A random UUID as text: the id of a new catalog row.

    Example:
        ```python
        new_id()  # "3f0c…-…"
        ```
    """
    return str(new_uuid())
