"""Verified random access: 1 MiB ranges of the 1 GiB blob, and upload_file before and after chunk indexes.

Plugin for ``peers.py`` (workload ``large``), driven by ``bench_ranges.py``. Every
range case uploads the 1 GiB input untimed, opens the registry again (nothing verified
in memory: the first read loads the sidecar), warms the blob into the page cache and
times ``READS`` reads of 1 MiB at the same seeded random (unaligned) offsets; after the
timed block it also reads ``READS`` chunk-aligned ranges (metric ``aligned_p50_ms``).

Cases ending in ``_before`` import ``prefect_artifacts`` from ``$PA_BEFORE_SRC`` (a
``git archive`` of the commit before chunk indexes, made by ``bench_ranges.py``), so
"before" and "after" run round-robin in the same harness run.
"""

from __future__ import annotations

import os
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from peers import Ctx, case

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cases_common import open_registry, store_usage  # noqa: E402

MIB = 1024 * 1024
RANGE = MIB
READS = 300
SEED = 20261206


def _use_before(ctx: Ctx) -> None:
    """Import prefect_artifacts from $PA_BEFORE_SRC (must happen before any other import of it)."""
    src = os.environ.get("PA_BEFORE_SRC")
    ctx.check(bool(src) and Path(src or "", "prefect_artifacts").is_dir(), "PA_BEFORE_SRC is not set")
    ctx.check("prefect_artifacts" not in sys.modules, "prefect_artifacts was imported before PA_BEFORE_SRC")
    sys.path.insert(0, str(src))
    import prefect_artifacts

    ctx.check(str(prefect_artifacts.__file__).startswith(str(src)), "not the 'before' source")
    ctx.extra["source"] = str(src)


def _offsets(size: int, aligned: bool) -> list[int]:
    rng = random.Random(SEED + aligned)
    if aligned:
        return [rng.randrange(0, size // MIB - 1) * MIB for _ in range(READS)]
    return [rng.randrange(0, size - RANGE) for _ in range(READS)]


def _uploaded(ctx: Ctx) -> tuple[Any, str, str]:
    """(a freshly opened registry, artifact id, blob digest) with the 1 GiB input stored and cached."""
    reg = open_registry(ctx, durable=False, digest_cache=False)
    art = reg.upload_file(ctx.large_file, name="big")
    reg.close()
    os.sync()
    reg = open_registry(ctx, durable=False, digest_cache=False)  # nothing verified in memory
    digest = art.checksum
    ctx.warm(Path(reg.store.blob_path(digest)))
    return reg, art.id, digest


def _measure(ctx: Ctx, read: Callable[[int, int], bytes]) -> None:
    size = ctx.large_file.stat().st_size
    samples: list[float] = []
    got = 0
    with ctx.timed():
        for offset in _offsets(size, aligned=False):
            t = time.perf_counter()
            got += len(read(offset, offset + RANGE))
            samples.append(time.perf_counter() - t)
    ctx.check(got == READS * RANGE, f"read {got} bytes, not {READS * RANGE}")
    samples.sort()
    ctx.metrics["p50_ms"] = samples[len(samples) // 2] * 1000
    ctx.metrics["p95_ms"] = samples[int(len(samples) * 0.95)] * 1000
    ctx.metrics["mean_ms"] = sum(samples) / len(samples) * 1000
    aligned: list[float] = []
    for offset in _offsets(size, aligned=True):
        t = time.perf_counter()
        read(offset, offset + RANGE)
        aligned.append(time.perf_counter() - t)
    aligned.sort()
    ctx.metrics["aligned_p50_ms"] = aligned[len(aligned) // 2] * 1000
    with open(ctx.large_file, "rb") as f:  # the bytes are right (untimed)
        for offset in _offsets(size, aligned=False)[:5]:
            f.seek(offset)
            ctx.check(read(offset, offset + RANGE) == f.read(RANGE), f"wrong bytes at {offset}")
    ctx.extra["reads"] = READS
    ctx.extra["range_bytes"] = RANGE


@case("large", "pa_range_registry", kind="candidate",
      what=f"{READS} x Registry.read(ref, start, end) of 1 MiB at random offsets, every chunk touched verified")
def range_registry(ctx: Ctx) -> None:
    reg, art_id, _digest = _uploaded(ctx)
    _measure(ctx, lambda a, b: b"".join(reg.read(art_id, start=a, end=b)))
    ctx.extra["index_chunk_size"] = reg.store.chunk_index(_digest).chunk_size


@case("large", "pa_range_registry_unverified",
      what="the same reads, unverified: the catalog lookup Registry.read does, then store.read_range(verify=False)")
def range_registry_unverified(ctx: Ctx) -> None:
    reg, art_id, _digest = _uploaded(ctx)

    def read(a: int, b: int) -> bytes:
        _art, meta, digest = reg.locate_file(art_id)
        return b"".join(reg.store.read_range(digest, a, b, verify=False))

    _measure(ctx, read)


@case("large", "pa_range_registry_before",
      what="the same reads with Registry.read of the commit before chunk indexes (ranges unverified)")
def range_registry_before(ctx: Ctx) -> None:
    _use_before(ctx)
    reg, art_id, _digest = _uploaded(ctx)
    _measure(ctx, lambda a, b: b"".join(reg.read(art_id, start=a, end=b)))


@case("large", "pa_range_store", kind="candidate",
      what="the same reads straight from ContentStore.read_range (verified): no catalog lookup")
def range_store(ctx: Ctx) -> None:
    reg, _art_id, digest = _uploaded(ctx)
    _measure(ctx, lambda a, b: b"".join(reg.store.read_range(digest, a, b)))


@case("large", "pa_range_store_unverified",
      what="the same reads from ContentStore.read_range(verify=False): open, seek, read")
def range_store_unverified(ctx: Ctx) -> None:
    reg, _art_id, digest = _uploaded(ctx)
    _measure(ctx, lambda a, b: b"".join(reg.store.read_range(digest, a, b, verify=False)))


@case("large", "pa_upload_file_before",
      what="LocalRegistry.upload_file, durable=False, with the commit before chunk indexes (same as pa_upload_file)")
def upload_before(ctx: Ctx) -> None:
    _use_before(ctx)
    reg = open_registry(ctx, durable=False)
    ctx.warm(ctx.large_file)
    with ctx.timed(need_bytes=ctx.large_file.stat().st_size):
        art = reg.upload_file(ctx.large_file, name="big")
    ctx.check(art.checksum == ctx.manifest["large_sha256"], f"wrong checksum {art.checksum}")
    n, stored = store_usage(reg)
    ctx.check(n == 1 and stored == ctx.large_file.stat().st_size, f"store holds {n} blobs / {stored} bytes")
