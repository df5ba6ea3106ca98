"""Batches: many artifacts in one call (`Registry.upload_many`), one result per item.

Each item is a mapping of `Registry.upload_file`'s keyword arguments (``path``, ``name``,
``folder``, ``description``, ``labels``, ``metadata``, ``mime_type``,
``conflict_strategy``, ``make_folder``, ``group``, ``runs``, ``idempotency_key``,
``original_path``, ``extra_aspects``) or an `ArtifactDraft`. Items are validated and reported on their own:
a bad item becomes a `BatchResult` holding its error, and the others are created.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from prefect_artifacts.draft import ArtifactDraft
from prefect_artifacts.errors import ArtifactError, InvalidArtifactInput
from prefect_artifacts.models import ConflictStrategy

if TYPE_CHECKING:
    from prefect_artifacts.models import Artifact, RunCategory

#: Most items one `upload_many` call (and one batch request) takes.
MAX_BATCH_ITEMS = 10_000
#: Most items one ``POST /artifacts/batch`` request takes (`HttpRegistry.upload_many` sends this many a request).
MAX_REQUEST_ITEMS = 500
#: Most bytes of small contents (decoded) one batch request carries inline; the client PUTs the rest first.
MAX_REQUEST_INLINE_BYTES = 16 * 1024 * 1024

BatchItem = Mapping[str, Any] | ArtifactDraft

_ITEM_KEYS = frozenset({
    "path", "name", "folder", "description", "labels", "metadata", "mime_type", "conflict_strategy",
    "make_folder", "group", "runs", "idempotency_key", "original_path", "extra_aspects",
})

E = TypeVar("E", bound=ArtifactError)


@dataclass
class BatchResult:
    """What became of one item of `Registry.upload_many`: its artifact, or its error.

    Attributes:
        index: the item's position in the batch.
        artifact: the artifact created (or returned by ``skip`` or an idempotent retry); None on error.
        error: why the item failed (an `ArtifactError` whose message starts ``item <index>:``); None on success.

    Example:
        ```python
        results = reg.upload_many([{"path": "a.csv"}, {"path": "missing.csv"}])
        [r.ok for r in results]          # [True, False]
        results[0].unwrap().name         # "a.csv"
        ```
    """

    index: int
    artifact: Artifact | None = None
    error: ArtifactError | None = None

    @property
    def ok(self) -> bool:
        """Whether the item made (or found) its artifact.

        Example:
            ```python
            failed = [r for r in results if not r.ok]
            ```
        """
        return self.error is None

    def unwrap(self) -> Artifact:
        """The artifact, or the item's error raised.

        Raises:
            ArtifactError: the item's error.

        Example:
            ```python
            arts = [r.unwrap() for r in reg.upload_many(items)]
            ```
        """
        if self.error is not None:
            raise self.error
        assert self.artifact is not None
        return self.artifact


@dataclass
class BatchJob:
    """One valid item, resolved: its draft and how to create it (internal to the registries)."""

    index: int
    draft: ArtifactDraft
    folder: str | None
    make_folder: bool
    strategy: ConflictStrategy | str
    group: str | None = None
    idempotency_key: str | None = None
    runs: list[tuple[str, RunCategory | str]] = field(default_factory=list)
    original_path: str | None = None
    extra_aspects: list[dict[str, Any]] = field(default_factory=list)


def for_item(exc: E, index: int) -> E:
    """``exc`` again, of the same class, its message prefixed with ``item <index>:``.

    Example:
        ```python
        for_item(InvalidArtifactInput("bad name"), 3)   # InvalidArtifactInput("item 3: bad name")
        ```
    """
    message = str(exc)
    return exc if message.startswith(f"item {index}:") else reworded(exc, f"item {index}: {message}")


def reworded(exc: E, message: str) -> E:
    """``exc`` again, of the same class and with its attributes, saying ``message``.

    Example:
        ```python
        reworded(InvalidArtifactInput("bad name"), "item 3: bad name")
        ```
    """
    cls = type(exc)
    new = cls.__new__(cls)
    ArtifactError.__init__(new, message)
    new.__dict__.update({k: v for k, v in exc.__dict__.items() if k not in ("message", "args")})
    new.__cause__ = exc.__cause__
    return new


def parse_items(
    items: Sequence[BatchItem], *, folder: str | None, make_folder: bool, conflict_strategy: ConflictStrategy | str,
    group: str | None, runs: Sequence[tuple[str, RunCategory | str]],
) -> list[BatchJob | ArtifactError]:
    """Each item as a `BatchJob`, or the error that makes it invalid (naming its index).

    Raises:
        InvalidArtifactInput: ``items`` is not a sequence, or holds more than `MAX_BATCH_ITEMS`.

    Example:
        ```python
        jobs = parse_items([{"path": "a.csv"}], folder=None, make_folder=True, conflict_strategy="new",
                           group=None, runs=())
        ```
    """
    if isinstance(items, (str, bytes, Mapping)) or not isinstance(items, Sequence):
        raise InvalidArtifactInput(f"upload_many takes a list of items, not {type(items).__name__}")
    if len(items) > MAX_BATCH_ITEMS:
        raise InvalidArtifactInput(f"a batch holds at most {MAX_BATCH_ITEMS} items, not {len(items)}")
    out: list[BatchJob | ArtifactError] = []
    for index, item in enumerate(items):
        try:
            out.append(_job(index, item, folder, make_folder, conflict_strategy, group, runs))
        except ArtifactError as exc:
            out.append(for_item(exc, index))
        except (TypeError, ValueError) as exc:  # e.g. a label that is not a string
            out.append(InvalidArtifactInput(f"item {index}: {exc}"))
    return out


def _job(index: int, item: BatchItem, folder: str | None, make_folder: bool,
         strategy: ConflictStrategy | str, group: str | None,
         runs: Sequence[tuple[str, RunCategory | str]]) -> BatchJob:
    if isinstance(item, ArtifactDraft):
        return BatchJob(index, item, folder, make_folder, strategy, group, runs=list(runs))
    if not isinstance(item, Mapping):
        raise InvalidArtifactInput(f"item {index}: expected a mapping of upload_file's arguments or an "
                                   f"ArtifactDraft, not {type(item).__name__}")
    unknown = sorted(str(k) for k in item if k not in _ITEM_KEYS)
    if unknown:
        raise InvalidArtifactInput(f"item {index}: unknown key(s) {', '.join(map(repr, unknown))} "
                                   f"(allowed: {', '.join(sorted(_ITEM_KEYS))})")
    raw_path = item.get("path")
    if raw_path is None:
        raise InvalidArtifactInput(f"item {index}: 'path' is required")
    path = os.fspath(raw_path)  # a missing file: add_file below refuses it (one stat an item, not two)
    name = item.get("name")
    labels = item.get("labels") or ()
    if isinstance(labels, str):
        raise InvalidArtifactInput(f"item {index}: 'labels' must be a list of strings, not a string")
    from prefect_artifacts.registry.base import _default_name

    draft = ArtifactDraft(name=_default_name(path) if name is None else name,
                          description=item.get("description"), labels=labels, metadata=item.get("metadata"),
                          mime_type=item.get("mime_type")).add_file(path)
    return BatchJob(
        index, draft, item.get("folder", folder), bool(item.get("make_folder", make_folder)),
        item.get("conflict_strategy", strategy), item.get("group", group), item.get("idempotency_key"),
        [*runs, *(item.get("runs") or ())], item.get("original_path") or os.path.abspath(path),
        list(item.get("extra_aspects") or ()),
    )
