"""Fixtures and capability hooks shared by every part of the Registry contract suite."""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from prefect_artifacts.registry.base import Registry

#: Writes a file under the test's tmp folder: ``make_file("a/b.txt", b"x")``.
MakeFile = Callable[..., Path]
#: Writes a folder of files: ``make_tree("plots", {"a.png": b"...", "sub/b.txt": "hi"})``.
MakeTree = Callable[..., Path]


def sha256(data: bytes) -> str:
    """Hex SHA-256 of ``data``.

    Example:
        ```python
        assert art.checksum == sha256(b"hello")
        ```
    """
    return hashlib.sha256(data).hexdigest()


def payload(size: int, seed: int = 0) -> bytes:
    """Deterministic, incompressible-looking bytes of ``size`` (different per ``seed``).

    Example:
        ```python
        data = payload(300_000, seed=1)
        ```
    """
    out = bytearray()
    counter = 0
    while len(out) < size:
        out += hashlib.sha256(f"{seed}:{counter}".encode()).digest()
        counter += 1
    return bytes(out[:size])


def new_run_id() -> str:
    """A fresh flow-run id (Prefect run ids are UUIDs).

    Example:
        ```python
        reg.attach(art.id, new_run_id(), "input")
        ```
    """
    return str(uuid.uuid4())


def _as_bytes(content: bytes | str) -> bytes:
    return content.encode() if isinstance(content, str) else content


class ContractFixtures:
    """Fixtures and capability hooks of the contract suite.

    A backend subclasses `RegistryContract`, sets ``__test__ = True``, overrides the
    ``registry`` fixture and switches off what it cannot do with the hooks below.

    Attributes:
        supports_gc: ``Registry.gc`` runs and reclaims blobs (False for a client that
            may not garbage-collect a shared server).
        supports_file_references: the registry can read the caller's ``file://``
            URIs (False for a remote server, which cannot see the client's disk).
        default_folder: the folder used when ``folder=None``.

    Example:
        ```python
        class TestMyRegistry(RegistryContract):
            __test__ = True
            supports_gc = False

            @pytest.fixture
            def registry(self, tmp_path):
                reg = MyRegistry(tmp_path)
                yield reg
                reg.close()
        ```
    """

    __test__ = False

    supports_gc: bool = True
    supports_file_references: bool = True
    default_folder: str = "/default"

    @pytest.fixture
    def registry(self) -> Registry:
        """An EMPTY registry, fresh for each test (override in the backend's subclass).

        Example:
            ```python
            @pytest.fixture
            def registry(self, tmp_path):
                return LocalRegistry.from_urls(str(tmp_path / "blobs"), sqlite_url(tmp_path / "c.sqlite"))
            ```
        """
        raise NotImplementedError("override the `registry` fixture in your RegistryContract subclass")

    @pytest.fixture
    def reg(self, registry: Registry) -> Registry:
        """Short alias of ``registry`` used by the tests.

        Example:
            ```python
            def test_x(self, reg): reg.count()
            ```
        """
        return registry

    @pytest.fixture
    def src(self, tmp_path: Path) -> Path:
        """Folder where tests create the local files they upload.

        Example:
            ```python
            (src / "a.txt").write_text("x")
            ```
        """
        path = tmp_path / "src"
        path.mkdir()
        return path

    @pytest.fixture
    def make_file(self, src: Path) -> MakeFile:
        """Factory writing ``content`` to ``src/relpath`` (parents created).

        Example:
            ```python
            path = make_file("data.csv", "a,b")
            ```
        """

        def make(relpath: str, content: bytes | str = b"hello") -> Path:
            path = src / relpath
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(_as_bytes(content))
            return path

        return make

    @pytest.fixture
    def make_tree(self, src: Path) -> MakeTree:
        """Factory writing a folder ``src/name`` holding ``files`` ({relpath: content}).

        Example:
            ```python
            root = make_tree("plots", {"a.txt": "A", "sub/b.txt": "B"})
            ```
        """

        def make(name: str, files: Mapping[str, bytes | str], empty_dirs: Iterable[str] = ()) -> Path:
            root = src / name
            root.mkdir(parents=True, exist_ok=True)
            for rel, content in files.items():
                path = root / rel
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(_as_bytes(content))
            for rel in empty_dirs:
                (root / rel).mkdir(parents=True, exist_ok=True)
            return root

        return make

    def skip_unless(self, capability: str) -> None:
        """Skip the current test when the backend lacks ``capability``.

        Example:
            ```python
            self.skip_unless("supports_gc")
            ```
        """
        if not getattr(self, capability):
            pytest.skip(f"backend does not declare {capability}")


def tree_bytes(root: Path) -> dict[str, bytes]:
    """``{relative '/'-path: content}`` of every file under ``root``.

    Example:
        ```python
        assert tree_bytes(out) == {"a.txt": b"A"}
        ```
    """
    out: dict[str, bytes] = {}
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            full = Path(dirpath) / name
            out[full.relative_to(root).as_posix()] = full.read_bytes()
    return out
