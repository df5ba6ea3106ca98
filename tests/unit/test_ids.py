"""Row ids: random version-4 UUIDs, never repeated by a forked child."""

from __future__ import annotations

import os
import uuid

from prefect_artifacts._ids import new_id, new_uuid


def test_ids_are_distinct_version_4_uuids() -> None:
    ids = [new_id() for _ in range(10_000)]
    assert len(set(ids)) == len(ids)
    parsed = [uuid.UUID(i) for i in ids[:100]]
    assert all(u.version == 4 and u.variant == uuid.RFC_4122 for u in parsed)
    assert new_uuid().hex != new_uuid().hex


def test_a_forked_child_does_not_repeat_its_parents_ids() -> None:
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: report the ids it would make next
        os.close(read)
        os.write(write, " ".join(new_id() for _ in range(5)).encode())
        os._exit(0)
    os.close(write)
    parent = {new_id() for _ in range(5)}
    with os.fdopen(read) as pipe:
        child = set(pipe.read().split())
    os.waitpid(pid, 0)
    assert len(child) == 5 and not child & parent
