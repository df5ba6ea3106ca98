"""The search language, compiled to SQLAlchemy expressions over the artifacts table.

Grammar (terms joined by spaces are AND-ed)::

    query   := or ( "OR" or )*
    or      := unary ( ["AND"] unary )*
    unary   := ("NOT" | "-") unary | "(" query ")" | term
    term    := FIELD (":" | "=" | "!=" | ">" | ">=" | "<" | "<=") VALUE | VALUE

Values may be quoted ('…' or "…", backslash escapes); ``*`` and ``?`` are wildcards.
Sizes take units (``size>10MB``, ``size<=2GiB``), dates ISO forms
(``created>=2026-01-01``). A bare word matches name, description or a label.
``meta.<key>[.<key>…]`` matches the content of metadata aspects, ``schema:<urn>`` the
schema name of one (``schema:urn:example:*``); both see only the aspects the caller
may read (their policy). ``latest:true`` keeps only the newest live version of each name.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any

from sqlalchemy import ColumnElement, String, and_, cast, exists, func, not_, or_, true
from sqlalchemy import case as sql_case

from prefect_artifacts.catalog.schema import artifact_labels, artifact_runs, artifacts, aspects
from prefect_artifacts.errors import SearchSyntaxError
from prefect_artifacts.models import GROUP_URN_PREFIX

_OPS = (">=", "<=", "!=", ":", "=", ">", "<")
#: Limits that keep any accepted query compilable (Python recursion, SQLite expression depth).
MAX_DEPTH = 32
MAX_TERMS = 200
_FIELD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_\-]+)*")
_UNITS = {
    "": 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
    "KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40, "K": 2**10, "M": 2**20, "G": 2**30,
}


@dataclass
class _Token:
    kind: str  # WORD, LPAREN, RPAREN
    text: str
    pos: int
    quoted: bool = False
    bare: bool = False  # quoted as a whole: a bare word even if it contains ':'
    offsets: tuple[int, ...] = ()  # the query offset of each character of text (quotes and escapes skipped)


@dataclass
class Term:
    """One ``field op value`` term (``field`` None for a bare word).

    Example:
        ```python
        Term("name", ":", "abc*", 0)
        ```
    """

    field: str | None
    op: str
    value: str
    pos: int
    # The query offset of each character of value (where errors point); not part of the term's meaning.
    value_offsets: tuple[int, ...] = dataclasses.field(default=(), compare=False, repr=False)

    def at(self, index: int = 0) -> int:
        """The query offset of character ``index`` of the value (where an error about it points).

        Example:
            ```python
            parse("size>>1MB").at(0)  # 5: the second '>'
            ```
        """
        if not self.value_offsets:
            return self.pos
        return self.value_offsets[min(index, len(self.value_offsets) - 1)] + (index >= len(self.value_offsets))


@dataclass
class Not:
    """Negation of a node.

    Example:
        ```python
        Not(Term("kind", ":", "file", 4))
        ```
    """

    node: Any


@dataclass
class BoolOp:
    """AND/OR of nodes.

    Example:
        ```python
        BoolOp("and", [t1, t2])
        ```
    """

    op: str
    nodes: list[Any]


def _tokenize(query: str) -> list[_Token]:
    tokens: list[_Token] = []
    i, n = 0, len(query)
    while i < n:
        c = query[i]
        if c.isspace():
            i += 1
        elif c in "()":
            tokens.append(_Token("LPAREN" if c == "(" else "RPAREN", c, i))
            i += 1
        else:
            start = i
            text, quoted, offsets = [], False, []
            while i < n and not query[i].isspace() and query[i] not in "()":
                if query[i] in "\"'":
                    quote, qstart = query[i], i
                    i += 1
                    while i < n and query[i] != quote:
                        if query[i] == "\\" and i + 1 < n:
                            i += 1
                            text.append("\\" + query[i] if query[i] in "*?\\" else query[i])
                        else:
                            text.append(query[i])
                        offsets.extend([i] * len(text[-1]))
                        i += 1
                    if i >= n:
                        raise SearchSyntaxError("unterminated quote", qstart)
                    quoted = True
                    i += 1
                elif query[i] == "\\" and i + 1 < n:
                    text.append("\\" + query[i + 1])
                    offsets.extend([i, i + 1])
                    i += 2
                else:
                    text.append(query[i])
                    offsets.append(i)
                    i += 1
            tokens.append(_Token("WORD", "".join(text), start, quoted, bare=query[start] in "\"'",
                                 offsets=tuple(offsets)))
    return tokens


class _Parser:
    def __init__(self, query: str) -> None:
        self.query = query
        if not query.isascii():
            try:
                query.encode("utf-8")
            except UnicodeEncodeError as exc:  # lone surrogates cannot reach the database
                raise SearchSyntaxError("the query is not valid UTF-8", exc.start) from None
        self.tokens = _tokenize(query)
        self.i = 0
        self.depth = 0  # parentheses and NOTs open around the current term
        self.terms = 0

    def peek(self) -> _Token | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def parse(self) -> Any:
        if not self.tokens:
            return None
        node = self.parse_or()
        tok = self.peek()
        if tok is not None:
            raise SearchSyntaxError(f"unexpected {tok.text!r}", tok.pos)
        return node

    def parse_or(self) -> Any:
        nodes = [self.parse_and()]
        while (tok := self.peek()) and tok.kind == "WORD" and tok.text == "OR" and not tok.quoted:
            self.i += 1
            nodes.append(self.parse_and())
        return nodes[0] if len(nodes) == 1 else BoolOp("or", nodes)

    def parse_and(self) -> Any:
        nodes = [self.parse_unary()]
        while (tok := self.peek()) and tok.kind != "RPAREN" and not (
            tok.text == "OR" and not tok.quoted
        ):
            if tok.text == "AND" and not tok.quoted:
                self.i += 1
            nodes.append(self.parse_unary())
        return nodes[0] if len(nodes) == 1 else BoolOp("and", nodes)

    def parse_unary(self) -> Any:
        self.depth += 1
        try:
            return self._unary()
        finally:
            self.depth -= 1

    def _unary(self) -> Any:
        tok = self.peek()
        if tok is None:
            raise SearchSyntaxError("query ends where a term was expected", len(self.query))
        if self.depth > MAX_DEPTH:  # deeper would overflow Python's stack or SQL's expression depth
            raise SearchSyntaxError(f"query nests more than {MAX_DEPTH} parentheses or NOTs", tok.pos)
        if tok.kind == "LPAREN":
            self.i += 1
            node = self.parse_or()
            close = self.peek()
            if close is None or close.kind != "RPAREN":
                raise SearchSyntaxError("missing ')'", tok.pos)
            self.i += 1
            return node
        if tok.kind == "RPAREN":
            raise SearchSyntaxError("unbalanced ')'", tok.pos)
        after = self.tokens[self.i + 1] if self.i + 1 < len(self.tokens) else None
        if not tok.quoted and tok.text == "-" and after and after.kind == "LPAREN" and after.pos == tok.pos + 1:
            self.i += 1  # "-(a OR b)" negates the group, like "NOT (a OR b)"
            return Not(self.parse_unary())
        if not tok.quoted and tok.text in ("NOT", "AND", "OR"):
            if tok.text != "NOT":
                raise SearchSyntaxError(f"{tok.text} needs a term before it", tok.pos)
            self.i += 1
            return Not(self.parse_unary())
        if not tok.quoted and tok.text.startswith("-") and len(tok.text) > 1:
            self.i += 1
            return Not(self._term(_Token("WORD", tok.text[1:], tok.pos + 1, offsets=tok.offsets[1:])))
        self.i += 1
        return self._term(tok)

    def _term(self, tok: _Token) -> Term:
        self.terms += 1
        if self.terms > MAX_TERMS:  # SQLite refuses expression trees deeper than 1000
            raise SearchSyntaxError(f"query has more than {MAX_TERMS} terms", tok.pos)
        match = None if tok.bare else _FIELD.match(tok.text)
        if match:
            rest = tok.text[match.end():]
            for op in _OPS:
                if rest.startswith(op):
                    value = rest[len(op):]
                    if not value:
                        raise SearchSyntaxError(f"missing value after {match.group(0)}{op}", tok.pos + len(tok.text))
                    start = match.end() + len(op)
                    return Term(match.group(0).lower(), op, value, tok.pos, tok.offsets[start:])
        return Term(None, ":", tok.text, tok.pos, tok.offsets)


def parse(query: str) -> Any:
    """Parse a query into a tree of `Term`, `Not` and `BoolOp` (None when empty).

    Example:
        ```python
        parse("name:abc* -label:tmp")
        ```
    """
    return _Parser(query).parse()


# compilation -------------------------------------------------------------------


def _like_pattern(value: str) -> tuple[str, bool]:
    """Translate wildcards to LIKE; returns (pattern, has_wildcards)."""
    out, wild, i = [], False, 0
    while i < len(value):
        c = value[i]
        if c == "\\" and i + 1 < len(value):
            nxt = value[i + 1]
            out.append("\\" + nxt if nxt in "%_\\" else nxt)
            i += 2
            continue
        if c == "*":
            out.append("%")
            wild = True
        elif c == "?":
            out.append("_")
            wild = True
        elif c in "%_\\":
            out.append("\\" + c)
        else:
            out.append(c)
        i += 1
    return "".join(out), wild


class Compiler:
    """Compiles a parsed query for one SQL dialect.

    Example:
        ```python
        where = Compiler("sqlite").compile("name:abc* size>1MB")
        ```
    """

    def __init__(self, dialect: str, aspect_groups: Sequence[str] | None = None) -> None:
        self.dialect = dialect
        # The caller's groups (None: every group): aspects whose policy names another group
        # are invisible to meta.<key> and schema: terms, as they are to reads.
        self.aspect_groups = aspect_groups
        self.fields: dict[str, Callable[[Term], ColumnElement[bool]]] = {
            "name": lambda t: self._text(artifacts.c.name, t),
            "folder": lambda t: self._text(artifacts.c.folder, t, case=True),
            "description": lambda t: self._text(artifacts.c.description, t, contains=True),
            "mime": lambda t: self._text(artifacts.c.mime_type, t),
            "kind": self._kind,
            "checksum": lambda t: self._text(artifacts.c.checksum, t),
            "id": lambda t: self._text(artifacts.c.id, t),
            "group": lambda t: self._text(artifacts.c.group_id, t),
            "label": self._label,
            "size": lambda t: self._compare(artifacts.c.size, t, _size),
            "version": lambda t: self._compare(artifacts.c.version, t, _integer),
            "created": lambda t: self._when(artifacts.c.created, t),
            "modified": lambda t: self._when(artifacts.c.modified, t),
            "run": lambda t: self._run_link(artifact_runs.c.run_id, t),
            "category": lambda t: self._run_link(artifact_runs.c.category, t),
            "latest": self._latest,
            "schema": self._schema,
        }

    def compile(self, query: str | None) -> ColumnElement[bool]:
        """SQL condition for ``query`` (true for an empty query).

        Example:
            ```python
            select(artifacts).where(Compiler("sqlite").compile("kind:file"))
            ```
        """
        if query and "\x00" in query:  # no catalog text holds NUL (PostgreSQL cannot even bind it)
            raise SearchSyntaxError("NUL character in query", query.index("\x00"))
        tree = parse(query or "")
        return true() if tree is None else self._node(tree)

    def _node(self, node: Any) -> ColumnElement[bool]:
        if isinstance(node, BoolOp):
            parts = [self._node(n) for n in node.nodes]
            return and_(*parts) if node.op == "and" else or_(*parts)
        if isinstance(node, Not):
            return not_(self._node(node.node))
        return self._term(node)

    def _term(self, term: Term) -> ColumnElement[bool]:
        if term.field is None:
            contains = Term(None, ":", f"*{term.value}*", term.pos)
            return or_(
                self._text(artifacts.c.name, contains),
                self._text(artifacts.c.description, contains),
                self._label(contains),
            )
        if term.field.startswith("meta."):
            return self._meta(term)
        handler = self.fields.get(term.field)
        if handler is None:
            known = ", ".join(sorted([*self.fields, "meta.<key>"]))
            raise SearchSyntaxError(f"unknown field {term.field!r} (known: {known})", term.pos)
        return handler(term)

    def _like(self, column: Any, pattern: str, case: bool = False) -> ColumnElement[bool]:
        if case and self.dialect == "sqlite":  # SQLite LIKE ignores ASCII case; GLOB does not
            return column.op("GLOB")(_like_to_glob(pattern))
        if case or self.dialect == "sqlite":  # SQLite LIKE is case-insensitive for ASCII
            return column.like(pattern, escape="\\")
        return func.lower(column).like(pattern.lower(), escape="\\")  # matches the index expression

    def _text(self, column: Any, term: Term, case: bool = False, contains: bool = False) -> ColumnElement[bool]:
        if term.op not in (":", "=", "!="):
            raise SearchSyntaxError(f"{term.field} does not support {term.op!r}", term.pos + len(term.field or ""))
        value = term.value
        if contains and term.field is not None and not _like_pattern(value)[1]:  # an escaped star is no wildcard
            value = f"*{value}*"
        pattern, wild = _like_pattern(value)
        cond = self._like(column, pattern, case) if wild or not case else column == value
        if column.nullable:  # false, not NULL, for a missing value: so NOT and != keep that row
            cond = and_(column.is_not(None), cond)
        return not_(cond) if term.op == "!=" else cond

    def _kind(self, term: Term) -> ColumnElement[bool]:
        pattern, wild = _like_pattern(term.value)
        if wild or term.op not in (":", "=", "!="):
            return self._text(artifacts.c.kind, term)
        # Kinds are stored lower-case: an exact term is an equality, not a LIKE over every row.
        cond = artifacts.c.kind == _literal(term.value).lower()
        return not_(cond) if term.op == "!=" else cond

    def _label(self, term: Term) -> ColumnElement[bool]:
        pattern, _ = _like_pattern(term.value)
        cond = exists().where(
            artifact_labels.c.artifact_id == artifacts.c.id,
            self._like(artifact_labels.c.label, pattern),
        )
        return not_(cond) if term.op == "!=" else cond

    def _run_link(self, column: Any, term: Term) -> ColumnElement[bool]:
        pattern, _ = _like_pattern(term.value)
        cond = exists().where(artifact_runs.c.artifact_id == artifacts.c.id, self._like(column, pattern))
        return not_(cond) if term.op == "!=" else cond

    def _compare(self, column: Any, term: Term, convert: Callable[[Term], Any]) -> ColumnElement[bool]:
        value = convert(term)
        ops: dict[str, Callable[[], ColumnElement[bool]]] = {
            ":": lambda: column == value, "=": lambda: column == value,
            "!=": lambda: column != value, ">": lambda: column > value,
            ">=": lambda: column >= value, "<": lambda: column < value, "<=": lambda: column <= value,
        }
        return ops[term.op]()

    def _when(self, column: Any, term: Term) -> ColumnElement[bool]:
        start, end = _date_range(term)
        ops: dict[str, ColumnElement[bool]] = {
            ":": and_(column >= start, column < end), "=": and_(column >= start, column < end),
            "!=": or_(column < start, column >= end), ">": column >= end, ">=": column >= start,
            "<": column < start, "<=": column < end,
        }
        return ops[term.op]

    def _latest(self, term: Term) -> ColumnElement[bool]:
        if term.op not in (":", "=") or term.value.lower() not in ("true", "false"):
            raise SearchSyntaxError("latest takes true or false (latest:true)", term.at())
        newer = artifacts.alias("newer")
        cond = ~exists().where(
            newer.c.folder == artifacts.c.folder, newer.c.name == artifacts.c.name,
            newer.c.deleted.is_(None), newer.c.version > artifacts.c.version,
        )
        return cond if term.value.lower() == "true" else not_(cond)

    def _meta(self, term: Term) -> ColumnElement[bool]:
        keys = tuple(term.field.split(".")[1:])  # type: ignore[union-attr]
        element = aspects.c.content[keys if len(keys) > 1 else keys[0]]
        if term.op in (":", "=", "!="):
            pattern, wild = _like_pattern(term.value)
            text = element.as_string()
            if self.dialect == "sqlite":  # SQLAlchemy 2.0 leaves JSON_EXTRACT's number a number: 1 != '1'
                text = cast(text, String)
            cond: ColumnElement[bool] = self._like(text, pattern) if wild else text == term.value
            if term.value.lower() in ("true", "false") and self.dialect == "sqlite":  # SQLite extracts true as 1
                cond = or_(cond, self._json_type(keys) == term.value.lower())
        else:  # only JSON numbers compare: a string or boolean cast to a number must not match
            number = sql_case((self._json_type(keys).in_(("integer", "real", "number")), element.as_float()))
            cond = self._compare(number, term, _number)
        found = exists().where(aspects.c.artifact_id == artifacts.c.id, cond, self._visible_aspect())
        return not_(found) if term.op == "!=" else found

    def _visible_aspect(self) -> ColumnElement[bool]:
        """Aspects the caller reads: a policy naming no group (none, or a label), or one of its groups."""
        if self.aspect_groups is None:
            return true()
        return or_(aspects.c.policy.is_(None),
                   not_(aspects.c.policy.startswith(GROUP_URN_PREFIX, autoescape=True)),
                   aspects.c.policy.in_([GROUP_URN_PREFIX + g for g in self.aspect_groups]))

    def _schema(self, term: Term) -> ColumnElement[bool]:
        """``schema:<name or URN>``: artifacts with an aspect of that schema (``*``/``?`` wildcards)."""
        if term.op not in (":", "=", "!="):
            raise SearchSyntaxError(f"schema does not support {term.op!r}", term.pos + len("schema"))
        pattern, _ = _like_pattern(term.value)
        cond = exists().where(aspects.c.artifact_id == artifacts.c.id, aspects.c.schema_name.is_not(None),
                              self._like(aspects.c.schema_name, pattern, case=True), self._visible_aspect())
        return not_(cond) if term.op == "!=" else cond

    def _json_type(self, keys: tuple[str, ...]) -> Any:
        if self.dialect == "sqlite":
            return func.json_type(aspects.c.content, "$" + "".join(f'."{k}"' for k in keys))
        return func.json_typeof(aspects.c.content[keys if len(keys) > 1 else keys[0]])


def _literal(value: str) -> str:
    """A term value without wildcards as the literal it means (backslash escapes resolved)."""
    return re.sub(r"\\(.)", r"\1", value)


def _like_to_glob(pattern: str) -> str:
    """Translate a LIKE pattern (backslash escapes) to a case-sensitive SQLite GLOB pattern."""
    out, i = [], 0
    while i < len(pattern):
        c, i = pattern[i], i + 1
        if c == "\\" and i < len(pattern):
            c, i = pattern[i], i + 1
        elif c in "%_":
            out.append("*" if c == "%" else "?")
            continue
        out.append(f"[{c}]" if c in "*?[" else c)
    return "".join(out)


def _integer(term: Term) -> int:
    try:
        value = int(term.value)
    except ValueError:
        raise SearchSyntaxError(f"{term.field} needs an integer, not {term.value!r}", term.at()) from None
    if not -(2**63) <= value < 2**63:  # beyond what SQL integers hold
        raise SearchSyntaxError(f"{term.field} value {term.value!r} is out of range", term.at())
    return value


def _number(term: Term) -> float:
    try:
        return float(term.value)
    except ValueError:
        raise SearchSyntaxError(f"{term.field} needs a number, not {term.value!r}", term.at()) from None


def _size(term: Term) -> int:
    match = re.fullmatch(r"([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]*)", term.value)
    unit = match.group(2).upper() if match else None
    if not match or unit not in _UNITS:
        number = re.match(r"[0-9]+(?:\.[0-9]+)?\s*", term.value)  # the error points past a valid number
        raise SearchSyntaxError(f"invalid size {term.value!r} (e.g. 10MB, 2GiB, 4096)",
                                term.at(number.end() if number else 0))
    size = float(match.group(1)) * _UNITS[unit]
    if not size < 2**63:  # beyond what SQL integers hold (or infinite)
        raise SearchSyntaxError(f"size {term.value!r} is out of range", term.at())
    return int(size)


def _date_range(term: Term) -> tuple[datetime, datetime]:
    value = term.value
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            day = date.fromisoformat(value)
            start = datetime(day.year, day.month, day.day, tzinfo=timezone.utc)
            return start, start + timedelta(days=1)
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        moment = moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)
        return moment, moment + timedelta(microseconds=1)
    except (ValueError, OverflowError):  # OverflowError: the range ends past year 9999
        raise SearchSyntaxError(
            f"invalid date {value!r} (use 2026-01-31 or 2026-01-31T12:00:00)", term.at()
        ) from None


def compile_search(query: str | None, dialect: str, aspect_groups: Sequence[str] | None = None) -> ColumnElement[bool]:
    """Compile a search query into a WHERE condition for ``dialect``.

    ``aspect_groups`` (the caller's groups; None: all) hides from ``meta.``/``schema:``
    terms the aspects whose policy names another group.

    Example:
        ```python
        cond = compile_search("label:prod size>1MB", "sqlite")
        ```
    """
    return Compiler(dialect, aspect_groups).compile(query)

