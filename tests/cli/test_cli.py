"""The `prefect-artifacts` command: behaviour, output formats and exit codes."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from prefect_artifacts import errors
from prefect_artifacts._cli import state as cli_state
from prefect_artifacts._cli.main import app
from prefect_artifacts._cli.output import human_size, short_checksum
from prefect_artifacts._cli.progress import ByteProgress, byte_bar
from prefect_artifacts.blocks import ArtifactRegistry
from prefect_artifacts.registry import LocalRegistry


@pytest.fixture
def data(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    (root / "tree" / "sub").mkdir(parents=True)
    (root / "hello.txt").write_bytes(b"hello world\n")
    (root / "random.bin").write_bytes(os.urandom(300_000))
    (root / "tree" / "a.txt").write_text("alpha\n")
    (root / "tree" / "sub" / "b.csv").write_text("x,y\n1,2\n")
    return root


def _json(result) -> object:
    return json.loads(result.stdout)


def _blob(home: Path, digest: str) -> Path:
    return home / "blobs" / "sha256" / digest[:2] / digest


# -- push / ls / show ----------------------------------------------------------------


def test_push_file_then_ls_table(cli, data: Path) -> None:
    pushed = cli("push", str(data / "hello.txt"), "--name", "greeting", "--folder", "/team",
                 "--label", "raw", "--label", "text", "--description", "a greeting")
    assert "/team/greeting:1" in pushed.stdout
    table = cli("ls").stdout
    row = next(line for line in table.splitlines() if "/team/greeting:1" in line)
    digest = "a948904f2f0f479b8f8197694b30184b0d2ed1c1cd2a1ec0fb85d299a192a447"
    assert "file" in row and "12 B" in row and short_checksum(digest) in row and "raw, text" in row
    assert digest not in row  # the table shows a short checksum
    assert "1 of 1 artifact(s)" in table


def test_push_directory_and_show_everything(cli, data: Path, tmp_path: Path) -> None:
    many = tmp_path / "many"
    many.mkdir()
    for i in range(25):
        (many / f"f{i:02d}.txt").write_text(f"file {i}\n")
    cli("push", str(many), "--name", "many", "--meta", "rows=25", "--meta", "owner=ana")
    cli("attach", "many", "run-123", "--category", "input")
    shown = cli("show", "many:latest").stdout
    assert "/default/many:1" in shown and "directory" in shown
    assert "Files (25)" in shown
    assert "f00.txt" in shown and "f19.txt" in shown and "f24.txt" not in shown
    assert "5 more (25 files)" in shown
    assert "run-123" in shown and "input" in shown
    assert '"rows": 25' in shown and '"owner": "ana"' in shown
    full = _json(cli("--json", "show", "many"))
    assert len(full["files"]) == 25 and full["kind"] == "directory" and full["file_count"] == 25
    assert full["metadata"][0]["content"] == {"rows": 25, "owner": "ana"}
    assert full["runs"][0]["run_id"] == "run-123" and full["runs"][0]["category"] == "input"


def test_push_conflict_strategies(cli, data: Path) -> None:
    path = str(data / "hello.txt")
    cli("push", path, "--name", "h")
    skipped = _json(cli("--json", "push", path, "--name", "h", "--conflict", "skip"))
    assert skipped["version"] == 1
    assert _json(cli("--json", "push", path, "--name", "h"))["version"] == 2
    conflict = cli("push", path, "--name", "h", "--conflict", "error", code=4)
    assert conflict.stderr.startswith("error: ") and "already exists" in conflict.stderr
    replaced = _json(cli("--json", "push", path, "--name", "h", "--conflict", "replace"))
    assert replaced["version"] == 3
    assert [a["version"] for a in _json(cli("--json", "ls"))["data"]] == [3]


def test_push_reference_registers_without_copy(cli, data: Path, tmp_path: Path) -> None:
    uri = (data / "hello.txt").as_uri()
    art = _json(cli("--json", "push", uri, "--reference", "--name", "ref"))
    assert art["kind"] == "reference" and art["files"][0]["uri"] == uri
    assert not (tmp_path / "home" / "blobs" / "sha256").exists() or not list(
        (tmp_path / "home" / "blobs" / "sha256").rglob(art["checksum"]))


def test_ls_json_is_one_document(cli, data: Path) -> None:
    cli("push", str(data / "hello.txt"))
    cli("push", str(data / "tree"))
    result = cli("--json", "ls", "--sort", "name")
    doc = _json(result)
    assert [a["ref"] for a in doc["data"]] == ["/default/hello.txt:1", "/default/tree:1"]
    assert doc["total"] == 2 and doc["next_cursor"] is None and doc["is_complete"] is True
    assert doc["data"][1]["kind"] == "directory" and doc["data"][1]["size"] == 6 + 8


def test_search_filters_the_listing(cli, data: Path) -> None:
    for name in ("alpha-1", "alpha-2", "beta"):
        cli("push", str(data / "hello.txt"), "--name", name, "--label", "greek" if name == "beta" else "x")
    refs = [a["name"] for a in _json(cli("--json", "ls", "--search", "name:alpha*"))["data"]]
    assert sorted(refs) == ["alpha-1", "alpha-2"]
    table = cli("ls", "--search", "label:greek").stdout
    assert "/default/beta:1" in table and "alpha" not in table
    cli("push", str(data / "hello.txt"), "--name", "elsewhere", "--folder", "/other")
    assert [a["ref"] for a in _json(cli("--json", "ls", "--folder", "/other"))["data"]] == ["/other/elsewhere:1"]


def test_paging_with_cursor_visits_every_artifact_once(cli, data: Path) -> None:
    for i in range(5):
        cli("push", str(data / "hello.txt"), "--name", f"n{i}")
    first = cli("ls", "--limit", "2", "--sort", "name").stdout
    assert "2 of 5 artifact(s)" in first
    cursor = first.split("next cursor: ", 1)[1].split()[0]
    seen: list[str] = []
    page = _json(cli("--json", "ls", "--limit", "2", "--sort", "name"))
    while True:
        seen += [a["name"] for a in page["data"]]
        if not page["next_cursor"]:
            break
        page = _json(cli("--json", "ls", "--limit", "2", "--sort", "name", "--cursor", page["next_cursor"]))
    assert seen == ["n0", "n1", "n2", "n3", "n4"]
    second = cli("ls", "--limit", "2", "--sort", "name", "--cursor", cursor).stdout
    assert "/default/n2:1" in second and "/default/n0:1" not in second
    everything = _json(cli("--json", "ls", "--limit", "2", "--all"))
    assert everything["count"] == 5 and everything["next_cursor"] is None


# -- pull ------------------------------------------------------------------------------


def test_pull_file_content_equal(cli, data: Path, tmp_path: Path) -> None:
    cli("push", str(data / "random.bin"), "--name", "rnd")
    out = tmp_path / "out" / "copy.bin"
    out.parent.mkdir()
    doc = _json(cli("--json", "pull", "rnd:latest", "--output", str(out)))
    assert out.read_bytes() == (data / "random.bin").read_bytes()
    assert doc["bytes"] == 300_000 and doc["mode"] == "file" and doc["output"] == str(out)
    cli("pull", "rnd", "-o", str(out.parent))  # an existing folder: keeps the file name
    assert (out.parent / "random.bin").read_bytes() == out.read_bytes()
    assert [p.name for p in out.parent.iterdir() if p.name.endswith(".part")] == []
    to_stdout = cli("pull", "rnd", "-o", "-")
    assert to_stdout.stdout_bytes == (data / "random.bin").read_bytes()
    cli("--json", "pull", "rnd", "-o", "-", code=2)
    # Each pull to a file is in the artifact's transfer history (seed 001's remote); stdout is not.
    downloads = [t.local_path for t in LocalRegistry.embedded().transfers("rnd") if t.action.value == "download"]
    assert downloads == [str(out), str(out.parent / "random.bin")]


@pytest.mark.parametrize("fmt", ["tar_gz", "zip"])
def test_pull_directory_as_bundle(cli, data: Path, tmp_path: Path, fmt: str) -> None:
    cli("push", str(data / "tree"), "--name", "tree")
    target = tmp_path / f"bundle.{fmt}"
    cli("pull", "tree", "--format", fmt, "--output", str(target))
    if fmt == "zip":
        with zipfile.ZipFile(target) as z:
            content = {n: z.read(n) for n in z.namelist() if not n.endswith("/")}
    else:
        with tarfile.open(target, "r:gz") as t:
            content = {m.name: t.extractfile(m).read() for m in t.getmembers() if m.isfile()}
    assert content == {"a.txt": b"alpha\n", "sub/b.csv": b"x,y\n1,2\n"}


def test_pull_directory_default_is_tar_gz_named_after_artifact(cli, data: Path, tmp_path: Path) -> None:
    cli("push", str(data / "tree"), "--name", "tree")
    out = tmp_path / "dl"
    out.mkdir()
    cli("pull", "tree", "-o", str(out))
    assert tarfile.is_tarfile(out / "tree.tar.gz")


def test_pull_extract_and_subpaths(cli, data: Path, tmp_path: Path) -> None:
    cli("push", str(data / "tree"), "--name", "tree")
    dest = tmp_path / "extracted"
    doc = _json(cli("--json", "pull", "tree", "--extract", "--output", str(dest)))
    assert doc["files"] == 2 and doc["mode"] == "extract"
    assert (dest / "a.txt").read_text() == "alpha\n"
    assert (dest / "sub" / "b.csv").read_text() == "x,y\n1,2\n"
    only_sub = tmp_path / "only-sub"
    cli("pull", "tree", "--extract", "--path", "sub", "-o", str(only_sub))
    assert sorted(str(p.relative_to(only_sub)) for p in only_sub.rglob("*") if p.is_file()) == ["sub/b.csv"]
    one = tmp_path / "b.csv"
    cli("pull", "tree", "--path", "sub/b.csv", "-o", str(one))
    assert one.read_text() == "x,y\n1,2\n"
    missing = cli("pull", "tree", "--path", "nope", code=3)
    assert "nope" in missing.stderr
    escape = cli("pull", "tree", "--path", "../etc", code=2)
    assert escape.stderr.startswith("error: ")


def test_extract_refuses_symlinked_folder_escaping_the_output(cli, data: Path, tmp_path: Path) -> None:
    cli("push", str(data / "tree"), "--name", "tree")
    dest, outside = tmp_path / "dest", tmp_path / "outside"
    dest.mkdir()
    outside.mkdir()
    (dest / "sub").symlink_to(outside, target_is_directory=True)
    result = cli("pull", "tree", "--extract", "-o", str(dest), code=2)
    assert "symlink" in result.stderr
    assert list(outside.iterdir()) == []
    assert not (dest / "a.txt").exists()  # refused before anything was written
    (dest / "sub").unlink()
    (dest / "sub").mkdir()
    (dest / "sub" / "b.csv").symlink_to(outside / "victim.csv")
    cli("pull", "tree", "--extract", "-o", str(dest), code=2)
    assert list(outside.iterdir()) == []


# -- rm / gc / verify ------------------------------------------------------------------


def test_rm_asks_unless_yes(cli, data: Path) -> None:
    cli("push", str(data / "hello.txt"), "--name", "h")
    declined = cli("rm", "h", input="n\n", code=7)  # cancelled, not 1 ("verify found damage")
    assert "error: cancelled" in declined.stderr
    cli("show", "h")
    refused = cli("--json", "rm", "h", code=2)
    assert _json(refused)["error"]["exit_code"] == 2 and "--yes" in refused.stderr
    assert "deleted /default/h:1" in cli("rm", "h", input="y\n").stdout
    cli("show", "h", code=3)


def test_gc_dry_run_then_collect(cli, data: Path, tmp_path: Path) -> None:
    art = _json(cli("--json", "push", str(data / "random.bin"), "--name", "rnd"))
    blob = _blob(tmp_path / "home", art["checksum"])
    assert blob.exists()
    cli("rm", "rnd", "--yes")
    dry = _json(cli("--json", "gc", "--dry-run", "--grace", "0"))
    assert dry["dry_run"] is True and dry["blobs_deleted"] == 1 and dry["bytes_freed"] == 300_000
    assert blob.exists()
    young = _json(cli("--json", "gc"))  # default grace keeps the fresh blob
    assert young["blobs_deleted"] == 0 and blob.exists()
    done = cli("gc", "--grace", "0").stdout
    assert "deleted 1 blob(s)" in done
    assert not blob.exists()


def test_verify_detects_a_corrupted_blob(cli, data: Path, tmp_path: Path) -> None:
    good = _json(cli("--json", "push", str(data / "hello.txt"), "--name", "good"))
    tree = _json(cli("--json", "push", str(data / "tree"), "--name", "tree"))
    ok = cli("verify")
    assert "3 file(s)" in ok.stdout and "0 failure(s)" in ok.stdout
    victim = next(f for f in tree["files"] if f["path"] == "sub/b.csv")
    blob = _blob(tmp_path / "home", victim["checksum"])
    blob.chmod(0o644)
    blob.write_bytes(b"x,y\n6,6\n")  # same size, different content
    bad = cli("verify", code=1)
    assert "CORRUPT /default/tree:1 sub/b.csv" in bad.stdout and "1 failure(s)" in bad.stdout
    report = _json(cli("--json", "verify", code=1))
    assert report["ok"] is False
    assert [(f["ref"], f["path"], f["error"]) for f in report["failures"]] == [
        ("/default/tree:1", "sub/b.csv", "ArtifactIntegrityError")]
    assert _json(cli("--json", "verify", "--search", "name:good"))["ok"] is True
    assert good["checksum"] != victim["checksum"]
    pulled = cli("pull", "tree", "--path", "sub/b.csv", "-o", str(tmp_path / "b.csv"), code=5)
    assert pulled.stderr.startswith("error: ") and "corrupt" in pulled.stderr
    assert not (tmp_path / "b.csv").exists()


# -- alias / attach --------------------------------------------------------------------


def test_alias_and_attach(cli, data: Path) -> None:
    cli("push", str(data / "hello.txt"), "--name", "m")
    cli("push", str(data / "hello.txt"), "--name", "m")
    assert "/default/m:prod -> /default/m:1" in cli("alias", "m:1", "prod").stdout
    assert _json(cli("--json", "show", "/default/m:prod"))["version"] == 1
    link = _json(cli("--json", "attach", "m:prod", "run-9", "--category", "code"))
    assert link["run_id"] == "run-9" and link["category"] == "code" and link["ref"] == "/default/m:1"
    bad = cli("attach", "m", "run-9", "--category", "sideways", code=2)
    assert "sideways" in bad.stderr


# -- exit codes and error messages -----------------------------------------------------


def test_not_found_exit_code(cli) -> None:
    for args in (["show", "nope"], ["pull", "nope"], ["rm", "nope", "--yes"], ["alias", "nope", "x"]):
        result = cli(*args, code=3)
        assert result.stderr.startswith("error: ") and "nope" in result.stderr
        assert result.stdout == "" and "Traceback" not in result.stderr


def test_bad_search_query_exit_code_names_the_position(cli, data: Path) -> None:
    cli("push", str(data / "hello.txt"))
    result = cli("ls", "--search", "name:abc OR", code=2)
    assert result.stderr.startswith("error: ") and "position 11" in result.stderr
    assert cli("verify", "--search", "name:abc OR", code=2).stderr == result.stderr
    assert cli("ls", "--sort", "colour", code=2).stderr.startswith("error: cannot sort")


@pytest.mark.parametrize("args", [
    ["push", "{file}", "--name", "bad%name"],
    ["push", "{file}", "--name", "ok", "--label", "bad label!"],
    ["push", "{missing}"],
    ["push", "{file}", "--meta", "no-equals-sign"],
    ["push", "{file}", "--conflict", "sometimes"],
    ["pull", "h", "--path", "x"],
    ["pull", "h", "--format", "zip"],
    ["ls", "--limit", "0"],
])
def test_bad_input_exit_code_2(cli, data: Path, tmp_path: Path, args: list[str]) -> None:
    cli("push", str(data / "hello.txt"), "--name", "h")
    subst = {"{file}": str(data / "hello.txt"), "{missing}": str(tmp_path / "missing.txt")}
    result = cli(*[subst.get(a, a) for a in args], code=2)
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    assert [a["ref"] for a in _json(cli("--json", "ls"))["data"]] == ["/default/h:1"]


def test_exit_codes_follow_the_error_tree() -> None:
    expected = {
        errors.ArtifactIntegrityError: 5, errors.SnapshotIntegrityError: 5, errors.InvalidName: 2,
        errors.SearchSyntaxError: 2, errors.PayloadTooLarge: 2, errors.InvalidOperation: 2,
        errors.ArtifactNotFound: 3, errors.FolderNotFound: 3, errors.BlobNotFound: 3,
        errors.ArtifactConflict: 4, errors.AmbiguousReference: 4, errors.AuthenticationError: 6,
        errors.PermissionDenied: 6, errors.StorageError: 10, errors.ArtifactError: 10,
    }
    for cls, code in expected.items():
        assert cli_state.exit_code_for(cls("x")) == code, cls
    assert cli_state.exit_code_for(RuntimeError("x")) == 10


# -- registry selection ----------------------------------------------------------------


def test_home_option_selects_the_embedded_registry(cli, data: Path, tmp_path: Path) -> None:
    other = tmp_path / "other-home"
    art = _json(cli("--json", "--home", str(other), "push", str(data / "hello.txt")))
    assert _blob(other, art["checksum"]).exists()
    assert (other / "catalog.sqlite").exists()


def test_registry_block_option_loads_the_block(cli, monkeypatch, tmp_path: Path) -> None:
    loaded: list[str] = []

    def fake_load(cls, name: str, *args, **kwargs):
        loaded.append(name)
        if name == "missing":
            raise ValueError("Unable to find block document named missing")
        return ArtifactRegistry()

    monkeypatch.setattr(ArtifactRegistry, "load", classmethod(fake_load))
    assert _json(cli("--json", "--registry-block", "prod", "ls"))["total"] == 0
    assert loaded == ["prod"]
    assert "missing" in cli("--registry-block", "missing", "ls", code=3).stderr


def test_options_open_the_registry_the_block_would(monkeypatch, tmp_path: Path) -> None:
    """Without a saved block the CLI skips Prefect, and opens what ArtifactRegistry(...) would."""
    cases = [(None, None), ("http://registry:4300/api/v1", "k1")]
    for api_url, key in cases:
        ours = cli_state.settings_registry(api_url, key)
        block = ArtifactRegistry(api_url=api_url, api_key=key).get_registry()
        try:
            assert ours.spec() == block.spec()
        finally:
            ours.close()
            block.close()
    monkeypatch.setenv("PREFECT_ARTIFACTS_API_URL", "http://env:4300/api/v1")
    monkeypatch.setenv("PREFECT_ARTIFACTS_API_KEY", "k2")
    monkeypatch.setenv("PREFECT_ARTIFACTS_OFFLINE", "auto")
    ours, block = cli_state.settings_registry(), ArtifactRegistry().get_registry()
    try:
        assert ours.spec() == block.spec() and ours.spec().kind == "offline"
    finally:
        ours.close()
        block.close()


# -- helpers ---------------------------------------------------------------------------


def test_human_sizes_and_progress_passthrough() -> None:
    assert [human_size(n) for n in (None, 0, 1023, 1536, 5 * 2**30)] == ["-", "0 B", "1023 B", "1.5 KiB", "5.0 GiB"]
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, width=100)
    chunks = [b"a" * 1000, b"b" * 500]
    with ByteProgress(console, enabled=True) as bar:
        assert list(bar.track(iter(chunks), "x", total=1500)) == chunks
    with ByteProgress(console, enabled=False) as bar:
        assert list(bar.track(iter(chunks), "x")) == chunks
    assert "x" in buffer.getvalue()


def test_push_progress_counts_files_and_bytes(data: Path) -> None:
    sizes: list[int] = []
    reg = LocalRegistry.embedded()
    try:
        reg.upload_dir(data / "tree", name="tree", progress=sizes.append)
    finally:
        reg.close()
    assert sorted(sizes) == [6, 8]
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, width=120)
    with byte_bar(console, "Pushing tree (2 files)", total=14, enabled=True) as advance:
        for size in sizes:
            advance(size)
    assert "Pushing tree (2 files)" in buffer.getvalue() and "14/14 bytes" in buffer.getvalue()


def test_server_and_admin_groups_are_registered(cli) -> None:
    help_text = cli("--help").stdout
    for group in ("server", "users", "groups", "keys", "push", "pull", "verify"):
        assert group in help_text


# -- the installed console script ------------------------------------------------------


def test_console_script_end_to_end(data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    script = Path(sys.executable).with_name("prefect-artifacts")
    assert script.exists(), "run `pip install -e .` to create the console script"
    env = {**os.environ, "PREFECT_ARTIFACTS_HOME": str(tmp_path / "script-home"), "COLUMNS": "200"}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(script), *args], env=env, capture_output=True, text=True, timeout=60, check=False)

    pushed = run("--json", "push", str(data / "tree"), "--name", "tree", "--label", "e2e")
    assert pushed.returncode == 0, pushed.stderr
    assert json.loads(pushed.stdout)["file_count"] == 2 and pushed.stderr == ""
    monkeypatch.setenv("PREFECT_ARTIFACTS_HOME", env["PREFECT_ARTIFACTS_HOME"])
    CliRunner().invoke(app, ["pull", "tree", "--extract", "-o", str(tmp_path / "x")])
    assert (tmp_path / "x" / "sub" / "b.csv").read_text() == "x,y\n1,2\n"
    missing = run("show", "ghost")
    assert missing.returncode == 3 and missing.stdout == ""
    assert missing.stderr.strip() == "error: no artifact named 'ghost'"
