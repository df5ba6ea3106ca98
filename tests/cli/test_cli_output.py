"""What people read from `prefect-artifacts`: help pages, exit codes, JSON errors, gc's summary, start-up cost."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import typing
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from typer.main import get_command

from prefect_artifacts._cli import main as cli_main
from prefect_artifacts._cli.main import app
from prefect_artifacts._cli.state import EXIT_MEANINGS, ExitCode, handle_errors
from prefect_artifacts.models import BundleType, ConflictStrategy, RunCategory
from tests.cli.conftest import invoker
from tests.support.live_server import LiveServer
from tests.support.registries import make_registry

README = Path(__file__).resolve().parents[2] / "README.md"
RAW_MARKUP = ["```", "``", "<list[", "<str>", "<int>", "<float>", "<path>", "[dim]", "[bold", "[/", "\b", "Args:",
              "Raises:"]


@pytest.fixture
def cli() -> typing.Callable[..., typing.Any]:
    """Help pages at a usual terminal width (120 columns)."""
    return invoker(120)


def _command_paths(command: typing.Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    yield path
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        yield from _command_paths(sub, (*path, name))


def _blob(home: Path, digest: str) -> Path:
    return home / "blobs" / "sha256" / digest[:2] / digest


# -- help pages ------------------------------------------------------------------------------


def test_every_help_page_is_plain_text_with_examples_and_clear_metavars(cli) -> None:
    paths = list(_command_paths(get_command(app)))
    assert len(paths) > 20  # the root, its commands, the server/users/groups/keys/provenance groups and theirs
    for path in paths:
        page = cli(*path, "--help").stdout
        assert page.startswith("Usage: prefect-artifacts"), path
        for markup in RAW_MARKUP:
            assert markup not in page, (path, markup)
        usage = page.splitlines()[0]
        arguments = usage.split("[OPTIONS]", 1)[1].split()
        assert all(re.fullmatch(r"\[?[A-Z_]+\]?(\.\.\.)?", a) for a in arguments), (path, usage)  # REF, [USER]
        options = page.split("\nOptions:\n", 1)[1].split("\n\n", 1)[0]
        for line in options.splitlines():  # every option that takes a value names it: --label TEXT, --limit INTEGER
            option = re.match(r"  (?:-\w, )?(--[\w-]+)( [^/\s]\S*)?", line)
            if option and option.group(2):
                assert re.fullmatch(r" ([A-Z]+|\[[\w|]+\])", option.group(2)), (path, line)
    push = cli("push", "--help").stdout
    assert "--label TEXT" in push and "--conflict [skip|error|new|replace]" in push
    assert "Examples:\n\n    prefect-artifacts push outputs/ --name checkpoint" in push  # as typed, not rewrapped
    root = cli("--help").stdout
    assert "Exit codes: 0 ok, 1 damaged, 2 usage" in root and "7 cancelled" in root


def test_option_choices_are_the_models_enums() -> None:
    """The CLI spells the choices out (importing the models would slow every start): they must not drift."""
    assert typing.get_args(cli_main.ConflictChoice) == tuple(m.value for m in ConflictStrategy)
    assert typing.get_args(cli_main.BundleChoice) == tuple(m.value for m in BundleType)
    assert typing.get_args(cli_main.CategoryChoice) == tuple(m.value for m in RunCategory)


# -- exit codes --------------------------------------------------------------------------------


def _readme_exit_codes() -> dict[int, str]:
    text = README.read_text(encoding="utf-8")
    section = text.split("\n### Exit codes\n", 1)[1].split("\n### ", 1)[0]
    rows = re.findall(r"^\| (\d+) \| (.+) \|$", section, flags=re.MULTILINE)
    return {int(code): meaning for code, meaning in rows}


def test_readme_exit_code_table_is_the_code_table() -> None:
    assert _readme_exit_codes() == {int(code): meaning for code, meaning in EXIT_MEANINGS.items()}
    server_and_cli = README.read_text(encoding="utf-8").split("\n## Server and CLI\n", 1)[1].split("\n## ", 1)[0]
    assert "\n### Exit codes\n" in server_and_cli  # at the end of "Server and CLI", before "Offline mode"
    assert server_and_cli.index("### Exit codes") < server_and_cli.index("### Offline mode")


def test_each_readme_exit_code_happens_where_the_table_says(cli, tmp_path: Path) -> None:
    table = _readme_exit_codes()
    home = tmp_path / "home"
    seen: dict[int, str] = {}

    def expect(code: int, *args: str, input: str | None = None) -> None:
        result = cli(*args, input=input, code=code)
        if code:
            assert "error: " in result.stderr or "CORRUPT" in result.stdout, (args, result.stderr)
        seen[code] = " ".join(args)

    hello = tmp_path / "hello.txt"
    hello.write_text("hello\n")
    expect(0, "push", str(hello), "--name", "h")
    expect(2, "ls", "--search", "size>>1MB")
    expect(3, "show", "nope")
    expect(4, "push", str(hello), "--name", "h", "--conflict", "error")
    expect(7, "rm", "h", input="n\n")
    blob = _blob(home, json.loads(cli("--json", "show", "h").stdout)["checksum"])
    blob.chmod(0o644)
    blob.write_bytes(b"HELLO\n")  # same size, other content
    expect(1, "verify")
    expect(5, "pull", "h", "-o", str(tmp_path / "copy.txt"))
    server = LiveServer(make_registry(tmp_path / "server")).start()  # API keys required
    try:
        expect(6, "--api-url", server.url, "--api-key", "not-a-key", "ls")
    finally:
        server.close()
    expect(10, "--home", "/dev/null/home", "ls")  # the catalog can not be opened: a storage failure

    @handle_errors
    def interrupted() -> None:
        raise KeyboardInterrupt

    with pytest.raises(typer.Exit) as stopped:  # what Ctrl-C in the middle of a command becomes
        interrupted()
    seen[stopped.value.exit_code] = "Ctrl-C"
    assert sorted(seen) == sorted(table), seen


def test_json_failure_prints_one_error_document(cli) -> None:
    missing = cli("--json", "show", "nope", code=3)
    assert json.loads(missing.stdout) == {"error": {
        "type": "ArtifactNotFound", "message": "no artifact named 'nope'", "exit_code": 3,
        "meaning": EXIT_MEANINGS[ExitCode.NOT_FOUND]}}
    assert missing.stderr == "error: no artifact named 'nope'\n"
    bad = cli("--json", "ls", "-s", "size>>1MB", code=2)
    error = json.loads(bad.stdout)["error"]
    assert (error["type"], error["position"], error["query"]) == ("SearchSyntaxError", 5, "size>>1MB")
    assert bad.stderr.splitlines()[1:] == ["  size>>1MB", "       ^"]  # the caret under the second '>'
    assert cli("ls", "-s", "size>>1MB", code=2).stdout == ""  # without --json, nothing on stdout
    usage = cli("--json", "ls", "--limit", "many", code=2)  # click's own usage errors too
    assert json.loads(usage.stdout)["error"]["type"] == "BadParameter" and "--limit" in usage.stderr


# -- gc --------------------------------------------------------------------------------------


def test_gc_says_what_the_grace_period_kept_and_how_to_collect_it(cli, tmp_path: Path) -> None:
    data = tmp_path / "data.bin"
    data.write_bytes(b"x" * 2048)
    cli("push", str(data), "--name", "d")
    cli("rm", "d", "--yes")
    kept = cli("gc").stdout
    assert "deleted 0 blob(s)" in kept
    assert "kept 1 unreferenced blob(s), 2.0 KiB, younger than the grace period (1 h)" in kept
    assert "gc --grace 0" in kept and "PREFECT_ARTIFACTS_GC_GRACE_SECONDS" in kept
    report = json.loads(cli("--json", "gc", "--dry-run").stdout)
    assert (report["blobs_kept_young"], report["bytes_kept_young"], report["grace_seconds"]) == (1, 2048, 3600)
    collected = cli("gc", "--grace", "0").stdout
    assert "deleted 1 blob(s), 2.0 KiB" in collected and "kept" not in collected


# -- start-up --------------------------------------------------------------------------------


def test_help_and_ls_import_only_what_they_use(tmp_path: Path) -> None:
    """`--help` loads no registry, rich or pydantic; `ls` of an embedded home no Prefect, httpx or alembic."""
    probe = ("import sys, io, contextlib\n"
             "from prefect_artifacts._cli.main import app\n"
             "sys.argv = ['prefect-artifacts', *sys.argv[1:]]\n"
             "with contextlib.redirect_stdout(io.StringIO()):\n"
             "    try: app()\n"
             "    except SystemExit: pass\n"
             "heavy = ['prefect', 'sqlalchemy', 'alembic', 'httpx', 'fsspec', 'rich', 'pydantic']\n"
             "print(' '.join(m for m in heavy if m in sys.modules))\n")
    env = {"PREFECT_ARTIFACTS_HOME": str(tmp_path / "home"), "PATH": "/usr/bin:/bin"}

    def loaded(*args: str) -> set[str]:
        out = subprocess.run([sys.executable, "-c", probe, *args], capture_output=True, text=True, env=env,
                             timeout=120, check=True).stdout
        return set(out.split())

    assert loaded("--help") == set()
    loaded("ls")  # a new home: its catalog is created (alembic migrates it)
    assert loaded("ls").isdisjoint({"prefect", "alembic", "httpx"})
