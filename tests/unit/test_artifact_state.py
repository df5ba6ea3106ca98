"""`Artifact` object state without a backend: the read-only guard, staging, and what
`commit` sends (and keeps staged) when the registry fails midway.

The same behaviour on every backend is in the contract suite (`MetadataContract`).
"""

from __future__ import annotations

import pickle
from datetime import datetime, timezone
from typing import Any

import pytest

from prefect_artifacts.errors import (
    InvalidArtifactInput,
    InvalidName,
    InvalidOperation,
    MetadataValidationError,
    StorageError,
)
from prefect_artifacts.models import Artifact, ArtifactKind

NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)
ID = "8d6c3c1e-0000-4000-8000-000000000001"


def _artifact(**fields: Any) -> Artifact:
    base: dict[str, Any] = {"id": ID, "name": "a", "version": 1, "folder": "/default", "kind": ArtifactKind.FILE,
                            "created": NOW, "modified": NOW, "description": "old", "labels": ["raw"]}
    return Artifact(**{**base, **fields})


class FakeRegistry:
    """Records the calls `commit` makes; ``fail_on`` names the call that raises."""

    def __init__(self, fail_on: str | None = None) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.fail_on = fail_on
        self.state = _artifact()

    def _record(self, name: str, arg: Any) -> None:
        if name == self.fail_on:
            raise StorageError(f"{name} failed")
        self.calls.append((name, arg))

    def update(self, ref: str, description: str | None = None, labels: list[str] | None = None) -> Artifact:
        self._record("update", (description, labels))
        changes = {k: v for k, v in (("description", description), ("labels", labels)) if v is not None}
        self.state = self.state.model_copy(update={**changes, "modified": datetime.now(timezone.utc)})
        return self.state

    def add_metadata(self, ref: str, aspect: dict[str, Any], schema: Any = None, policy: Any = None) -> None:
        self._record("add_metadata", aspect)

    def set_alias(self, ref: str, alias: str) -> Artifact:
        self._record("set_alias", alias)
        return self.state

    def get(self, ref: str) -> Artifact:
        self._record("get", ref)
        return self.state


def _bound(registry: FakeRegistry) -> Artifact:
    return _artifact().bind(registry)  # type: ignore[arg-type]


FIELDS = ["id", "name", "version", "folder", "kind", "description", "labels", "mime_type", "size",
          "checksum", "created", "modified", "original_path", "group_id", "is_dir", "file_count", "runs",
          "serializer"]


@pytest.mark.parametrize("field", FIELDS)
def test_assigning_any_field_of_a_read_only_artifact_raises_and_changes_nothing(field: str) -> None:
    art = _artifact()
    before = art.model_dump()
    assert art.is_read_only
    with pytest.raises(InvalidOperation, match=rf"read-only: assigning '{field}'.*read_only\(False\).*commit"):
        setattr(art, field, None)
    assert art.model_dump() == before and art.staged == {}


@pytest.mark.parametrize("field", [f for f in FIELDS if f not in ("description", "labels")])
def test_a_writable_artifact_still_refuses_fields_of_the_stored_version(field: str) -> None:
    art = _artifact().read_only(False)
    with pytest.raises(InvalidOperation, match=rf"'{field}'.*cannot be changed"):
        setattr(art, field, None)


def test_writable_assignments_are_validated_at_once() -> None:
    art = _artifact().read_only(False)
    art.labels = ["b", "a", "b"]
    assert art.labels == ["b", "a"]
    for bad in ("abc", ["bad\nlabel"], [1]):
        with pytest.raises(InvalidName):
            art.labels = bad
    for bad_description in (None, 3, "nul\x00"):
        with pytest.raises(InvalidArtifactInput):
            art.description = bad_description
    assert art.staged == {"labels": ["b", "a"]}
    unset = _artifact(description=None).read_only(False)
    unset.description = None  # no description to remove: not a change
    assert unset.staged == {}


def test_read_only_is_chainable_and_keeps_what_is_staged() -> None:
    art = _artifact()
    assert art.read_only(False) is art and not art.is_read_only
    art.description = "new"
    assert art.read_only() is art and art.is_read_only
    assert art.staged == {"description": "new"}
    with pytest.raises(InvalidOperation, match="read-only"):
        art.stage_metadata({"rows": 1})


def test_unknown_attributes_and_private_state_behave_as_before() -> None:
    art = _artifact()
    with pytest.raises(ValueError, match="no field"):
        art.nonexistent = 1  # type: ignore[attr-defined]
    art._just_created = True
    assert art._just_created is True


def test_staged_is_a_copy() -> None:
    art = _artifact().read_only(False)
    art.stage_metadata({"rows": {"n": 1}})
    art.staged["metadata"][0]["aspect"]["rows"]["n"] = 2
    art.staged["aliases"] = ["x"]
    assert art.staged == {"metadata": [{"aspect": {"rows": {"n": 1}}, "schema": None, "policy": None}]}


def test_staging_validates_metadata_and_aliases() -> None:
    art = _artifact().read_only(False)
    with pytest.raises(MetadataValidationError):
        art.stage_metadata({"rows": "x"}, schema={"type": "object", "properties": {"rows": {"type": "integer"}}})
    with pytest.raises(InvalidName):
        art.stage_alias("latest")
    art.stage_alias("prod").stage_alias("prod")
    assert art.staged == {"aliases": ["prod"]}


def test_state_survives_pickling_and_stays_out_of_dumps() -> None:
    art = _artifact().read_only(False)
    art.labels = ["clean"]
    art.stage_alias("prod")
    assert "staged" not in art.model_dump() and art.model_dump()["labels"] == ["clean"]
    copy = pickle.loads(pickle.dumps(art))
    assert not copy.is_read_only
    assert copy.staged == {"labels": ["clean"], "aliases": ["prod"]}
    assert pickle.loads(pickle.dumps(_artifact())).is_read_only


def test_commit_with_nothing_staged_sends_nothing() -> None:
    registry = FakeRegistry()
    art = _bound(registry)
    assert art.commit() is art
    assert registry.calls == []


def test_commit_refuses_local_changes_of_a_read_only_artifact() -> None:
    registry = FakeRegistry()
    art = _bound(registry)
    art.labels.append("in-place")
    with pytest.raises(InvalidOperation, match=r"read-only.*labels.*refresh\(\)"):
        art.commit()
    assert registry.calls == []


def test_commit_of_an_unbound_artifact_raises_before_sending() -> None:
    art = _artifact().read_only(False)
    art.description = "x"
    with pytest.raises(InvalidOperation, match="not bound"):
        art.commit()
    assert art.staged == {"description": "x"}


def test_commit_sends_in_order_then_reloads() -> None:
    registry = FakeRegistry()
    art = _bound(registry).read_only(False)
    art.labels = ["clean"]
    art.stage_alias("prod")
    art.stage_metadata({"rows": 1})
    art.commit()
    assert registry.calls == [("update", (None, ["clean"])), ("add_metadata", {"rows": 1}),
                              ("set_alias", "prod"), ("get", ID)]
    assert art.staged == {} and art.labels == ["clean"] and art.modified == registry.state.modified


@pytest.mark.parametrize("fail_on", ["update", "add_metadata", "set_alias"])
def test_a_failure_midway_keeps_only_what_was_not_applied_staged(fail_on: str) -> None:
    registry = FakeRegistry(fail_on=fail_on)
    art = _bound(registry).read_only(False)
    art.description = "new"
    art.stage_metadata({"rows": 1})
    art.stage_metadata({"rows": 2})
    art.stage_alias("prod")
    with pytest.raises(StorageError):
        art.commit()
    applied = [name for name, _ in registry.calls]
    expected_left = {
        "update": {"description", "metadata", "aliases"},
        "add_metadata": {"metadata", "aliases"},
        "set_alias": {"aliases"},
    }[fail_on]
    assert set(art.staged) == expected_left
    registry.fail_on = None
    registry.calls.clear()
    art.commit()  # the retry sends only the rest: no aspect twice
    resent = [name for name, _ in registry.calls]
    assert applied.count("add_metadata") + resent.count("add_metadata") == 2
    assert resent[-1] == "get" and art.staged == {} and art.description == "new"


def test_fields_cannot_be_deleted() -> None:
    art = _artifact().read_only(False)
    with pytest.raises(InvalidOperation, match="'description'.*cannot be deleted"):
        del art.description
    assert art.description == "old"


def test_an_artifact_pickled_before_object_state_existed_is_read_only_and_clean() -> None:
    art = _artifact()
    state = art.__getstate__()
    private = dict(state["__pydantic_private__"])
    for key in ("_read_only", "_synced", "_staged_metadata", "_staged_aliases"):
        private.pop(key)
    state["__pydantic_private__"] = private
    old = Artifact.__new__(Artifact)
    old.__setstate__(state)
    assert old.is_read_only and old.staged == {}
    assert old.read_only(False).stage_alias("prod").staged == {"aliases": ["prod"]}
    old.read_only()
    with pytest.raises(InvalidOperation, match="read-only"):
        old.labels = []


def test_commit_validates_before_the_first_call() -> None:
    registry = FakeRegistry()
    art = _bound(registry).read_only(False)
    art.stage_metadata({"rows": 1})
    art.labels.append("bad\nlabel")  # not seen by an assignment: only commit can catch it
    with pytest.raises(InvalidName):
        art.commit()
    assert registry.calls == []
    assert set(art.staged) == {"labels", "metadata"}
