"""Small-artifact cases: 1,000 upload_file calls of 4 KiB, one artifact each.

Plugin for ``peers.py`` (workload ``small``), measured next to ``cas_sqlite_durable``
(the naive durable floor: fsync of file and folder per artifact, SQLite
``synchronous=FULL``), ``cas_sqlite``, MLflow ``log_artifact`` and Prefect
``create_link_artifact``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from peers import Ctx, _small_bytes, case

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cases_common import open_registry  # noqa: E402


def _upload_all(ctx: Ctx, durable: bool) -> None:
    reg = open_registry(ctx, durable=durable)
    files = ctx.small_files()
    reg.upload_file(files[0], name="warm-up", folder="/warm")  # first-call costs (folder, imports) untimed
    ctx.warm(ctx.small_dir)
    with ctx.timed(need_bytes=_small_bytes(ctx)):
        for i, f in enumerate(files):
            reg.upload_file(f, name=f"small-{i:06d}", folder="/bench")
    ctx.check(reg.count(folder="/bench") == len(files), "artifacts missing")
    art = reg.get(f"/bench/small-{len(files) - 1:06d}")
    ctx.check(art.size == files[-1].stat().st_size, "wrong size")


@case("small", "pa_upload_file_durable", kind="candidate",
      what="LocalRegistry.upload_file per file, default durable=True (blob+folder fsync, then FULL commit)")
def small_pa_durable(ctx: Ctx) -> None:
    _upload_all(ctx, durable=True)


@case("small", "pa_upload_file", kind="candidate",
      what="LocalRegistry.upload_file per file, durable=False (compare with cas_sqlite)")
def small_pa(ctx: Ctx) -> None:
    _upload_all(ctx, durable=False)
