"""Fixtures for serializer tests: an embedded registry and importable temporary plugins."""

from __future__ import annotations

import importlib
import shutil
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from prefect_artifacts.registry.local import LocalRegistry
from prefect_artifacts.serializers import unregister_serializer

PLUGIN_TEMPLATE = '''
import json

from prefect_artifacts.serializers import Serializer, register_serializer

TAG = {tag!r}


@register_serializer
class Tagged(Serializer):
    name = {name!r}
    types = ()
    mime_type = "application/json"
    version = {tag!r}
    auto = False

    def serialize(self, obj, directory, **options):
        (directory / "obj.json").write_text(json.dumps(obj))
        return "obj.json"

    def deserialize(self, path, **options):
        return {{"tag": TAG, "value": json.loads(path.read_text())}}
'''


@pytest.fixture
def embedded_registry(_isolated_home: Path) -> Iterator[LocalRegistry]:
    """The embedded registry of this test's home (`LocalRegistry.embedded()`), closed afterwards."""
    registry = LocalRegistry.embedded()
    yield registry
    registry.close()


class PluginDir:
    """A folder on sys.path where tests write plugin modules; cleaned up afterwards."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.modules: list[str] = []
        self.serializers: list[str] = []

    def unique(self, prefix: str = "plug") -> str:
        return f"{prefix}_{uuid.uuid4().hex[:10]}"

    def write(self, relpath: str, source: str) -> Path:
        path = self.root / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source))
        for cache in self.root.rglob("__pycache__"):
            shutil.rmtree(cache, ignore_errors=True)
        importlib.invalidate_caches()
        return path

    def tagged_module(self, module: str, serializer: str, tag: str) -> Path:
        self.serializers.append(serializer)
        return self.write(f"{module}.py", PLUGIN_TEMPLATE.format(name=serializer, tag=tag))

    def serializer(self, methods: str) -> str:
        """Write and load a module registering a serializer with these methods; its name."""
        module = self.unique()
        name = f"test-{module}"
        body = textwrap.indent(textwrap.dedent(methods).strip("\n"), "    ")
        self.write(f"{module}.py", "from prefect_artifacts.serializers import Serializer, register_serializer\n\n\n"
                   f"@register_serializer\nclass Plugin(Serializer):\n    name = {name!r}\n    types = ()\n"
                   f"    auto = False\n\n{body}\n")
        self.serializers.append(name)
        self.load(module)
        return name

    def load(self, module: str):  # noqa: ANN201
        self.modules.append(module)
        if module in sys.modules:
            return importlib.reload(sys.modules[module])
        return importlib.import_module(module)


@pytest.fixture
def plugins(tmp_path: Path) -> Iterator[PluginDir]:
    root = tmp_path / "plugins"
    root.mkdir()
    sys.path.insert(0, str(root))
    helper = PluginDir(root)
    try:
        yield helper
    finally:
        sys.path.remove(str(root))
        for name in list(sys.modules):
            if any(name == m or name.startswith(m.split(".")[0] + ".") for m in helper.modules):
                del sys.modules[name]
        for name in helper.serializers:
            unregister_serializer(name)
