"""Directory cases: upload_dir of 10,000 files of 1 KiB (a catalog row per file).

Plugin for ``peers.py`` (workload ``dir``), measured next to MLflow
``log_artifacts`` (a copytree: no hash, no rows), ``cas_sqlite_1tx`` and ``cp -r``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from peers import Ctx, _tree_bytes, case

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cases_common import open_registry  # noqa: E402


def _upload_dir(ctx: Ctx, durable: bool) -> None:
    reg = open_registry(ctx, durable=durable)
    ctx.warm(ctx.tree_dir)
    with ctx.timed(need_bytes=_tree_bytes(ctx)):
        art = reg.upload_dir(ctx.tree_dir, name="tree")
    n = ctx.params["dir_n"]
    ctx.check(art.file_count == n, f"{art.file_count} files catalogued, expected {n}")
    ctx.check(len(reg.files(art.id)) == n, "file rows missing")


@case("dir", "pa_upload_dir_durable", kind="candidate",
      what="LocalRegistry.upload_dir, default durable=True (one syncfs before the FULL commit)")
def dir_pa_durable(ctx: Ctx) -> None:
    _upload_dir(ctx, durable=True)


@case("dir", "pa_upload_dir", kind="candidate",
      what="LocalRegistry.upload_dir, durable=False (neither MLflow nor cas_sqlite_1tx fsync)")
def dir_pa(ctx: Ctx) -> None:
    _upload_dir(ctx, durable=False)
