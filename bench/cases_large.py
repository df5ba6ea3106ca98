"""Large-file cases: upload_file, as_local_file, re-registration (digest cache on/off).

Plugin for ``peers.py`` (workload ``large``): every case is measured in the same
run, round-robin, next to the floors ``cp``, ``hashlib_sha256``,
``copy_sha256_1pass`` and ``fsspec_put_file``, plus ``copy_sha256_1pass_fsync``
defined here (the floor for the library's durable default).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from peers import CHUNK, Ctx, _copy_and_sha256, case

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cases_common import open_registry, sha256_file, store_usage  # noqa: E402


def _size(ctx: Ctx) -> int:
    return ctx.large_file.stat().st_size


def _check_art(ctx: Ctx, art) -> None:  # noqa: ANN001
    ctx.check(art.checksum == ctx.manifest["large_sha256"], f"wrong checksum {art.checksum}")
    ctx.check(art.size == _size(ctx), "wrong size")


@case("large", "copy_sha256_1pass_fsync",
      what="floor for durable puts: copy_sha256_1pass + fsync of the file and its folder")
def large_copy_hash_fsync(ctx: Ctx) -> None:
    dst = ctx.work / "copyhash.bin"
    ctx.warm(ctx.large_file)
    with ctx.timed(need_bytes=_size(ctx)):
        digest = _copy_and_sha256(ctx.large_file, dst, CHUNK)
        fd = os.open(dst, os.O_RDONLY)
        os.fsync(fd)
        os.close(fd)
        dfd = os.open(ctx.work, os.O_RDONLY)
        os.fsync(dfd)
        os.close(dfd)
    ctx.check(digest == ctx.manifest["large_sha256"], "sha256 mismatch")


@case("large", "pa_upload_file", kind="candidate",
      what="LocalRegistry.upload_file, durable=False (no fsync, like the floors); digest cache on but cold")
def large_pa_upload(ctx: Ctx) -> None:
    reg = open_registry(ctx, durable=False)
    ctx.warm(ctx.large_file)
    with ctx.timed(need_bytes=_size(ctx)):
        art = reg.upload_file(ctx.large_file, name="big")
    _check_art(ctx, art)
    n, stored = store_usage(reg)
    ctx.check(n == 1 and stored == _size(ctx), f"store holds {n} files / {stored} bytes")


@case("large", "pa_upload_file_durable", kind="candidate",
      what="LocalRegistry.upload_file with the default durable=True (blob + folder fsynced, catalog FULL)")
def large_pa_upload_durable(ctx: Ctx) -> None:
    reg = open_registry(ctx, durable=True)
    ctx.warm(ctx.large_file)
    with ctx.timed(need_bytes=_size(ctx)):
        art = reg.upload_file(ctx.large_file, name="big")
    _check_art(ctx, art)


@case("large", "pa_as_local_file", kind="candidate",
      what="art.as_local_file(path): verified download of the stored 1 GiB blob (upload untimed)")
def large_pa_download(ctx: Ctx) -> None:
    reg = open_registry(ctx, durable=False)
    art = reg.upload_file(ctx.large_file, name="big")
    os.sync()
    blob = Path(reg.store.blob_path(art.checksum))
    ctx.warm(blob)
    out = ctx.work / "out.bin"
    with ctx.timed(need_bytes=_size(ctx)):
        got = art.as_local_file(out)
    ctx.check(Path(got) == out and out.stat().st_size == _size(ctx), "download: wrong size")
    ctx.check(sha256_file(out) == ctx.manifest["large_sha256"], "download: wrong bytes")


@case("large", "pa_reupload_cached", kind="candidate",
      what="upload_file of the same unchanged file again (version 2): digest cache hit; first upload untimed")
def large_pa_reupload_cached(ctx: Ctx) -> None:
    import time

    reg = open_registry(ctx, durable=False, digest_cache=True)
    ctx.warm(ctx.large_file)
    t = time.perf_counter()
    first = reg.upload_file(ctx.large_file, name="big")
    ctx.metrics["first_upload_s"] = time.perf_counter() - t
    os.sync()
    before = store_usage(reg)
    ctx.warm(ctx.large_file)
    with ctx.timed():
        art = reg.upload_file(ctx.large_file, name="big")
    _check_art(ctx, art)
    after = store_usage(reg)
    ctx.check(art.version == first.version + 1, "not a new version")
    ctx.metrics["new_bytes_stored"] = after[1] - before[1]
    ctx.check(after == before, f"new bytes stored: {before} -> {after}")


@case("large", "pa_reupload_nocache", kind="candidate",
      what="upload_file of the same unchanged file again with use_digest_cache=False (content already stored)")
def large_pa_reupload_nocache(ctx: Ctx) -> None:
    reg = open_registry(ctx, durable=False, digest_cache=False)
    first = reg.upload_file(ctx.large_file, name="big")
    os.sync()
    before = store_usage(reg)
    ctx.warm(ctx.large_file)
    with ctx.timed(need_bytes=_size(ctx)):
        art = reg.upload_file(ctx.large_file, name="big")
    _check_art(ctx, art)
    after = store_usage(reg)
    ctx.check(art.version == first.version + 1, "not a new version")
    ctx.metrics["new_bytes_stored"] = after[1] - before[1]
    ctx.check(after == before, f"new bytes stored: {before} -> {after}")
