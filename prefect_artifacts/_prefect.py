"""Prefect glue for the tasks: run context, the per-run table artifact and events.

Everything here is best-effort visibility: a failure to publish a table or an event
is logged, never raised, so it can not fail (or half-fail) a write that succeeded.
"""

from __future__ import annotations

import atexit
import contextvars
import inspect
import logging
import re
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, cast

from prefect import task
from prefect.tasks import Task
from prefect.utilities.annotations import BaseAnnotation

from prefect_artifacts._aspects import PRODUCER_ASPECT
from prefect_artifacts._code_links import get_snapshot, holds_snapshot
from prefect_artifacts._sizes import human_size
from prefect_artifacts.models import Artifact, RunCategory
from prefect_artifacts.registry.base import Registry

logger = logging.getLogger("prefect_artifacts.prefect")

EVENT_CREATED = "prefect-artifacts.artifact.created"
RESOURCE_PREFIX = "prefect-artifacts.artifact."
_KEY_BAD = re.compile(r"[^a-z0-9-]+")


@dataclass(frozen=True)
class RunInfo:
    """The Prefect run a task call belongs to (all None outside a run)."""

    flow_run_id: str | None = None
    task_run_id: str | None = None
    flow_name: str | None = None
    flow_fn: Any = None
    task_run_name: str | None = None
    deployment_id: str | None = None


def current_run() -> RunInfo:
    """The current flow run (and task run), read from Prefect's run context.

    Example:
        ```python
        current_run().flow_run_id  # None outside a flow run
        ```
    """
    from prefect.context import FlowRunContext, TaskRunContext

    task_ctx = TaskRunContext.get()
    flow_ctx = FlowRunContext.get()
    task_run_id = str(task_ctx.task_run.id) if task_ctx is not None else None
    task_run_name = task_ctx.task_run.name if task_ctx is not None else None
    flow_run_id: str | None = None
    flow_name = flow_fn = deployment_id = None
    if flow_ctx is not None and flow_ctx.flow_run is not None:
        flow_run_id = str(flow_ctx.flow_run.id)
        flow_name = flow_ctx.flow.name if flow_ctx.flow is not None else None
        flow_fn = getattr(flow_ctx.flow, "fn", None)
        deployment = flow_ctx.flow_run.deployment_id
        deployment_id = str(deployment) if deployment is not None else None
    elif task_ctx is not None and task_ctx.task_run.flow_run_id is not None:
        flow_run_id = str(task_ctx.task_run.flow_run_id)
    if flow_run_id is None:
        from prefect.runtime import flow_run as runtime_flow_run

        env_id = runtime_flow_run.id  # honours PREFECT__RUNTIME__FLOW_RUN__ID
        flow_run_id = str(env_id) if env_id else None
    return RunInfo(flow_run_id, task_run_id, flow_name, flow_fn, task_run_name, deployment_id)


def producer_aspect(run: RunInfo) -> list[dict[str, Any]]:
    """The aspect recording which flow run, task run and deployment create an artifact (none outside a run).

    Written with the artifact (in its create), so it is there exactly when the artifact
    is; `prefect_artifacts.provenance` reads it for the record's ``producedBy``.

    Example:
        ```python
        reg.upload_file("a.csv", runs=links, extra_aspects=producer_aspect(current_run()))
        ```
    """
    if not run.flow_run_id:
        return []
    return [{"$schema": PRODUCER_ASPECT, "flow_run_id": run.flow_run_id, "flow_name": run.flow_name,
             "task_run_id": run.task_run_id, "task_run_name": run.task_run_name,
             "deployment_id": run.deployment_id}]


def flow_source_files(run: RunInfo) -> list[Path]:
    """Source file of the running flow's function (empty when unknown).

    Example:
        ```python
        flow_source_files(current_run())  # [PosixPath('/repo/flows/etl.py')]
        ```
    """
    fn = inspect.unwrap(run.flow_fn) if run.flow_fn is not None else None
    if fn is None:
        return []
    try:
        source = inspect.getsourcefile(fn)
    except TypeError:
        return []
    return [Path(source).resolve()] if source and Path(source).is_file() else []


def table_key(flow_name: str | None, prefix: str = "artifacts") -> str:
    """Prefect artifact key of a flow's table (valid under ``^[a-z0-9-]*$``).

    Example:
        ```python
        table_key("My ETL_flow")  # "artifacts-my-etl-flow"
        ```
    """
    slug = _KEY_BAD.sub("-", (flow_name or "flow").lower()).strip("-") or "flow"
    return f"{prefix}-{slug}"[:100].rstrip("-")


def lineage_key(flow_name: str | None) -> str:
    """Prefect artifact key of a flow's lineage graph, made like its `table_key`.

    Example:
        ```python
        lineage_key("My ETL_flow")  # "lineage-my-etl-flow"
        ```
    """
    return table_key(flow_name, "lineage")


def _lineage_key_of(key: str) -> str:
    """The lineage key of the flow whose table key is ``key``."""
    return "lineage-" + key.removeprefix("artifacts-") if key.startswith("artifacts-") else lineage_key(key)


def location(registry: Registry, art: Artifact) -> str:
    """Where an artifact's content lives: a blob URI, a referenced URI, or its URN.

    Example:
        ```python
        location(reg, art)  # "file:///home/me/.prefect-artifacts/blobs/sha256/ab/ab…"
        ```
    """
    from prefect_artifacts.models import ArtifactKind

    if art.kind is ArtifactKind.REFERENCE and art.original_path:
        return art.original_path
    store = getattr(registry, "store", None)
    if store is not None and not art.is_dir and art.checksum:
        try:
            return str(store.blob_uri(art.checksum))
        except Exception:  # noqa: BLE001 - a display value only
            return art.urn
    return art.urn


def serializer_cell(registry: Registry, art: Artifact, code: list[Artifact]) -> str | None:
    """How an object artifact was serialized, and the run's code artifact holding that serializer.

    ``json, snapshot 1a2b3c4d5e6f, code /etl/serializer-my_plugin:2`` (None for other kinds);
    ``code`` is the run's ``code`` artifacts, searched for the snapshot's files.

    Example:
        ```python
        serializer_cell(reg, obj, reg.run_artifacts(flow_run_id, "code"))
        ```
    """
    if art.serializer is None:
        return None
    text = f"{art.serializer.task_name}, snapshot {art.serializer.snapshot_id[:12]}"
    try:
        snapshot = get_snapshot(registry, art.serializer.snapshot_id)
        held = [c.ref for c in sorted(code, key=lambda c: c.folder == art.folder) if holds_snapshot(c, snapshot)]
    except Exception as exc:  # noqa: BLE001 - a display value only
        logger.debug("could not find the serializer code of %s: %s", art.ref, exc)
        held = []
    return f"{text}, code {held[-1]}" if held else text


def table_rows(registry: Registry, run_id: str) -> list[dict[str, Any]]:
    """One row per (artifact, category) associated with a flow run.

    An object's row names its serializer, its plugin snapshot and the run's ``code``
    artifact holding that snapshot (see `serializer_cell`).

    Example:
        ```python
        table_rows(reg, flow_run_id)[0]["category"]  # "output"
        ```
    """
    rows = []
    arts = registry.run_artifacts(run_id)
    code = [a for a in arts if any(link.run_id == run_id and link.category is RunCategory.CODE for link in a.runs)]
    for art in arts:
        cats = sorted({link.category.value for link in art.runs if link.run_id == run_id}) or ["?"]
        serializer = serializer_cell(registry, art, code)
        for cat in cats:
            rows.append({
                "name": f"{art.folder.rstrip('/')}/{art.name}", "version": art.version, "category": cat,
                "kind": art.kind.value, "size": art.size, "checksum": art.checksum,
                "location": location(registry, art), "serializer": serializer, "id": art.id,
            })
    return rows


class TablePublisher:
    """Publishes each flow run's table artifact from one background thread.

    Creating a Prefect artifact costs a server round trip (≈10 ms, far more on a busy
    server) and re-reads the run's artifacts; doing it after every task call would
    dominate small writes. So requests are debounced per run: the first table goes out
    `min_interval` seconds after the first request, later ones at most every
    `min_interval` seconds, and the last state is always published (trailing edge, by the
    run's end hook) — a table lags the run by at most `min_interval`, and a run shorter
    than that publishes its table once.
    `flush` publishes everything pending now and waits (called at exit and by tests).

    When the run ends (`publish_now`, from the flow-run end hook), its lineage graph
    (`publish_lineage`: a Mermaid graph of what it read and wrote, back to the raw
    inputs) is published once too, in the same thread, after the final table.

    Only the flow run's own process publishes. A task running in a task runner's worker
    process (`ProcessPoolTaskRunner`, a Dask worker: see `in_flow_process`) requests
    nothing there, so no thread and no exit handler start in workers; when such tasks are
    submitted, the flow's process `expect`s the run's table and publishes it, complete,
    when the run ends (`publish_now`, from the flow-run end hook).

    Example:
        ```python
        PUBLISHER.request(reg, current_run())
        PUBLISHER.flush()
        ```
    """

    min_interval = 5.0

    def __init__(self) -> None:
        self._cond = threading.Condition()
        # run id -> (registry, key, due, the requester's context: its Prefect settings, e.g. the API URL)
        self._pending: dict[str, tuple[Registry, str, float, contextvars.Context]] = {}
        self._last: dict[str, float] = {}  # run id -> monotonic time of its last publish
        # run id -> (registry argument, key) of tasks submitted to other processes
        self._expected: dict[str, tuple[Any, str]] = {}
        # run id -> (registry, or None to resolve the expected one; lineage key): graphs due at the run's end
        self._graphs: dict[str, tuple[Registry | None, str]] = {}
        self._busy = False
        self._busy_run: str | None = None
        self._urgent = 0
        self._thread: threading.Thread | None = None
        self._atexit = False

    def request(self, registry: Registry, run: RunInfo) -> None:
        """Ask for the run's table to be (re)published.

        Example:
            ```python
            PUBLISHER.request(reg, current_run())
            ```
        """
        if run.flow_run_id is None:
            return
        if not in_flow_process():  # the flow's own process publishes the final table
            _deliver_events()
            return
        with self._cond:
            self._graphs[run.flow_run_id] = (registry, lineage_key(run.flow_name))
            while len(self._graphs) > 1000:  # runs whose end this process never saw
                del self._graphs[next(iter(self._graphs))]
            if run.flow_run_id in self._pending:
                return  # already due at its time: waking the thread again would only cost a GIL hand-off
            # A run's first table waits min_interval too (it used to go out at the first
            # registration): a run shorter than that publishes one table, from its end hook.
            now_ = time.monotonic()
            last = self._last.get(run.flow_run_id)
            due = now_ + self.min_interval if last is None else max(now_, last + self.min_interval)
            self._pending[run.flow_run_id] = (registry, table_key(run.flow_name), due, contextvars.copy_context())
            if not self._atexit:
                # Registered on first use, after an ephemeral Prefect server started, so
                # it runs before that server's own exit handler stops it.
                atexit.register(self.flush, 10.0)
                self._atexit = True
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="prefect-artifacts-tables", daemon=True)
                self._thread.start()
            self._cond.notify_all()

    def expect(self, run_id: str, key: str, registry: Any) -> None:
        """Note that tasks of the run may write elsewhere: publish its table when the run ends.

        ``registry`` is the tasks' ``registry`` argument (a block, a name, a `Registry`
        or None), resolved with `resolve_registry` only when the table is published.

        Example:
            ```python
            PUBLISHER.expect(flow_run_id, table_key("etl"), None)
            ```
        """
        with self._cond:
            self._expected[run_id] = (registry, key)
            self._graphs.setdefault(run_id, (None, _lineage_key_of(key)))

    def flush(self, timeout: float = 30.0) -> bool:
        """Publish every pending table now and wait; False on timeout.

        Example:
            ```python
            PUBLISHER.flush()
            ```
        """
        with self._cond:
            self._urgent += 1
            self._cond.notify_all()
            try:
                return self._cond.wait_for(lambda: not self._pending and not self._busy, timeout)
            finally:
                self._urgent -= 1

    def publish_now(self, run_id: str) -> bool:
        """Publish a run's pending or expected table, then its lineage graph, in this thread.

        Called by the flow-run end hook. Returns False when there was nothing to
        publish: no request since the last publish, no task submitted to another
        process, and no lineage graph due (one per run that used artifacts).

        Example:
            ```python
            PUBLISHER.publish_now(flow_run_id)
            ```
        """
        with self._cond:
            # An older snapshot of this run in flight must not land after the final one.
            self._cond.wait_for(lambda: self._busy_run != run_id, timeout=30)
            item = self._pending.pop(run_id, None)
            expected = self._expected.pop(run_id, None)
            graph = self._graphs.pop(run_id, None)
        if item is None and expected is None and graph is None:
            return False
        registry: Registry | None = None
        try:
            if item is not None:
                registry, key, _due, _context = item  # this thread has the run's own context
                publish_table(registry, run_id, key)
            elif expected is not None:
                from prefect_artifacts.tasks import resolve_registry

                registry, key = resolve_registry(expected[0]), expected[1]
                publish_table(registry, run_id, key)
        except Exception as exc:  # noqa: BLE001 - visibility is best-effort
            logger.warning("could not publish the artifact table of flow run %s: %s", run_id, exc)
        if graph is not None and (registry is not None or graph[0] is not None):
            try:
                publish_lineage(registry or cast(Registry, graph[0]), run_id, graph[1])
            except Exception as exc:  # noqa: BLE001 - visibility is best-effort
                logger.warning("could not publish the lineage graph of flow run %s: %s", run_id, exc)
        with self._cond:
            self._last[run_id] = time.monotonic()
            self._cond.notify_all()
        return True

    def _next(self) -> tuple[str, Registry, str, contextvars.Context] | None:
        """Under the lock: wait for a due request and take it (None after 60 s idle)."""
        idle_until = time.monotonic() + 60
        while True:
            now_ = time.monotonic()
            if self._pending:
                run_id, (registry, key, due, context) = min(self._pending.items(), key=lambda item: item[1][2])
                if due <= now_ or self._urgent:
                    del self._pending[run_id]
                    return run_id, registry, key, context
                self._cond.wait(due - now_)
                continue
            if now_ >= idle_until:
                return None
            self._cond.wait(idle_until - now_)

    def _loop(self) -> None:
        while True:
            with self._cond:
                taken = self._next()
                if taken is None:
                    self._thread = None
                    return
                run_id, registry, key, context = taken
                self._busy = True
                self._busy_run = run_id
            try:
                # In the requester's context: a thread starts with none, so it would miss
                # temporary_settings (the API URL) and start a Prefect server of its own.
                context.run(publish_table, registry, run_id, key)
            except Exception as exc:  # noqa: BLE001 - visibility is best-effort
                logger.warning("could not publish the artifact table of flow run %s: %s", run_id, exc)
            finally:
                with self._cond:
                    self._busy = False
                    self._busy_run = None
                    now_ = time.monotonic()
                    self._last[run_id] = now_
                    for old in [r for r, t in self._last.items() if now_ - t > 3600]:
                        del self._last[old]
                    self._cond.notify_all()


def _deliver_events() -> None:
    """In a task runner's worker process: wait until the events emitted here are sent.

    A worker process may be stopped without draining its queues, and the flow run's
    events must all be out when its tasks are done (Prefect's process pool flushes
    after each task itself; a Dask worker does not).
    """
    from prefect.events.worker import EventsWorker

    try:
        with EventsWorker._instance_lock:
            # Prefect declares this class-level registry `dict[int, Self]` without ClassVar.
            emitted = bool(EventsWorker._instances)  # type: ignore[misc]
        if emitted:
            EventsWorker.instance().wait_until_empty()
    except Exception as exc:  # noqa: BLE001 - visibility is best-effort
        logger.debug("could not flush this worker's events: %s", exc)


def publish_table(registry: Registry, run_id: str, key: str) -> None:
    """Create a new version of the run's table artifact (key ``key``) now.

    Example:
        ```python
        publish_table(reg, flow_run_id, "artifacts-etl")
        ```
    """
    import json
    from uuid import UUID

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import ArtifactCreate

    rows = table_rows(registry, run_id)
    total = sum(r["size"] or 0 for r in rows)
    table = ArtifactCreate(key=key, type="table", data=json.dumps(rows), flow_run_id=UUID(run_id),
                           description=f"prefect-artifacts used by this flow run: {len(rows)} rows, {total} bytes.")
    with get_client(sync_client=True) as client:
        # The plain POST, not client.create_artifact: that also emits a client-side
        # prefect.artifact.created event, which from this thread (and at interpreter exit,
        # after Prefect's events worker stopped) gave "can't register atexit after
        # shutdown" errors and "Still processing items" noise, for a table refreshed often.
        client.request("POST", "/artifacts/", json=table.model_dump(mode="json", exclude_unset=True))


def run_labels(run_ids: list[str], limit: int = 200) -> dict[str, str]:
    """Display names of flow runs: ``<flow name> / <flow run name>`` (two Prefect API reads).

    Ids that are not Prefect flow runs (any run id can be attached) are left out, and
    so is everything when the API does not answer: the graph then shows short ids.

    Example:
        ```python
        run_labels([flow_run_id])  # {"0b7c…": "etl / crimson-otter"}
        ```
    """
    from uuid import UUID

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowFilter, FlowFilterId, FlowRunFilter, FlowRunFilterId

    ids = []
    for run_id in sorted(set(run_ids))[:limit]:
        try:
            ids.append(UUID(run_id))
        except ValueError:
            continue
    if not ids:
        return {}
    try:
        with get_client(sync_client=True) as client:
            runs = client.read_flow_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=ids)), limit=limit)
            flow_ids = sorted({r.flow_id for r in runs}, key=str)
            flows = {f.id: f.name for f in client.read_flows(flow_filter=FlowFilter(id=FlowFilterId(any_=flow_ids)),
                                                             limit=limit)} if flow_ids else {}
    except Exception as exc:  # noqa: BLE001 - labels are a nicety: short ids instead
        logger.debug("could not read the names of flow runs: %s", exc)
        return {}
    return {str(r.id): f"{flows[r.flow_id]} / {r.name}" if r.flow_id in flows else r.name for r in runs}


def publish_lineage(registry: Registry, run_id: str, key: str) -> bool:
    """Create a new version of the run's lineage graph, a Prefect markdown artifact (key ``key``).

    The graph (`lineage_mermaid`) shows what the run read and wrote, back to the raw
    inputs, bounded in size. False when the run has no artifacts (nothing is published).

    Example:
        ```python
        publish_lineage(reg, flow_run_id, lineage_key("etl"))
        ```
    """
    from uuid import UUID

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import ArtifactCreate

    from prefect_artifacts._lineage_view import lineage_markdown, walked_runs

    arts = registry.run_artifacts(run_id)
    if not arts:
        return False
    anchor = min(arts, key=lambda a: (a.created, a.id))  # every artifact of the run is one step away
    graph = registry.lineage(anchor.id)
    markdown = lineage_markdown(graph, run_id, run_labels(walked_runs(graph, run_id)))
    document = ArtifactCreate(key=key, type="markdown", data=markdown, flow_run_id=UUID(run_id),
                              description="Lineage of this flow run: what it read, ran and wrote.")
    with get_client(sync_client=True) as client:  # the plain POST, as for the table (no client-side event)
        client.request("POST", "/artifacts/", json=document.model_dump(mode="json", exclude_unset=True))
    return True


PUBLISHER = TablePublisher()


def announce(registry: Registry, art: Artifact, category: RunCategory | str | None, run: RunInfo,
             new: bool, action: str | None = None, note: str | None = None) -> None:
    """Make a task call visible: a log line, ``artifact.created`` if it made ``art``, the table.

    Args:
        registry: the registry the call used.
        art: the artifact it registered, read or attached.
        category: its run category (``output``, ``input``, ``code``).
        run: the run the call belongs to.
        new: the call produced ``art``: a new version, or the version its own idempotency
            key recorded (an earlier attempt that committed, then failed). The event's id
            is derived from the artifact id (`created_event_id`), so emitting again for
            the same artifact is dropped by Prefect's server: one event per artifact.
        action: the verb of the INFO line logged to the run logger (``Registered``,
            ``Loaded``…); None logs nothing.
        note: appended to that line (after a space).

    Example:
        ```python
        announce(reg, art, "output", current_run(), new=True, action="Registered")
        ```
    """
    if action:
        try:
            log_artifact(action, art, note)
        except Exception as exc:  # noqa: BLE001 - visibility is best-effort
            logger.debug("could not log %s %s: %s", action, art.ref, exc)
    if new:
        try:
            emit_created(art, category, run)
        except Exception as exc:  # noqa: BLE001 - visibility is best-effort
            logger.warning("could not emit %s for %s: %s", EVENT_CREATED, art.ref, exc)
    PUBLISHER.request(registry, run)
    _hook_flow_end()


def short_digest(checksum: str | None) -> str:
    """A checksum shortened for a log line: ``sha256:1a2b3c4d``, ``etag:9f8e7d6c``.

    Example:
        ```python
        short_digest("1a2b3c4d" + "0" * 56)  # "sha256:1a2b3c4d"
        ```
    """
    if not checksum:
        return "no checksum"
    kind, sep, value = checksum.partition(":")
    if sep:
        return f"{kind}:{value.strip(chr(34))[:8]}"
    return f"sha256:{checksum[:8]}" if len(checksum) == 64 else checksum[:8]


def describe(art: Artifact) -> str:
    """An artifact as a log line shows it: ``/team/data:3 (1.2 MiB, sha256:1a2b3c4d)``.

    Example:
        ```python
        describe(art)
        ```
    """
    size = human_size(art.size, "size unknown")
    return f"{art.ref} ({size}, {short_digest(art.checksum)})"


def run_logger() -> Any:
    """Prefect's run logger inside a flow run (its lines go to the run's logs), else ours.

    A task called outside any flow run logs to ``prefect_artifacts.prefect`` instead:
    Prefect's API logger would warn that there is no flow run to attach the line to.

    Example:
        ```python
        run_logger().info("Registered %s", describe(art))
        ```
    """
    from prefect.context import FlowRunContext, TaskRunContext

    task_ctx = TaskRunContext.get()
    if FlowRunContext.get() is not None or (task_ctx is not None and task_ctx.task_run.flow_run_id):
        from prefect.logging import get_run_logger

        try:
            return get_run_logger()
        except Exception:  # noqa: BLE001 - no usable run context: fall back to ours
            return logger
    return logger


def log_artifact(action: str, art: Artifact, note: str | None = None) -> None:
    """One INFO line for a task call's artifact: ``Registered /team/data:3 (1.2 MiB, sha256:1a2b3c4d)``.

    Example:
        ```python
        log_artifact("Loaded", art)
        ```
    """
    line = f"{action} {describe(art)}"
    run_logger().info(f"{line} {note}" if note else line)


def created_event_id(artifact_id: str) -> Any:
    """The id of an artifact's ``artifact.created`` event: the same for every emission.

    A UUID5 of the artifact id, so a call that emits it again (a retry whose first
    attempt committed the write, and maybe its event, before failing) sends an event
    Prefect's server already stored, and drops (events are unique by id).

    Example:
        ```python
        created_event_id(art.id)  # UUID('…'), always the same for this artifact
        ```
    """
    import uuid

    return uuid.uuid5(uuid.UUID(_EVENT_NAMESPACE), f"{EVENT_CREATED}:{artifact_id}")


_EVENT_NAMESPACE = "6f1c63e2-8b8a-5d0e-9a57-0c2b8d1f4a11"  # fixed forever: event ids must not change


_HOOKED = "_prefect_artifacts_table_hook"


def publish_artifact_table(flow: Any, flow_run: Any, state: Any) -> None:
    """Flow-run end hook: publish the run's final table artifact.

    Example:
        ```python
        @flow(on_completion=[publish_artifact_table])
        def etl(): ...
        ```
    """
    PUBLISHER.publish_now(str(flow_run.id))


def _hook_flow_end() -> None:
    """Make the running flow publish its final table when the run ends (once per Flow object).

    The hooks are read from the flow object when the run finishes, so adding ours
    during the run works; the table is then complete before the flow run returns. In a
    task runner's worker process the flow object is a copy that never ends: nothing to do.
    """
    from prefect.context import FlowRunContext

    ctx = FlowRunContext.get()
    flow = getattr(ctx, "flow", None) if ctx is not None else None
    if flow is None or ctx.detached or getattr(flow, _HOOKED, False):  # type: ignore[union-attr]
        return
    for attr in ("on_completion_hooks", "on_failure_hooks", "on_cancellation_hooks", "on_crashed_hooks"):
        hooks = getattr(flow, attr, None)
        if isinstance(hooks, list):
            hooks.append(publish_artifact_table)
    try:
        setattr(flow, _HOOKED, True)
    except Exception:  # noqa: BLE001 - a frozen flow object: the debounced publisher still runs
        logger.debug("could not mark flow %r as hooked", flow)


def in_flow_process() -> bool:
    """Whether this process runs the current flow run itself (or no run at all).

    False inside a task that a task runner sent to another process: `ProcessPoolTaskRunner`
    and prefect-dask's `DaskTaskRunner` (like any runner shipping Prefect's serialized
    context) run it under a *detached* copy of the flow run context, and a task run
    context without any flow run context is a task away from its flow too.

    Example:
        ```python
        in_flow_process()  # True in the flow's process and its threads, False in a Dask worker
        ```
    """
    from prefect.context import FlowRunContext, TaskRunContext

    flow_ctx = FlowRunContext.get()
    if flow_ctx is not None:
        return not flow_ctx.detached
    return TaskRunContext.get() is None


_FROM_CALL: Any = object()  # RegistryTask.table_registry: the call's own ``registry`` argument


class RegistryTask(Task):
    """A Prefect task of this package: submitted or mapped, it gets its flow run's table published.

    A submitted task may run in another process (a process pool, a Dask worker) that
    publishes nothing itself, and the flow's process then never sees its write. So
    `submit` and `map`, which run in the flow's process, note the run and the task's
    registry (`TablePublisher.expect`) and hook the flow-run end, where the complete
    table is published once. Tasks run in this process's threads need nothing more.

    Example:
        ```python
        @flow(task_runner=ProcessPoolTaskRunner())
        def many():
            save_object.map(list(range(200)), name="n")   # one complete table when the run ends
        ```
    """

    #: The registry its artifacts go to (the ``registry`` of `artifact_task`), or ``_FROM_CALL``.
    table_registry: Any = _FROM_CALL

    def submit(self, *args: Any, **kwargs: Any) -> Any:
        """`Task.submit`, noting the run's table first.

        Example:
            ```python
            future = save_object.submit({"a": 1}, name="a")
            ```
        """
        self._expect_table(args, kwargs)
        return super().submit(*args, **kwargs)

    def map(self, *args: Any, **kwargs: Any) -> Any:
        """`Task.map`, noting the run's table first.

        Example:
            ```python
            futures = upload_file.map(paths, name=names)
            ```
        """
        self._expect_table(args, kwargs)
        return super().map(*args, **kwargs)

    def with_options(self, **kwargs: Any) -> Any:
        """`Task.with_options`, keeping this class and its registry.

        Example:
            ```python
            patient = save_object.with_options(retries=5)
            ```
        """
        options = super().with_options(**kwargs)
        options.__class__ = type(self)
        copy = cast(RegistryTask, options)  # it is one since the line above
        copy.table_registry = self.table_registry
        return copy

    def _registry_argument(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if self.table_registry is not _FROM_CALL:
            return self.table_registry
        if "registry" in kwargs:
            value = kwargs["registry"]
        else:
            names = list(inspect.signature(self.fn).parameters)
            index = names.index("registry") if "registry" in names else len(args)
            value = args[index] if index < len(args) else None
        if isinstance(value, BaseAnnotation):  # unmapped(...), quote(...)
            value = value.unwrap()
        if isinstance(value, (list, tuple)):  # mapped over registries: the table shows the first
            value = value[0] if value else None
        return value

    def _expect_table(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        from prefect.context import FlowRunContext
        from prefect.task_runners import ThreadPoolTaskRunner

        try:
            ctx = FlowRunContext.get()
            if ctx is None or ctx.detached or ctx.flow_run is None:
                return
            if not isinstance(ctx.task_runner, ThreadPoolTaskRunner):  # threads request it themselves
                run = current_run()
                PUBLISHER.expect(str(ctx.flow_run.id), table_key(run.flow_name),
                                 self._registry_argument(args, kwargs))
            _hook_flow_end()
        except Exception as exc:  # noqa: BLE001 - visibility never fails a submission
            logger.debug("could not note the artifact table of %s: %s", self.name, exc)


def registry_task(__fn: Any = None, *, registry: Any = _FROM_CALL, **options: Any) -> Any:
    """``prefect.task`` making a `RegistryTask` (the decorator of this package's tasks).

    Args:
        registry: the registry its artifacts go to when fixed (`artifact_task`); by
            default each call's ``registry`` argument.
        **options: any ``prefect.task`` keyword.

    Example:
        ```python
        @registry_task(name="upload_file", persist_result=False)
        def upload_file(path: str, registry=None) -> Artifact: ...
        ```
    """

    def make(fn: Any) -> Any:
        made = task(fn, **options)
        made.__class__ = RegistryTask
        made.table_registry = registry
        return made

    return make(__fn) if __fn is not None else make


def emit_created(art: Artifact, category: RunCategory | str | None, run: RunInfo) -> Any:
    """Emit ``prefect-artifacts.artifact.created`` with the artifact as resource.

    Inside a run Prefect adds the flow run (and task run) as related resources; a
    known flow run id outside its context is added explicitly. The event id is
    `created_event_id` of the artifact: emitting twice stores one event.

    Example:
        ```python
        emit_created(art, "output", current_run())
        ```
    """
    from prefect.context import FlowRunContext, TaskRunContext
    from prefect.events import emit_event

    resource = {
        "prefect.resource.id": f"{RESOURCE_PREFIX}{art.id}",
        "prefect.resource.name": art.ref,
        "prefect-artifacts.name": art.name,
        "prefect-artifacts.folder": art.folder,
        "prefect-artifacts.version": str(art.version),
        "prefect-artifacts.kind": art.kind.value,
    }
    related = []
    if run.flow_run_id and FlowRunContext.get() is None and TaskRunContext.get() is None:
        related.append({"prefect.resource.id": f"prefect.flow-run.{run.flow_run_id}",
                        "prefect.resource.role": "flow-run"})
    cat = category.value if isinstance(category, RunCategory) else category
    payload = {
        "id": art.id, "urn": art.urn, "uri": art.urn, "ref": art.ref, "name": art.name, "folder": art.folder,
        "version": art.version, "kind": art.kind.value, "checksum": art.checksum, "size": art.size,
        "mime_type": art.mime_type, "labels": list(art.labels), "category": cat,
        "original_path": art.original_path, "flow_run_id": run.flow_run_id,
    }
    # A deterministic id: one event per artifact, however often a retried call emits it (and
    # no os.urandom read, which Prefect's default uuid4 would cost, a GIL hand-off in a busy flow).
    return emit_event(EVENT_CREATED, resource=resource, related=related or None, payload=payload,
                      id=created_event_id(art.id))


def is_new(art: Artifact, started: datetime) -> bool:
    """Whether a write created ``art`` (rather than returning an existing version).

    The registry's own answer when it gave one (``skip`` strategies and reused
    idempotency keys return an existing version); otherwise whether the version was
    created after the call started.

    Example:
        ```python
        is_new(art, started)
        ```
    """
    if art._just_created is not None:  # no clock comparison across machines
        return art._just_created
    created = art.created if art.created.tzinfo else art.created.replace(tzinfo=timezone.utc)
    return created >= started


def now() -> datetime:
    """Current UTC time (the catalog's clock for an in-process registry).

    Example:
        ```python
        started = now()
        ```
    """
    return datetime.now(timezone.utc)
