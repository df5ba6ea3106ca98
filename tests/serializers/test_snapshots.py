"""Plugin snapshots: capture, idempotence, pinned loading in isolation, integrity, health check."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from prefect_artifacts import SerializerError, SnapshotIntegrityError
from prefect_artifacts.serializers import (
    SNAPSHOT_NAMESPACE,
    capture_source,
    clear_caches,
    get_serializer,
    mounted_snapshots,
    snapshot_serializer,
)

SUBPROCESS_SCRIPT = textwrap.dedent('''
    import json, sys
    sys.path.insert(0, sys.argv[1])
    from prefect_artifacts.registry.local import LocalRegistry

    reg = LocalRegistry.embedded()
    out = {"pinned": reg.load_object(sys.argv[2]), "imported": sys.argv[3] in sys.modules}
    try:
        out["current"] = reg.load_object(sys.argv[2], use_current=True)
    except Exception as exc:
        out["current_error"] = f"{type(exc).__name__}: {exc}"
    print(json.dumps(out))
''')


def _fresh_process(plugin_root: Path, ref: str, module: str) -> dict:
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    done = subprocess.run([sys.executable, "-c", SUBPROCESS_SCRIPT, str(plugin_root), ref, module],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def _blob(home: Path, digest: str) -> Path:
    return home / "blobs" / "sha256" / digest[:2] / digest


def test_edited_plugin_still_loads_the_original_in_a_fresh_process(embedded_registry, plugins) -> None:
    module = plugins.unique()
    name = f"tagged-{module}"
    plugins.tagged_module(module, name, tag="v1")
    plugins.load(module)
    art = embedded_registry.save_object({"x": 1}, name="obj", serializer=name)
    assert embedded_registry.load_object(art.id) == {"tag": "v1", "value": {"x": 1}}

    plugins.tagged_module(module, name, tag="edited-v2")  # deserialize now behaves differently
    out = _fresh_process(plugins.root, art.id, module)
    assert out["pinned"] == {"tag": "v1", "value": {"x": 1}}
    assert out["imported"] is False  # the pinned load never imported the installed module
    assert out["current"] == {"tag": "edited-v2", "value": {"x": 1}}


def test_deleted_plugin_still_loads_in_a_fresh_process(embedded_registry, plugins) -> None:
    module = plugins.unique()
    name = f"tagged-{module}"
    path = plugins.tagged_module(module, name, tag="v1")
    plugins.load(module)
    art = embedded_registry.save_object([1, 2], name="obj", serializer=name)
    path.unlink()
    out = _fresh_process(plugins.root, art.id, module)
    assert out["pinned"] == {"tag": "v1", "value": [1, 2]}
    assert "current" not in out and module in out["current_error"]


def test_two_snapshots_of_one_plugin_side_by_side(embedded_registry, plugins) -> None:
    module = plugins.unique()
    name = f"tagged-{module}"
    plugins.tagged_module(module, name, tag="v1")
    plugins.load(module)
    first = embedded_registry.save_object("a", name="obj", serializer=name)
    plugins.tagged_module(module, name, tag="second-version")
    installed = plugins.load(module)  # reload: re-registers the edited class
    second = embedded_registry.save_object("b", name="obj", serializer=name)
    assert first.serializer.snapshot_id != second.serializer.snapshot_id
    assert embedded_registry.get_plugin_snapshot(first.serializer.snapshot_id).version == "v1"

    assert embedded_registry.load_object(first.id) == {"tag": "v1", "value": "a"}
    assert embedded_registry.load_object(second.id) == {"tag": "second-version", "value": "b"}
    assert embedded_registry.load_object(first.id) == {"tag": "v1", "value": "a"}
    mounts = mounted_snapshots()
    prefixes = {mounts[a.serializer.snapshot_id].prefix for a in (first, second)}
    assert len(prefixes) == 2 and all(p.startswith(SNAPSHOT_NAMESPACE + ".s") for p in prefixes)
    for prefix in prefixes:
        pinned = sys.modules[f"{prefix}.{module}"]
        assert pinned is not installed and pinned.Tagged is not installed.Tagged
    assert get_serializer(name) is installed.Tagged  # pinned copies never replace the installed class


def test_same_source_same_snapshot_id(embedded_registry, plugins) -> None:
    module = plugins.unique()
    name = f"tagged-{module}"
    plugins.tagged_module(module, name, tag="v1")
    cls = plugins.load(module).Tagged
    a = embedded_registry.save_object(1, name="a", serializer=name)
    b = embedded_registry.save_object(2, name="b", serializer=name)
    clear_caches()  # recapture from disk and store again: still the same snapshot
    again = snapshot_serializer(embedded_registry, cls)
    assert a.serializer.snapshot_id == b.serializer.snapshot_id == again.id
    snap = embedded_registry.get_plugin_snapshot(again.id)
    assert [f.path for f in snap.files] == [f"{module}.py"] and snap.plugin_name == module
    assert snap.digest == capture_source(cls).digest
    json_a = embedded_registry.save_object({"k": 1}, name="j1")
    json_b = embedded_registry.save_object([1], name="j2")
    assert json_a.serializer.snapshot_id == json_b.serializer.snapshot_id != a.serializer.snapshot_id


def test_tampered_snapshot_blob_is_refused_and_never_runs(embedded_registry, plugins, _isolated_home, tmp_path) -> None:
    module = plugins.unique()
    name = f"tagged-{module}"
    plugins.tagged_module(module, name, tag="v1")
    plugins.load(module)
    art = embedded_registry.save_object({"x": 1}, name="obj", serializer=name)
    snap = embedded_registry.get_plugin_snapshot(art.serializer.snapshot_id)
    blob = _blob(_isolated_home, snap.files[0].checksum)
    marker = tmp_path / "pwned"
    blob.chmod(0o644)
    blob.write_text(f"open({str(marker)!r}, 'w').write('ran')\n" + blob.read_text())
    with pytest.raises(SnapshotIntegrityError, match="tampered"):
        embedded_registry.load_object(art.id)
    assert not marker.exists()
    report = embedded_registry.check_loadable([art.id])[0]
    assert report.ok is False and report.error_type == "SnapshotIntegrityError"


def test_a_backend_returning_other_bytes_is_refused(embedded_registry, plugins) -> None:
    from prefect_artifacts.serializers import load_object

    module = plugins.unique()
    name = f"tagged-{module}"
    plugins.tagged_module(module, name, tag="v1")
    plugins.load(module)
    art = embedded_registry.save_object({"x": 1}, name="obj", serializer=name)

    class Lying:  # a backend whose per-file check is broken: the digest check still holds
        def __getattr__(self, attr):
            return getattr(embedded_registry, attr)

        def read_plugin_snapshot_file(self, snapshot_id, path):
            return embedded_registry.read_plugin_snapshot_file(snapshot_id, path) + b"\nTAG = 'evil'\n"

    with pytest.raises(SnapshotIntegrityError, match="digest"):
        load_object(Lying(), art.id)
    assert load_object(embedded_registry, art.id) == {"tag": "v1", "value": {"x": 1}}


def test_package_plugin_with_relative_and_absolute_self_imports(embedded_registry, plugins) -> None:
    pkg = plugins.unique("pkg")
    name = f"pkg-{pkg}"
    plugins.serializers.append(name)
    plugins.write(f"{pkg}/__init__.py", "__version__ = '3.1'\n")
    plugins.write(f"{pkg}/util.py", "TAG = 'pkg-v1'\n")
    plugins.write(f"{pkg}/sub/__init__.py", "")
    plugins.write(f"{pkg}/sub/helpers.py", f'''
        from .. import util
        import {pkg}.util as absolute_util

        def describe(value):
            return {{"tag": util.TAG, "absolute": absolute_util.TAG, "value": value}}
    ''')
    plugins.write(f"{pkg}/core.py", f'''
        import json

        from prefect_artifacts.serializers import Serializer, register_serializer

        from .sub.helpers import describe


        @register_serializer
        class PkgSerializer(Serializer):
            name = {name!r}
            types = ()

            def serialize(self, obj, directory, **options):
                (directory / "v.json").write_text(json.dumps(obj))
                return "v.json"

            def deserialize(self, path, **options):
                return describe(json.loads(path.read_text()))
    ''')
    plugins.load(f"{pkg}.core")
    art = embedded_registry.save_object(5, name="obj", serializer=name)
    snap = embedded_registry.get_plugin_snapshot(art.serializer.snapshot_id)
    assert snap.plugin_name == pkg and snap.version == "3.1"
    assert sorted(f.path for f in snap.files) == [
        f"{pkg}/__init__.py", f"{pkg}/core.py", f"{pkg}/sub/__init__.py", f"{pkg}/sub/helpers.py", f"{pkg}/util.py"]

    sys.modules[f"{pkg}.util"].TAG = "mutated-installed"  # the pinned copy must not see this
    assert embedded_registry.load_object(art.id) == {"tag": "pkg-v1", "absolute": "pkg-v1", "value": 5}
    assert embedded_registry.load_object(art.id, use_current=True) == {
        "tag": "mutated-installed", "absolute": "mutated-installed", "value": 5}


def test_check_loadable_reports_broken_artifacts(embedded_registry, plugins, _isolated_home) -> None:
    module = plugins.unique()
    name = f"tagged-{module}"
    plugins.tagged_module(module, name, tag="v1")
    plugins.load(module)
    good = embedded_registry.save_object({"ok": True}, name="good")
    broken = embedded_registry.save_object({"x": 1}, name="broken", serializer=name)
    embedded_registry.upload_file(plugins.root / f"{module}.py", name="plain-file")
    snap = embedded_registry.get_plugin_snapshot(broken.serializer.snapshot_id)
    _blob(_isolated_home, snap.files[0].checksum).unlink()

    reports = {r.artifact_id: r for r in embedded_registry.check_loadable()}
    assert set(reports) == {good.id, broken.id}  # only object artifacts are checked
    assert reports[good.id].ok and reports[good.id].error is None
    bad = reports[broken.id]
    assert not bad.ok and bad.error_type == "SnapshotIntegrityError" and snap.id in bad.error
    assert bad.serializer == name and bad.ref == broken.ref

    explicit = embedded_registry.check_loadable(["good:latest", "missing-name"])
    assert explicit[0].ok and explicit[0].ref == "good:latest"
    assert not explicit[1].ok and explicit[1].error_type == "ArtifactNotFound"


def test_not_an_object_artifact_and_unsnapshottable_serializers(embedded_registry, plugins, tmp_path) -> None:
    path = tmp_path / "f.txt"
    path.write_text("x")
    embedded_registry.upload_file(path, name="file")
    with pytest.raises(SerializerError, match="not an object artifact"):
        embedded_registry.load_object("file")

    class InMain:
        name = "in-main"
        serialize = deserialize = staticmethod(lambda *a, **k: None)

    InMain.__module__ = "__main__"
    with pytest.raises(SerializerError, match="__main__"):
        capture_source(InMain)


def test_first_use_stores_the_snapshot_and_later_uses_reuse_it(embedded_registry, plugins, monkeypatch) -> None:
    """Later uses cost nothing measurable because they make no registry call (timed in bench/)."""
    module = plugins.unique()
    name = f"tagged-{module}"
    plugins.tagged_module(module, name, tag="v1")
    plugin = plugins.load(module).Tagged
    clear_caches()
    stored = []
    create = embedded_registry.create_plugin_snapshot
    monkeypatch.setattr(embedded_registry, "create_plugin_snapshot",
                        lambda *a, **kw: stored.append(a[0]) or create(*a, **kw))
    for cls in (plugin, get_serializer("json")):
        first = snapshot_serializer(embedded_registry, cls)
        assert all(snapshot_serializer(embedded_registry, cls).id == first.id for _ in range(100))
    assert len(stored) == 2  # one store per plugin, none for the 200 later uses


def test_builtins_pin_only_their_own_module(embedded_registry) -> None:
    import prefect_artifacts
    from prefect_artifacts.serializers import Serializer

    art = embedded_registry.save_object({"a": 1}, name="cfg")
    snap = embedded_registry.get_plugin_snapshot(art.serializer.snapshot_id)
    assert [f.path for f in snap.files] == ["prefect_artifacts/serializers/builtins.py"]
    assert snap.version == prefect_artifacts.__version__
    assert snap.plugin_name == "prefect_artifacts.serializers.builtins"
    assert embedded_registry.load_object(art.id) == {"a": 1}
    pinned = sys.modules[f"{mounted_snapshots()[snap.id].prefix}.prefect_artifacts.serializers.builtins"]
    assert pinned.JsonSerializer is not get_serializer("json")
    assert issubclass(pinned.JsonSerializer, Serializer)  # the stable base class is the installed one


def test_resaving_with_a_pinned_class_pins_the_same_snapshot(embedded_registry, plugins) -> None:
    from prefect_artifacts.serializers import load_serializer, object_info

    module = plugins.unique()
    name = f"tagged-{module}"
    plugins.tagged_module(module, name, tag="v1")
    plugins.load(module)
    first = embedded_registry.save_object("a", name="obj", serializer=name)
    plugins.tagged_module(module, name, tag="edited-v2")
    plugins.load(module)
    pinned = load_serializer(embedded_registry, object_info(embedded_registry, first.id))
    again = embedded_registry.save_object("b", name="obj", serializer=pinned)
    assert again.serializer.snapshot_id == first.serializer.snapshot_id
    assert embedded_registry.load_object(again.id) == {"tag": "v1", "value": "b"}
    saved = embedded_registry.save_object("c", name="obj", serializer=name)
    assert embedded_registry.load_object(saved.id)["tag"] == "edited-v2"


def test_source_edited_after_import_warns_when_captured(embedded_registry, plugins, monkeypatch) -> None:
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    module = plugins.unique()
    name = f"tagged-{module}"
    plugins.tagged_module(module, name, tag="v1")
    plugins.load(module)  # writes __pycache__ with the v1 source's mtime and size
    source = plugins.root / f"{module}.py"
    source.write_text(source.read_text() + "\n# edited, not reloaded\n")  # keeps __pycache__
    with pytest.warns(UserWarning, match="changed after it was imported"):
        embedded_registry.save_object(1, name="obj", serializer=name)
