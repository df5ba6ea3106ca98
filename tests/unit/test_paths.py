"""Accept/reject tables for names, labels, aliases, folders, in-artifact paths and refs."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from prefect_artifacts._paths import (
    ParsedRef,
    artifact_ref,
    dir_prefix,
    local_name,
    normalize_folder,
    object_path,
    parent_folders,
    parse_ref,
    posix_join,
    quote_name,
    safe_relpath,
    validate_alias,
    validate_component,
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


@pytest.mark.parametrize("name", ["a", "my-data", "My_Data.v2", "_x", "0", "a b", "x" * 128, "a.b-c_d e",
                                  " ", "a/b", "a:b", "../x", "..", ".", "-x", "a ", "a.", "a\nb"])
def test_validate_name_accepts(name: str) -> None:
    assert validate_name(name) == name


@pytest.mark.parametrize("name", ["", "x" * 129, "a\x00", "a\\b", "é", None, 3, "a*b", "a?b", "a%b", "a;b"])
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


#: Everything seed 000's name pattern ``^[a-zA-Z0-9\\-\\_\\s\\/\\.:]+$`` accepts, up to 128 characters.
SEED_NAME = st.text(st.sampled_from("aZ09-_/.: \t\n\r\x0b\x0c\u00a0\u2003\u3000"), min_size=1, max_size=128)


@given(name=SEED_NAME, folder=st.sampled_from([None, "/", "/team", "/a/b c"]),
       tag=st.sampled_from([None, 1, 42, "latest", "prod"]))
def test_every_seed_name_round_trips_through_its_ref(name: str, folder: str | None, tag: int | str | None) -> None:
    assert validate_name(name) == name
    parsed = parse_ref(artifact_ref(folder, name, tag))
    assert (parsed.id, parsed.name, parsed.folder) == (None, name, folder)
    assert parsed.version == (tag if isinstance(tag, int) else None)
    assert parsed.alias == (tag if isinstance(tag, str) else "latest" if tag is None else None)


@pytest.mark.parametrize(("name", "quoted"), [
    ("plain-name_1.2", "plain-name_1.2"), ("with space", "with space"), ("a:b", "a%3Ab"),
    ("run:1/out.csv", "run%3A1%2Fout.csv"), (" lead", "%20lead"), ("trail ", "trail%20"), ("   ", "%20%20%20"),
    ("tab\tname", "tab%09name"), (".hidden", ".hidden"),
])
def test_quote_name_escapes_only_what_is_ambiguous(name: str, quoted: str) -> None:
    assert quote_name(name) == quoted


def test_a_uuid_name_is_not_read_as_an_id() -> None:
    uuid_name = "550e8400-e29b-41d4-a716-446655440000"
    assert parse_ref(uuid_name).id == uuid_name  # the bare form is the id
    assert parse_ref(artifact_ref(None, uuid_name)) == ParsedRef(name=uuid_name, alias="latest")
    assert parse_ref(artifact_ref("/f", uuid_name)) == ParsedRef(folder="/f", name=uuid_name, alias="latest")


@pytest.mark.parametrize("ref", ["a%ff", "a%c3", "/f/%e9:1"])
def test_a_ref_whose_escapes_are_not_utf8_is_refused(ref: str) -> None:
    with pytest.raises(InvalidName, match="bad %-escape"):
        parse_ref(ref)


@pytest.mark.parametrize(("name", "local"), [
    ("run:1/out.csv", "run_1_out.csv"), ("..", "artifact"), (".", "artifact"), ("   ", "artifact"),
    ("a/../b", "a_.._b"), (".hidden", ".hidden"), ("tab\tx", "tab_x"),
])
def test_local_name_is_one_safe_path_component(name: str, local: str) -> None:
    assert local_name(name) == local
    assert "/" not in local and local not in (".", "..")


def test_a_relative_folder_is_the_users() -> None:
    assert normalize_folder("data", user="alice") == "/alice/data"
    assert normalize_folder("/data", user="alice") == "/data"
    assert normalize_folder(None, user="alice") == "/default"
    assert normalize_folder("data") == "/data"  # no user: from the root, as references read


@pytest.mark.parametrize("component", ["a:b", ".hidden", "-x", "a/b", "trail.", ""])
def test_folder_components_stay_strict(component: str) -> None:
    with pytest.raises(InvalidName):
        validate_component(component)
