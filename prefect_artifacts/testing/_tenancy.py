"""Contract: the rules of a registry shared by several groups, for backends that see callers."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import pytest

from prefect_artifacts.errors import ArtifactNotFound, InvalidName, PermissionDenied
from prefect_artifacts.models import ConflictStrategy
from prefect_artifacts.registry.base import Registry
from prefect_artifacts.testing._base import ContractFixtures, MakeFile, new_run_id, payload


class TenancyContract(ContractFixtures):
    """Groups on one registry: who reads, who writes, who owns a folder, what others learn.

    A backend provides ``tenants``: registries over ONE empty catalog and store, each
    acting as a different caller:

    - ``alice`` writes group ``team-a`` (her default group);
    - ``bob`` writes ``team-b`` (his default group) only;
    - ``carol`` writes ``team-c`` (her default group) and reads ``team-a``;
    - ``root`` is an admin.

    Example:
        ```python
        class TestMineTenancy(TenancyContract):
            __test__ = True

            @pytest.fixture
            def tenants(self, registry):
                return {name: registry.for_principal(principal_of(name)) for name in NAMES}
        ```
    """

    __test__ = False

    @pytest.fixture
    def tenants(self) -> Mapping[str, Registry]:
        """Registries acting as alice, bob, carol and root (override in the backend's subclass).

        Example:
            ```python
            def test_x(self, tenants): tenants["alice"].list()
            ```
        """
        raise NotImplementedError("override the `tenants` fixture in your TenancyContract subclass")

    def test_a_folder_belongs_to_the_group_that_made_it(self, tenants: Mapping[str, Registry],
                                                        make_file: MakeFile) -> None:
        alice, bob = tenants["alice"], tenants["bob"]
        first = alice.upload_file(make_file("m.bin", "v1"), name="model", folder="/team-a/models")
        assert first.group_id == "team-a"
        mine = make_file("c.bin", "bob's")
        answers = set()
        for strategy in ConflictStrategy:
            for name in ("model", "future-model"):  # a name that exists, one that does not
                for folder in ("/team-a/models", "/team-a/models/sub", "/team-a/other"):
                    with pytest.raises(PermissionDenied) as refused:
                        bob.upload_file(mine, name=name, folder=folder, conflict_strategy=strategy)
                    answers.add(str(refused.value).replace(folder, "<folder>"))
        assert len(answers) == 1, answers  # one answer, whatever exists in the folder
        assert bob.count() == 0
        future = alice.upload_file(make_file("f.bin", "f"), name="future-model", folder="/team-a/models")
        assert (future.version, future.group_id) == (1, "team-a")
        again = alice.upload_file(make_file("m2.bin", "v2"), name="model", folder="/team-a/models",
                                  conflict_strategy="replace")
        assert again.version == 2 and [a.version for a in alice.iter(search="name:model")] == [2]

    def test_a_relative_folder_is_the_callers(self, tenants: Mapping[str, Registry], make_file: MakeFile) -> None:
        alice, bob = tenants["alice"], tenants["bob"]
        assert (alice.current_user, bob.current_user) == ("alice", "bob")
        mine = alice.upload_file(make_file("a.txt", "a"), name="notes", folder="scratch", make_folder=True)
        assert (mine.folder, mine.group_id) == ("/alice/scratch", "team-a")
        theirs = bob.upload_file(make_file("b.txt", "b"), name="notes", folder="scratch", make_folder=True)
        assert (theirs.folder, theirs.group_id) == ("/bob/scratch", "team-b")
        assert alice.get(name="notes", folder="scratch").id == mine.id
        with pytest.raises(PermissionDenied):
            bob.upload_file(make_file("c.txt", "c"), name="notes", folder="/alice/scratch")

    def test_readers_read_and_only_writers_write(self, tenants: Mapping[str, Registry],
                                                 make_file: MakeFile) -> None:
        alice, carol, bob = tenants["alice"], tenants["carol"], tenants["bob"]
        art = alice.upload_file(make_file("d.csv", "a,b"), name="data", folder="/team-a/data")
        assert carol.get("/team-a/data/data").id == art.id
        assert b"".join(carol.get(art.id).as_stream()) == b"a,b"
        writes: list[Callable[[Registry], object]] = [
            lambda reg: reg.update(art.id, description="changed"),
            lambda reg: reg.set_alias(art.id, "prod"),
            lambda reg: reg.attach(art.id, new_run_id(), "input"),
            lambda reg: reg.add_metadata(art.id, {"rows": 1}),
            lambda reg: reg.delete(art.id),
        ]
        for write in writes:
            with pytest.raises(PermissionDenied):
                write(carol)  # a reader of team-a
            with pytest.raises(ArtifactNotFound):
                write(bob)  # not even a reader: it does not exist for him
        with pytest.raises(PermissionDenied):
            carol.upload_file(make_file("b.csv", "b"), name="data", folder="/team-a/data")
        with pytest.raises(ArtifactNotFound):
            bob.get("/team-a/data/data")
        assert bob.count() == 0 and bob.list(folder="/team-a/data").total == 0
        kept = alice.get(art.id)
        assert (kept.description, kept.version, kept.runs) == (None, 1, [])

    def test_an_artifact_takes_its_folders_group(self, tenants: Mapping[str, Registry],
                                                 make_file: MakeFile) -> None:
        alice, root = tenants["alice"], tenants["root"]
        alice.upload_file(make_file("a.txt", "a"), name="a", folder="/team-a")
        by_admin = root.upload_file(make_file("r.txt", "r"), name="from-root", folder="/team-a/fixes")
        assert by_admin.group_id == "team-a"  # an admin may write anywhere; the folder's group owns it
        assert alice.get("/team-a/fixes/from-root").id == by_admin.id
        assert root.upload_file(make_file("o.txt", "o"), name="own", folder="/root-folder").group_id == "root"

    def test_look_alike_folders_cannot_shadow_another_groups(self, tenants: Mapping[str, Registry],
                                                             make_file: MakeFile) -> None:
        alice, bob = tenants["alice"], tenants["bob"]
        alice.upload_file(make_file("a.txt", "a"), name="a", folder="/team-a")
        path = make_file("c.txt", "c")
        for folder in ("/Team-A", "/TEAM-A/models", "/team-A/a"):
            with pytest.raises(PermissionDenied):
                bob.upload_file(path, name="a", folder=folder)
        for folder in ("/team-\u0430", "/te\u0430m-a/x", "/team-a\u200b", "/ｔｅａｍ-ａ"):  # Cyrillic, zero-width, wide
            with pytest.raises(InvalidName):
                bob.upload_file(path, name="a", folder=folder)
        with pytest.raises(InvalidName, match="differs only in case"):
            alice.upload_file(path, name="b", folder="/Team-A")  # even its owners keep one spelling
        assert bob.count() == 0
        assert sorted(a.folder for a in alice.iter()) == ["/team-a"]

    def test_the_root_holds_folders_only(self, tenants: Mapping[str, Registry], make_file: MakeFile) -> None:
        path = make_file("x.txt", "x")
        with pytest.raises(PermissionDenied):
            tenants["bob"].upload_file(path, name="x", folder="/")
        assert tenants["root"].upload_file(path, name="x", folder="/").folder == "/"

    def test_a_new_top_level_folder_goes_to_the_first_group(self, tenants: Mapping[str, Registry],
                                                            make_file: MakeFile) -> None:
        bob, alice = tenants["bob"], tenants["alice"]
        assert bob.upload_file(make_file("c.txt", "c"), name="c", folder="/reports/q1").group_id == "team-b"
        with pytest.raises(PermissionDenied):
            alice.upload_file(make_file("a.txt", "a"), name="a", folder="/reports")

    def test_the_same_bytes_in_two_groups(self, tenants: Mapping[str, Registry], make_file: MakeFile) -> None:
        data = payload(300_000, seed=7)
        alice, bob = tenants["alice"], tenants["bob"]
        hers = alice.upload_file(make_file("w.bin", data), name="w", folder="/team-a")
        theirs = bob.upload_file(make_file("w2.bin", data), name="w", folder="/team-b")
        assert hers.checksum == theirs.checksum and theirs.size == len(data)
        alice.delete(hers.id)
        assert b"".join(bob.get(theirs.id).as_stream()) == data

    def test_snapshots_are_read_by_their_groups(self, tenants: Mapping[str, Registry]) -> None:
        alice, bob = tenants["alice"], tenants["bob"]
        files = [("plug.py", b"X = 1\n")]
        snap = alice.create_plugin_snapshot("plug", "1", files)
        with pytest.raises(ArtifactNotFound):
            bob.get_plugin_snapshot(snap.id)
        with pytest.raises(ArtifactNotFound):
            bob.read_plugin_snapshot_file(snap.id, "plug.py")
        assert bob.create_plugin_snapshot("plug", "1", files).id == snap.id  # same code, same snapshot
        assert bob.read_plugin_snapshot_file(snap.id, "plug.py") == b"X = 1\n"

    def test_garbage_collection_is_for_admins(self, tenants: Mapping[str, Registry]) -> None:
        with pytest.raises(PermissionDenied):
            tenants["alice"].gc(dry_run=True)
        assert tenants["root"].gc(dry_run=True).dry_run
