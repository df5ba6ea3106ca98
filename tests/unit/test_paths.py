"""Accept/reject tables for names, labels, aliases, folders, in-artifact paths and refs."""

from __future__ import annotations

import pytest

from prefect_artifacts._paths import (
    ParsedRef,
    dir_prefix,
    normalize_folder,
    object_path,
    parent_folders,
    parse_ref,
    posix_join,
    safe_relpath,
    validate_alias,
    validate_labels,
    validate_name,
)
from prefect_artifacts.errors import InvalidArtifactInput, InvalidName, UnsafePath

TRAVERSAL = [
    "../x",
    "a/../../x",
    "..",
    "a/..",
    "/abs",
    "/",
    "C:\\x",
    "C:x",
    "c:/x",
    "a\\b",
    "..\\x",
    "a\x00b",
    "\x00",
    "",
    ".",
    "./",
    "./.",
    "//",
]


@pytest.mark.parametrize("name", ["a", "my-data", "My_Data.v2", "_x", "0", "a b", "x" * 128, "a.b-c_d e"])
def test_validate_name_accepts(name: str) -> None:
    assert validate_name(name) == name


@pytest.mark.parametrize(
    "name",
    [
        "",
        " ",
        "a/b",
        "a:b",
        "../x",
        "..",
        ".",
        ".hidden",
        "-x",
        "x" * 129,
        "a ",
        "a.",
        "a\x00",
        "a\\b",
        "a\nb",
        "é",
        None,
        3,
        "a*b",
        "a?b",
        "a%b",
    ],
)
def test_validate_name_rejects(name: object) -> None:
    with pytest.raises(InvalidName):
        validate_name(name)  # type: ignore[arg-type]


def test_validate_labels() -> None:
    assert validate_labels(["a", "b", "a", "k=v", "team/x", "ns:tag"]) == ["a", "b", "k=v", "team/x", "ns:tag"]
    assert validate_labels(()) == []


@pytest.mark.parametrize("labels", ["abc", None, [""], ["a\x00"], ["x" * 129], [1], ["a\nb"], ["é"], ["a,b"]])
def test_validate_labels_rejects(labels: object) -> None:
    with pytest.raises(InvalidName):
        validate_labels(labels)


@pytest.mark.parametrize("alias", ["production", "p", "stage-1", "a.b_c"])
def test_validate_alias_accepts(alias: str) -> None:
    assert validate_alias(alias) == alias


@pytest.mark.parametrize("alias", ["", "1", "v1", "v", "3abc", "-x", "a/b", "a:b", "a b", "x" * 65, "..", None])
def test_validate_alias_rejects(alias: object) -> None:
    if alias == "v":
        assert validate_alias("v") == "v"  # 'v' alone is a name, not a version
        return
    with pytest.raises(InvalidName):
        validate_alias(alias)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("folder", "expected"),
    [
        (None, "/default"),
        ("/", "/"),
        ("", "/"),
        ("team", "/team"),
        ("/team/data/", "/team/data"),
        ("a//b", "/a/b"),
        ("./a/./b", "/a/b"),
        ("/a b/c", "/a b/c"),
    ],
)
def test_normalize_folder_accepts(folder: str | None, expected: str) -> None:
    assert normalize_folder(folder) == expected


@pytest.mark.parametrize(
    ("folder", "error"),
    [
        ("/a/../b", UnsafePath),
        ("..", UnsafePath),
        ("a\\b", UnsafePath),
        ("C:\\x", UnsafePath),
        ("/a\x00", UnsafePath),
        (3, UnsafePath),
        ("/a:b", InvalidName),
        ("/.hidden", InvalidName),
        ("/a/-x", InvalidName),
    ],
)
def test_normalize_folder_rejects(folder: object, error: type[Exception]) -> None:
    with pytest.raises(error):
        normalize_folder(folder)  # type: ignore[arg-type]


def test_parent_folders() -> None:
    assert parent_folders("/a/b") == ["/", "/a", "/a/b"]
    assert parent_folders("/") == ["/"]


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("a", "a"),
        ("./a//b.txt", "a/b.txt"),
        ("a/b/", "a/b"),
        ("a/./b", "a/b"),
        ("...", "..."),
        ("a..b", "a..b"),
        ("..a", "..a"),
        ("a/ b", "a/ b"),
        ("é/ü.txt", "é/ü.txt"),
    ],
)
def test_safe_relpath_accepts(path: str, expected: str) -> None:
    assert safe_relpath(path) == expected


@pytest.mark.parametrize("path", [*TRAVERSAL, None, b"a", "\udcff.txt", "a/\udcfe"])
def test_safe_relpath_rejects(path: object) -> None:
    with pytest.raises(UnsafePath):
        safe_relpath(path)  # type: ignore[arg-type]
    # UnsafePath is an input error, catchable as ValueError
    assert issubclass(UnsafePath, InvalidArtifactInput) and issubclass(UnsafePath, ValueError)


@pytest.mark.parametrize(
    ("obj_path", "base", "expected"),
    [
        (None, "1.png", "1.png"),
        ("", "1.png", "1.png"),
        (".", "1.png", "1.png"),
        ("a/", "1.png", "a/1.png"),
        ("a/b/", "1.png", "a/b/1.png"),
        ("a/x.png", "1.png", "a/x.png"),
        ("x", "1.png", "x"),
    ],
)
def test_object_path_rules(obj_path: str | None, base: str, expected: str) -> None:
    assert object_path(obj_path, base) == expected


@pytest.mark.parametrize("obj_path", ["../", "../x", "a/../../", "/abs/", "/abs", "C:\\x", "a\\b/", "a\x00/"])
def test_object_path_rejects(obj_path: str) -> None:
    with pytest.raises(UnsafePath):
        object_path(obj_path, "1.png")


@pytest.mark.parametrize("basename", ["..", "../x", "/etc/passwd", "a\\b"])
def test_object_path_rejects_unsafe_basename(basename: str) -> None:
    with pytest.raises(UnsafePath):
        object_path(None, basename)
    if basename.startswith("/"):  # under a prefix an absolute basename stays inside it
        assert object_path("dir/", basename) == "dir/etc/passwd"
    else:
        with pytest.raises(UnsafePath):
            object_path("dir/", basename)


@pytest.mark.parametrize(
    ("obj_path", "expected"),
    [(None, "plots"), ("", ""), (".", ""), ("b/", "b/plots"), ("b/renamed", "b/renamed")],
)
def test_dir_prefix(obj_path: str | None, expected: str) -> None:
    assert dir_prefix(obj_path, "plots") == expected


@pytest.mark.parametrize("obj_path", ["../", "/abs/", "..", "C:\\"])
def test_dir_prefix_rejects(obj_path: str) -> None:
    with pytest.raises(UnsafePath):
        dir_prefix(obj_path, "plots")


def test_posix_join() -> None:
    assert posix_join("", "a", "b.txt") == "a/b.txt"
    assert posix_join("", "b.txt") == "b.txt"


UUID = "12345678-1234-5678-1234-567812345678"


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        (UUID, ParsedRef(id=UUID)),
        (UUID.upper(), ParsedRef(id=UUID)),
        (f"urn:prefect-artifacts:{UUID}", None),  # filled below from URN_PREFIX
        ("name", ParsedRef(name="name", alias="latest")),
        (" name ", ParsedRef(name="name", alias="latest")),
        ("name:3", ParsedRef(name="name", version=3)),
        ("name:v3", ParsedRef(name="name", version=3)),
        ("name:latest", ParsedRef(name="name", alias="latest")),
        ("name:prod", ParsedRef(name="name", alias="prod")),
        ("/team/data:2", ParsedRef(folder="/team", name="data", version=2)),
        ("/data:prod", ParsedRef(folder="/", name="data", alias="prod")),
        ("team/sub/data", ParsedRef(folder="/team/sub", name="data", alias="latest")),
    ],
)
def test_parse_ref_accepts(ref: str, expected: ParsedRef | None) -> None:
    from prefect_artifacts.models import URN_PREFIX

    if expected is None:
        ref = URN_PREFIX + UUID
        expected = ParsedRef(id=UUID)
    assert parse_ref(ref) == expected


@pytest.mark.parametrize(
    ("ref", "error"),
    [
        ("", InvalidName),
        ("   ", InvalidName),
        (None, InvalidName),
        ("a/../b", UnsafePath),
        ("../b", UnsafePath),
        ("a:b:c", InvalidName),
        ("a:", InvalidName),
        (":3", InvalidName),
        ("a:-1", InvalidName),
        ("a\\b", InvalidName),
        ("/a\x00/b", UnsafePath),
        ("a/", InvalidName),
        ("a:b c", InvalidName),
    ],
)
def test_parse_ref_rejects(ref: object, error: type[Exception]) -> None:
    with pytest.raises(error):
        parse_ref(ref)  # type: ignore[arg-type]
