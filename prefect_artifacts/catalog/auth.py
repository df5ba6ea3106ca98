"""Users, groups, memberships and API keys of a registry server (tables in `schema`).

An API key is ``pa_<id>_<secret>``: 256 random bits shown once; only its SHA-256 is
stored, so a leaked catalog does not leak usable keys. Each user has a default group
(its own, unless given) that owns what it creates; memberships grant read or write.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Connection, and_, delete, insert, select, update

from prefect_artifacts.catalog.engine import EngineQueries, integrity_violation
from prefect_artifacts.catalog.schema import (
    api_keys,
    artifact_files,
    artifact_labels,
    artifacts,
    blob_deletions,
    blob_uploads,
    groups,
    memberships,
    plugin_snapshots,
    snapshot_grants,
    upload_sightings,
    users,
)
from prefect_artifacts.catalog.sql import DEFAULT_GROUP, utcnow
from prefect_artifacts.errors import ArtifactConflict, ArtifactNotFound, InvalidName, PermissionDenied

KEY_PREFIX = "pa_"


def key_id_of(key_or_id: str) -> str:
    """The id of an API key given as its id or as the key itself (``pa_<id>_<secret>``).

    Example:
        ```python
        key_id_of("pa_3f2a9c1b7d04_s3cr3t")  # "3f2a9c1b7d04"
        ```
    """
    return key_or_id[len(KEY_PREFIX):].split("_", 1)[0] if key_or_id.startswith(KEY_PREFIX) else key_or_id
#: Labels that quarantine an artifact's content: nobody comes to possess a blob through it
#: (``corrupt`` is what the verify flow sets on content that no longer matches its checksum).
QUARANTINE_LABELS = ("corrupt", "quarantined")
#: The uploader of reservations (`AuthCatalog.hold_blob`): no user, so they grant no one
#: possession of a blob; they only keep garbage collection off it for its grace period.
RESERVED = ""
#: Seconds after which garbage collection's claim on a blob (`AuthCatalog.claim_deletion`)
#: is taken for a dead collector's: uploads stop waiting for it, other collections take over.
CLAIM_STALE = 300.0
#: Seconds a finished deletion is remembered: longer than any collection runs between
#: listing the store and deleting, and than an upload between its two looks at a blob.
DELETIONS_KEPT = 86400.0
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,63}\Z")


def validate_principal_name(name: str, what: str = "name") -> str:
    """Return ``name`` if it is a valid user or group name, else raise `InvalidName`.

    Example:
        ```python
        validate_principal_name("team-a", "group")
        ```
    """
    if not isinstance(name, str) or not _NAME.match(name):
        raise InvalidName(f"invalid {what} {name!r}: use 1-64 letters, digits, '-', '_' or '.'")
    return name


def hash_key(secret: str) -> str:
    """SHA-256 of an API key, the only form in which keys are stored.

    Example:
        ```python
        hash_key("pa_abc_secret")
        ```
    """
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class User:
    """A user of the server.

    Example:
        ```python
        user = auth.create_user("alice")
        user.default_group_id  # "alice"
        ```
    """

    id: str
    name: str
    is_admin: bool
    default_group_id: str
    created: datetime
    groups: dict[str, bool] = field(default_factory=dict)


@dataclass(frozen=True)
class Group:
    """A group and its members (user name → can write).

    Example:
        ```python
        auth.create_group("team-a").id
        ```
    """

    id: str
    created: datetime
    members: dict[str, bool] = field(default_factory=dict)


@dataclass(frozen=True)
class ApiKey:
    """An API key's public record (its secret is never stored).

    Example:
        ```python
        [k.id for k in auth.list_keys("alice")]
        ```
    """

    id: str
    user_name: str
    name: str | None
    created: datetime
    revoked: datetime | None


@dataclass(frozen=True)
class Principal:
    """Who a request acts as: readable/writable group ids (None: every group).

    Example:
        ```python
        principal.can_write("team-a")
        ```
    """

    user_id: str | None
    user_name: str
    is_admin: bool
    default_group: str
    readable: frozenset[str] | None
    writable: frozenset[str] | None

    def can_read(self, group_id: str | None) -> bool:
        """Whether this principal may read artifacts of ``group_id``.

        Example:
            ```python
            principal.can_read("team-a")
            ```
        """
        return self.readable is None or (group_id or DEFAULT_GROUP) in self.readable

    def can_write(self, group_id: str | None) -> bool:
        """Whether this principal may write artifacts of ``group_id``.

        Example:
            ```python
            principal.can_write("team-a")
            ```
        """
        return self.writable is None or (group_id or DEFAULT_GROUP) in self.writable

    @property
    def uploader(self) -> str:
        """Whose uploads these are: the user's id (``~name`` for a user without one, e.g. anonymous).

        Example:
            ```python
            auth.record_upload(principal.uploader, digest)
            ```
        """
        return self.user_id or f"~{self.user_name}"


#: The principal of a server run with ``--insecure-no-auth``: an admin in ``default``.
ANONYMOUS_ADMIN = Principal(None, "anonymous", True, DEFAULT_GROUP, None, None)


class AuthCatalog(EngineQueries):
    """Queries over the authentication tables, on the catalog's engine.

    Every query runs through `_read` or `_write`, inside `engine.catalog_errors`.

    Example:
        ```python
        auth = AuthCatalog(registry.catalog.engine)
        auth.create_user("alice")
        key_id, secret = auth.create_key("alice")
        auth.authenticate(secret).user_name  # "alice"
        ```
    """

    # groups -----------------------------------------------------------------

    def create_group(self, name: str) -> Group:
        """Create a group (its id is its name).

        Raises:
            ArtifactConflict: the group exists.

        Example:
            ```python
            auth.create_group("team-a")
            ```
        """
        validate_principal_name(name, "group")
        try:
            with self._write() as conn:
                self._insert_group(conn, name)
        except ArtifactConflict as exc:
            if integrity_violation(exc) is None:
                raise
            raise ArtifactConflict(f"group {name!r} already exists") from exc
        return self.get_group(name)

    @staticmethod
    def _insert_group(conn: Connection, name: str) -> None:
        conn.execute(insert(groups), {"id": name, "created": utcnow()})

    def get_group(self, name: str) -> Group:
        """A group and its members.

        Raises:
            ArtifactNotFound: no such group.

        Example:
            ```python
            auth.get_group("team-a").members
            ```
        """
        with self._read() as conn:
            row = conn.execute(select(groups).where(groups.c.id == name)).first()
            if row is None:
                raise ArtifactNotFound(f"no group {name!r}")
            members = conn.execute(
                select(users.c.name, memberships.c.can_write)
                .join(users, users.c.id == memberships.c.user_id)
                .where(memberships.c.group_id == name)
            )
            return Group(row.id, row.created, {m.name: bool(m.can_write) for m in members})

    def list_groups(self) -> list[Group]:
        """Every group, sorted by id.

        Example:
            ```python
            [g.id for g in auth.list_groups()]
            ```
        """
        with self._read() as conn:
            ids = list(conn.scalars(select(groups.c.id).order_by(groups.c.id)))
        return [self.get_group(i) for i in ids]

    def add_member(self, group: str, user: str, write: bool = False) -> None:
        """Add a user to a group (or change its access), read-only unless ``write``.

        Raises:
            ArtifactNotFound: no such user or group.

        Example:
            ```python
            auth.add_member("team-a", "alice", write=True)
            ```
        """
        user_id = self.get_user(user).id
        self.get_group(group)
        with self._write() as conn:
            key = and_(memberships.c.user_id == user_id, memberships.c.group_id == group)
            if conn.execute(update(memberships).where(key).values(can_write=write)).rowcount == 0:
                conn.execute(insert(memberships), {"user_id": user_id, "group_id": group, "can_write": write})

    def remove_member(self, group: str, user: str) -> None:
        """Take a user out of a group (its default group included: it then reads nothing there).

        Raises:
            ArtifactNotFound: no such user, group or membership.

        Example:
            ```python
            auth.remove_member("team-a", "bob")
            ```
        """
        user_id = self.get_user(user).id
        self.get_group(group)
        with self._write() as conn:
            key = and_(memberships.c.user_id == user_id, memberships.c.group_id == group)
            if conn.execute(delete(memberships).where(key)).rowcount == 0:
                raise ArtifactNotFound(f"{user!r} is not a member of {group!r}")

    @staticmethod
    def require_admin(principal: Principal) -> None:
        """Raise `PermissionDenied` unless ``principal`` may administer users, groups and keys.

        Example:
            ```python
            AuthCatalog.require_admin(principal)
            ```
        """
        if not principal.is_admin:
            raise PermissionDenied(f"user {principal.user_name!r} is not an admin: only admins manage users, "
                                   "groups and keys")

    # users ------------------------------------------------------------------

    def create_user(self, name: str, admin: bool = False, default_group: str | None = None) -> User:
        """Create a user with write access to its default group.

        The default group is ``default_group`` (created when missing) or a new group
        named after the user.

        Raises:
            ArtifactConflict: the user exists.

        Example:
            ```python
            auth.create_user("alice", default_group="team-a")
            ```
        """
        validate_principal_name(name, "user name")
        group = validate_principal_name(default_group or name, "group")
        user_id = str(uuid.uuid4())
        try:
            with self._write() as conn:
                if conn.scalar(select(groups.c.id).where(groups.c.id == group)) is None:
                    self._insert_group(conn, group)
                conn.execute(insert(users), {"id": user_id, "name": name, "is_admin": admin,
                                             "default_group_id": group, "created": utcnow()})
                conn.execute(insert(memberships), {"user_id": user_id, "group_id": group, "can_write": True})
        except ArtifactConflict as exc:
            if integrity_violation(exc) is None:
                raise
            raise ArtifactConflict(f"user {name!r} already exists") from exc
        return self.get_user(name)

    def get_user(self, name: str) -> User:
        """A user by name, with its memberships (group → can write).

        Raises:
            ArtifactNotFound: no such user.

        Example:
            ```python
            auth.get_user("alice").groups
            ```
        """
        with self._read() as conn:
            row = conn.execute(select(users).where(users.c.name == name)).first()
            if row is None:
                raise ArtifactNotFound(f"no user {name!r}")
            return self._user(conn, row)

    @staticmethod
    def _user(conn: Connection, row: object) -> User:
        m = row._mapping  # type: ignore[attr-defined]
        rows = conn.execute(select(memberships).where(memberships.c.user_id == m["id"]))
        return User(m["id"], m["name"], bool(m["is_admin"]), m["default_group_id"], m["created"],
                    {r.group_id: bool(r.can_write) for r in rows})

    def list_users(self) -> list[User]:
        """Every user, sorted by name.

        Example:
            ```python
            [u.name for u in auth.list_users()]
            ```
        """
        with self._read() as conn:
            rows = conn.execute(select(users).order_by(users.c.name)).fetchall()
            return [self._user(conn, r) for r in rows]

    # keys -------------------------------------------------------------------

    def create_key(self, user: str, name: str | None = None) -> tuple[str, str]:
        """Create an API key for ``user``; returns ``(key id, secret)``. Show the secret once.

        Example:
            ```python
            key_id, secret = auth.create_key("alice", name="laptop")
            ```
        """
        user_id = self.get_user(user).id
        key_id = secrets.token_hex(6)
        secret = f"{KEY_PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
        with self._write() as conn:
            conn.execute(insert(api_keys), {"id": key_id, "user_id": user_id, "key_hash": hash_key(secret),
                                            "name": name, "created": utcnow(), "revoked": None})
        return key_id, secret

    def revoke_key(self, key_id: str) -> str:
        """Revoke an API key by id (from ``create_key`` or the key's ``pa_<id>_`` prefix); returns the id.

        Raises:
            ArtifactNotFound: no such key.

        Example:
            ```python
            auth.revoke_key(key_id)
            ```
        """
        key_id = key_id_of(key_id)
        with self._write() as conn:
            done = conn.execute(update(api_keys).where(api_keys.c.id == key_id, api_keys.c.revoked.is_(None))
                                .values(revoked=utcnow()))
            if done.rowcount == 0:
                raise ArtifactNotFound(f"no active API key {key_id!r}")
        return key_id

    def list_keys(self, user: str | None = None) -> list[ApiKey]:
        """API keys (all, or one user's), oldest first; secrets are never listed.

        Example:
            ```python
            auth.list_keys("alice")
            ```
        """
        query = select(api_keys, users.c.name.label("user_name")).join(users, users.c.id == api_keys.c.user_id)
        if user is not None:
            query = query.where(users.c.name == user)
        with self._read() as conn:
            rows = conn.execute(query.order_by(api_keys.c.created))
            return [ApiKey(r.id, r.user_name, r.name, r.created, r.revoked) for r in rows]

    def authenticate(self, secret: str) -> Principal | None:
        """The principal of a valid, unrevoked API key, else None.

        Example:
            ```python
            auth.authenticate(request_key)
            ```
        """
        if not secret.startswith(KEY_PREFIX) or len(secret) > 200:
            return None
        with self._read() as conn:
            row = conn.execute(
                select(users).join(api_keys, api_keys.c.user_id == users.c.id)
                .where(api_keys.c.key_hash == hash_key(secret), api_keys.c.revoked.is_(None))
            ).first()
            if row is None:
                return None
            user = self._user(conn, row)
        return self._principal(user)

    @staticmethod
    def _principal(user: User) -> Principal:
        if user.is_admin:
            return Principal(user.id, user.name, True, user.default_group_id, None, None)
        return Principal(user.id, user.name, False, user.default_group_id, frozenset(user.groups),
                         frozenset(g for g, w in user.groups.items() if w))

    def session_key(self, key_id: str) -> tuple[str, Principal] | None:
        """The stored hash and the principal of an unrevoked API key, by id; None when revoked or unknown.

        The web view signs its session cookies with the hash (known only to the server),
        and looks the key up on every request: revoking the key ends its sessions at once.

        Example:
            ```python
            key_hash, principal = auth.session_key(key_id)
            ```
        """
        if not key_id or len(key_id) > 64:
            return None
        with self._read() as conn:
            row = conn.execute(
                select(users, api_keys.c.key_hash.label("session_key_hash"))
                .join(api_keys, api_keys.c.user_id == users.c.id)
                .where(api_keys.c.id == key_id, api_keys.c.revoked.is_(None))
            ).first()
            if row is None:
                return None
            user = self._user(conn, row)
        return row.session_key_hash, self._principal(user)

    # possession: who may build artifacts from which blobs -------------------

    def record_upload(self, uploader: str, digest: str) -> None:
        """Note that ``uploader`` just sent (verified) content ``digest``.

        Example:
            ```python
            auth.record_upload(principal.uploader, digest)
            ```
        """
        key = and_(blob_uploads.c.digest == digest, blob_uploads.c.uploader == uploader)
        try:
            with self._write() as conn:
                if conn.execute(update(blob_uploads).where(key).values(uploaded=utcnow())).rowcount == 0:
                    conn.execute(insert(blob_uploads), {"digest": digest, "uploader": uploader, "uploaded": utcnow()})
        except ArtifactConflict as exc:
            if integrity_violation(exc) is None:
                raise
            # the same upload, recorded concurrently

    def possessed(self, digests: Iterable[str], uploader: str, readable: frozenset[str] | None,
                  since: datetime) -> set[str]:
        """Which of ``digests`` a caller possesses (knowing a digest is not enough).

        A blob is possessed through a live artifact the caller can read (``readable``:
        its groups, None for every group) that carries no `QUARANTINE_LABELS` label, or
        because ``uploader`` uploaded it at or after ``since``.

        Example:
            ```python
            auth.possessed([d1, d2], principal.uploader, principal.readable, utcnow() - timedelta(hours=1))
            ```
        """
        wanted = sorted(set(digests))
        found: set[str] = set()
        quarantined = select(artifact_labels.c.artifact_id).where(
            artifact_labels.c.artifact_id == artifacts.c.id, artifact_labels.c.label.in_(QUARANTINE_LABELS))
        with self._read() as conn:
            for i in range(0, len(wanted), 500):
                batch = wanted[i:i + 500]
                held = (select(artifact_files.c.digest).distinct()
                        .join(artifacts, artifacts.c.id == artifact_files.c.artifact_id)
                        .where(artifact_files.c.digest.in_(batch), artifacts.c.deleted.is_(None),
                               ~quarantined.exists()))
                if readable is not None:
                    held = held.where(artifacts.c.group_id.in_(sorted(readable)))
                found |= set(conn.scalars(held))
                found |= set(conn.scalars(select(blob_uploads.c.digest).where(
                    blob_uploads.c.digest.in_(batch), blob_uploads.c.uploader == uploader,
                    blob_uploads.c.uploaded >= since)))
        return found

    def prune_uploads(self, before: datetime) -> int:
        """Forget uploads older than ``before`` (garbage collection may have taken their blobs).

        Example:
            ```python
            auth.prune_uploads(utcnow() - timedelta(hours=1))
            ```
        """
        with self._write() as conn:
            return conn.execute(delete(blob_uploads).where(blob_uploads.c.uploaded < before)).rowcount or 0

    # garbage collection against uploads in flight, across replicas ----------

    def hold_blob(self, digest: str) -> bool:
        """Reserve a stored blob an upload reuses; whether gc took or is taking it meanwhile.

        The reservation (a `blob_uploads` row of no user, `RESERVED`) is committed
        first, then the blob's deletion record is read: none means any garbage
        collection that claims the blob later sees the reservation and keeps it (for
        its grace period); a deletion under way is waited for (up to `CLAIM_STALE`
        seconds), and True then means "ask the store again: the blob may be gone".
        `ContentStore.hold` calls it through ``reuse_guard``.

        Example:
            ```python
            store.reuse_guard = auth.hold_blob
            ```
        """
        self.record_upload(RESERVED, digest)
        deadline = time.monotonic() + CLAIM_STALE
        while True:
            with self._read() as conn:
                row = conn.execute(select(blob_deletions).where(blob_deletions.c.digest == digest)).first()
            if row is None:
                return False
            if row.finished is not None or row.started < utcnow() - timedelta(seconds=CLAIM_STALE) \
                    or time.monotonic() > deadline:
                return True
            time.sleep(0.02)

    def reserved(self, digests: Iterable[str], since: datetime) -> set[str]:
        """Which of ``digests`` an upload reserved or sent at or after ``since`` (any uploader).

        Example:
            ```python
            auth.reserved(candidates, utcnow() - timedelta(hours=1))
            ```
        """
        wanted = sorted(set(digests))
        found: set[str] = set()
        with self._read() as conn:
            for i in range(0, len(wanted), 500):
                found |= set(conn.scalars(select(blob_uploads.c.digest).distinct().where(
                    blob_uploads.c.digest.in_(wanted[i:i + 500]), blob_uploads.c.uploaded >= since)))
        return found

    def claim_deletion(self, digest: str, listed: datetime) -> bool:
        """Record that garbage collection is about to delete ``digest``; False when it must not.

        Refused while another collection holds the blob (a claim younger than
        `CLAIM_STALE` seconds) or when one deleted it at or after ``listed`` (the time
        the caller listed the store: the blob it saw may have been stored again since).
        The caller then re-checks reservations and references, deletes, and calls
        `finish_deletion`.

        Example:
            ```python
            if auth.claim_deletion(digest, listed_at):
                ...
            ```
        """
        now = utcnow()
        try:
            with self._write() as conn:
                row = conn.execute(select(blob_deletions).where(blob_deletions.c.digest == digest)).first()
                if row is None:
                    conn.execute(insert(blob_deletions), {"digest": digest, "started": now, "finished": None})
                    return True
                if row.finished is None and row.started >= now - timedelta(seconds=CLAIM_STALE):
                    return False
                if (row.finished or row.started) >= listed:
                    return False
                return bool(conn.execute(update(blob_deletions).where(
                    blob_deletions.c.digest == digest, blob_deletions.c.started == row.started,
                ).values(started=now, finished=None)).rowcount)
        except ArtifactConflict as exc:
            if integrity_violation(exc) is None:
                raise
            return False  # another collection claimed it at the same moment

    def finish_deletion(self, digest: str, deleted: bool) -> None:
        """End a claim: the blob was deleted (the record stays a while), or kept (forgotten).

        Example:
            ```python
            auth.finish_deletion(digest, deleted=True)
            ```
        """
        key = blob_deletions.c.digest == digest
        with self._write() as conn:
            if deleted:
                conn.execute(update(blob_deletions).where(key).values(finished=utcnow()))
            else:
                conn.execute(delete(blob_deletions).where(key, blob_deletions.c.finished.is_(None)))

    def prune_deletions(self, before: datetime) -> int:
        """Forget deletions finished before ``before``.

        Example:
            ```python
            auth.prune_deletions(utcnow() - timedelta(days=1))
            ```
        """
        with self._write() as conn:
            return conn.execute(delete(blob_deletions).where(blob_deletions.c.finished < before)).rowcount or 0

    def sight_uploads(self, store: str, uploads: Iterable[tuple[str, str]], now: datetime,
                      record: bool = True) -> dict[tuple[str, str], datetime]:
        """When garbage collection first saw each of a store's unfinished multipart uploads.

        ``uploads`` are the (key, upload id) pairs listed now. With ``record`` those not
        seen before are recorded as first seen ``now``, and the store's rows of uploads no
        longer listed (finished or aborted) are forgotten; without it (a dry run) nothing
        is written and new ones count as seen ``now``.

        Example:
            ```python
            seen = auth.sight_uploads(store.url, [(key, upload_id)], utcnow())
            ```
        """
        listed = set(uploads)
        where = upload_sightings.c.store == store
        for attempt in (1, 2):
            try:
                with self._write() as conn:
                    known = {(r.upload_key, r.upload_id): r.first_seen
                             for r in conn.execute(select(upload_sightings).where(where))}
                    if record:
                        for key, upload_id in (k for k in known if k not in listed):
                            conn.execute(delete(upload_sightings).where(
                                where, upload_sightings.c.upload_key == key, upload_sightings.c.upload_id == upload_id))
                        new = [{"store": store, "upload_key": k, "upload_id": u, "first_seen": now}
                               for k, u in listed if (k, u) not in known]
                        if new:
                            conn.execute(insert(upload_sightings), new)
                return {k: known.get(k, now) for k in listed}
            except ArtifactConflict as exc:  # another gc recorded one at the same moment: read again
                if integrity_violation(exc) is None or attempt == 2:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    # plugin snapshots --------------------------------------------------------

    def grant_snapshot(self, snapshot_id: str, group_id: str) -> None:
        """Let ``group_id`` read a plugin snapshot (its members registered the same code).

        Example:
            ```python
            auth.grant_snapshot(snap.id, "team-b")
            ```
        """
        try:
            with self._write() as conn:
                exists = conn.scalar(select(snapshot_grants.c.group_id).where(
                    snapshot_grants.c.snapshot_id == snapshot_id, snapshot_grants.c.group_id == group_id))
                if exists is None:
                    conn.execute(insert(snapshot_grants), {"snapshot_id": snapshot_id, "group_id": group_id})
        except ArtifactConflict as exc:  # another writer granted the same pair at the same moment: granted
            violation = integrity_violation(exc)
            if violation is None or "unique" not in violation.lower():  # e.g. no such snapshot: a real conflict
                raise

    def snapshot_groups(self, snapshot_id: str) -> set[str]:
        """Groups that may read a plugin snapshot: its owner plus every grant.

        Example:
            ```python
            auth.snapshot_groups(snap.id)
            ```
        """
        with self._read() as conn:
            owner = conn.scalars(select(plugin_snapshots.c.group_id).where(plugin_snapshots.c.id == snapshot_id))
            granted = conn.scalars(select(snapshot_grants.c.group_id).where(
                snapshot_grants.c.snapshot_id == snapshot_id))
            return set(owner) | set(granted)

    def has_users(self) -> bool:
        """Whether any user exists.

        Example:
            ```python
            auth.has_users()
            ```
        """
        with self._read() as conn:
            return conn.scalar(select(users.c.id).limit(1)) is not None
