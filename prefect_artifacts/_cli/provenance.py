"""``prefect-artifacts provenance``: show, sign and verify provenance records.

``show`` and ``sign`` read the record from the selected registry; ``verify`` needs no
registry or server: the envelope file, the public key and optionally the content on
local disk. ``verify`` exits 0 when everything matches, 1 when the signature or the
content does not (each problem on stderr), 2 for unusable input (a key that is not an
Ed25519 PEM, a missing file).

Example:
    ```bash
    prefect-artifacts provenance show model:latest
    prefect-artifacts provenance sign model:latest --key signing.pem -o model.provenance.json
    prefect-artifacts provenance verify model.provenance.json --public-key signing.pub.pem --content model/
    ```
"""

import json
import os
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from prefect_artifacts._cli.output import emit_json
from prefect_artifacts._cli.state import EXIT_USAGE, EXIT_VERIFY_FAILED, fail, get_state, handle_errors

provenance_app = typer.Typer(
    help="Signed provenance records of artifacts (in-toto statements in DSSE envelopes).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

Ref = Annotated[str, typer.Argument(
    metavar="REF", help="Artifact reference: id, urn, name, name:3, /folder/name:alias.")]


@provenance_app.command("show")
@handle_errors
def show(ctx: typer.Context, ref: Ref) -> None:
    """Print the provenance record of an artifact as JSON (sorted keys).

    Example:
        ```bash
        prefect-artifacts provenance show /team/models/model:latest
        ```
    """
    record = get_state(ctx).registry().provenance(ref)
    typer.echo(record.to_json(indent=2))


def _write_atomically(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@provenance_app.command("sign")
@handle_errors
def sign(
    ctx: typer.Context,
    ref: Ref,
    key: Annotated[Path | None, typer.Option(
        "--key", help="PEM file of the Ed25519 private key.", show_default=False)] = None,
    secret_block: Annotated[str | None, typer.Option(
        "--secret-block", help="Name of a Prefect Secret block holding the PEM private key.",
        show_default=False)] = None,
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="Write the envelope here (default: stdout).")] = None,
) -> None:
    """Sign the provenance record of an artifact: prints (or writes) a DSSE envelope.

    Example:
        ```bash
        prefect-artifacts provenance sign model:latest --secret-block signing-key -o model.provenance.json
        ```
    """
    from prefect_artifacts.provenance import load_signing_key, public_key_id, sign_provenance

    if (key is None) == (secret_block is None):
        raise fail("give exactly one of --key FILE and --secret-block NAME", EXIT_USAGE)
    private = load_signing_key(key) if key is not None else load_signing_key(secret_block=secret_block)
    state = get_state(ctx)
    record = state.registry().provenance(ref)
    envelope = sign_provenance(record, private)
    text = json.dumps(envelope, indent=2, sort_keys=True) + "\n"
    if output is None:
        typer.echo(text, nl=False)
    else:
        _write_atomically(output, text)
        typer.echo(f"signed {record.predicate['artifact']['ref']} with key {public_key_id(private)}: {output}",
                   err=True)


@provenance_app.command("verify")
@handle_errors
def verify(
    ctx: typer.Context,
    envelope: Annotated[Path, typer.Argument(metavar="FILE", help="The signed envelope (JSON).")],
    public_key: Annotated[Path, typer.Option(
        "--public-key", help="PEM file of the Ed25519 public key.", show_default=False)],
    content: Annotated[Path | None, typer.Option(
        "--content", help="The artifact's content on disk: its file, or its directory.")] = None,
) -> None:
    """Verify a signed provenance record offline, and the content against it when given.

    Example:
        ```bash
        prefect-artifacts provenance verify model.provenance.json --public-key signing.pub.pem --content model/
        ```
    """
    from prefect_artifacts.provenance import ProvenanceVerificationError, load_public_key, verify_provenance

    state = get_state(ctx)
    public = load_public_key(public_key)
    if not envelope.is_file():
        raise fail(f"envelope file {str(envelope)!r} does not exist", EXIT_USAGE)
    if content is not None and not content.exists():
        raise fail(f"content {str(content)!r} does not exist", EXIT_USAGE)
    try:
        record = verify_provenance(envelope, public, content=content)
    except ProvenanceVerificationError as exc:
        if state.json:
            emit_json({"ok": False, "problems": exc.problems})
        for problem in exc.problems:
            typer.echo(f"error: {problem}", err=True)
        raise typer.Exit(EXIT_VERIFY_FAILED) from None
    artifact = record.predicate["artifact"]
    checked = f"; content {content} matches ({len(record.predicate['files'])} file(s))" if content else ""
    if state.json:
        emit_json({"ok": True, "ref": artifact.get("ref"), "urn": artifact.get("urn"),
                   "checksum": artifact.get("checksum"), "contentChecked": content is not None})
    else:
        typer.echo(f"ok: {artifact.get('ref')} ({artifact.get('urn')}) signature verified{checked}")
