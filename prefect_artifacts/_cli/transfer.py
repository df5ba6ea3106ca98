"""Downloads for ``pull`` and reads for ``verify``, through the `Registry` interface only.

Every file is written to a ``.part`` sibling and renamed once complete, so an
interrupted or corrupt download never leaves a partial file under its final name.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from prefect_artifacts._cli.progress import ByteProgress
from prefect_artifacts._paths import local_name, safe_relpath
from prefect_artifacts._sizes import human_size
from prefect_artifacts.errors import ArtifactError, InvalidOperation
from prefect_artifacts.models import Artifact, ArtifactFile, BundleType
from prefect_artifacts.registry.base import Registry, select_files
from prefect_artifacts.storage.local_files import write_file

#: ``--output -``: write the content to stdout.
STDOUT = Path("-")


@dataclass
class PullResult:
    """What ``pull`` wrote.

    Example:
        ```python
        PullResult(ref="/default/a:1", output="a.txt", mode="file", files=1, bytes=5)
        ```
    """

    ref: str
    output: str
    mode: str
    files: int = 0
    bytes: int = 0


def write_stream(chunks: Iterable[bytes], target: Path) -> int:
    """Write chunks to ``target`` atomically (``.part`` then rename); returns the byte count.

    ``-`` streams to stdout instead (not atomic: a failure shows in the exit code).

    Example:
        ```python
        write_stream(reg.read("my-data"), Path("out.csv"))
        ```
    """
    if target == STDOUT:
        return _write_stdout(chunks)
    target.parent.mkdir(parents=True, exist_ok=True)
    return write_file(chunks, target)


def _write_stdout(chunks: Iterable[bytes]) -> int:
    stream = sys.stdout.buffer
    written = 0
    for chunk in chunks:
        stream.write(chunk)
        written += len(chunk)
    stream.flush()
    return written


def _target(output: Path | None, default_name: str) -> Path:
    if output is None:
        return Path.cwd() / default_name
    return output / default_name if output.is_dir() else output


def pull(
    reg: Registry, ref: str, bar: ByteProgress, output: Path | None = None, subpath: str | None = None,
    file_type: BundleType | None = None, extract: bool = False,
) -> PullResult:
    """Download an artifact: a file as a file, a directory as a bundle or extracted files.

    Raises:
        InvalidOperation: ``subpath`` or ``file_type`` for a single-file artifact,
            or ``file_type`` together with ``extract``.
        ArtifactNotFound: ``subpath`` matches nothing.

    Example:
        ```python
        pull(reg, "checkpoint", ByteProgress(console, False), extract=True)
        ```
    """
    art = reg.get(ref)
    if extract and file_type is not None:
        raise InvalidOperation("--extract writes files: it takes no --format")
    if extract and output == STDOUT:
        raise InvalidOperation("--extract writes files: it cannot write to stdout ('-')")
    sub = safe_relpath(subpath, "--path") if subpath else None
    if not art.is_dir:
        if sub is not None or file_type is not None:
            raise InvalidOperation(f"{art.ref} is a single file: --path and --format do not apply")
        name = art.files[0].path.rsplit("/", 1)[-1]
        target = (output or Path.cwd()) / name if extract else _target(output, name)
        size = write_stream(bar.track(reg.read(art.id), art.ref, art.size), target)
        return _pulled(reg, PullResult(art.ref, str(target), "file", 1, size), art.id)
    files = select_files(art, reg.files(art.id), sub)
    if extract:
        return _extract(reg, art, files, sub, output or Path.cwd() / local_name(art.name), bar)
    if len(files) == 1 and files[0].path == sub and file_type is None:
        target = _target(output, sub.rsplit("/", 1)[-1])
        size = write_stream(bar.track(reg.read(art.id, path=sub), sub, files[0].size), target)
        return _pulled(reg, PullResult(art.ref, str(target), "file", 1, size), art.id)
    bundle_type = file_type or BundleType.TAR_GZ
    target = _target(output, local_name(art.name) + bundle_type.suffix)
    # a bundle's compressed size is known once it is built: the bar shows bytes and speed, no ETA
    label = f"{art.ref} ({bundle_type.value} of {human_size(sum(f.size or 0 for f in files))})"
    size = write_stream(bar.track(reg.bundle(art.id, bundle_type, sub), label), target)
    return _pulled(reg, PullResult(art.ref, str(target), bundle_type.value, len(files), size), art.id)


def _pulled(reg: Registry, result: PullResult, artifact_id: str) -> PullResult:
    """A streamed pull is a download too: in the artifact's transfer history (not for stdout)."""
    if result.output != str(STDOUT):
        reg._note_download(artifact_id, result.output)
    return result


def _extract(reg: Registry, art: Artifact, files: list[ArtifactFile], sub: str | None, root: Path,
             bar: ByteProgress) -> PullResult:
    written = 0
    with bar.shared(f"{art.ref} ({len(files)} files)", sum(f.size or 0 for f in files)) as advance:

        def count(size: int) -> None:
            nonlocal written
            written += size
            advance(size)

        reg.download_dir(art.id, root, sub, full_paths=True, progress=count)  # refuses symlinks in root
    return PullResult(art.ref, str(root), "extract", len(files), written)


@dataclass
class VerifyReport:
    """Outcome of re-reading every stored file of some artifacts.

    Example:
        ```python
        report = verify(reg, reg.iter(search="label:prod"), bar)
        report.ok
        ```
    """

    artifacts: int = 0
    files: int = 0
    bytes: int = 0
    skipped_references: int = 0
    failures: list[dict[str, str | None]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when nothing was corrupt or unreadable.

        Example:
            ```python
            report.ok
            ```
        """
        return not self.failures


def verify(reg: Registry, artifacts: Iterable[Artifact], bar: ByteProgress, references: bool = True) -> VerifyReport:
    """Read every file of ``artifacts`` through the registry, which verifies digests.

    One bar for the whole run: the artifacts are listed first, so its total is their
    size; a file skipped or failing part-way counts as done, so the bar ends full.

    Example:
        ```python
        report = verify(reg, reg.iter(), ByteProgress(console, False))
        ```
    """
    report = VerifyReport()
    listed = list(artifacts)
    total = sum(a.size or 0 for a in listed)
    with bar.shared(f"Verifying {len(listed)} artifact(s)", total) as advance:
        for art in listed:
            report.artifacts += 1
            for f in reg.files(art.id):
                read = 0
                try:
                    if f.uri is not None and not references:
                        report.skipped_references += 1
                        continue
                    report.files += 1
                    for chunk in reg.read(art.id, path=f.path):
                        read += len(chunk)
                        advance(len(chunk))
                    report.bytes += read
                except ArtifactError as exc:
                    report.bytes += read
                    report.failures.append({"ref": art.ref, "id": art.id, "path": f.path,
                                            "error": type(exc).__name__, "message": exc.message})
                finally:
                    advance(max((f.size or 0) - read, 0))
    return report
