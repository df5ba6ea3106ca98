"""INSERTs compiled once and run on the DB-API cursor: the hot path of a new artifact.

SQLAlchemy's execution layer (statement-cache lookup, parameter construction, result
wrapping, events) costs several times what a small SQLite INSERT does, and creating an
artifact runs four or five of them plus BEGIN and COMMIT. These statements are compiled
by SQLAlchemy itself, and their parameters go through the same per-column bind
processors, so the rows are exactly what `sqlalchemy.insert` would have written.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, cast

from sqlalchemy import Table
from sqlalchemy.engine import Dialect
from sqlalchemy.engine.default import DefaultDialect
from sqlalchemy.sql.dml import Insert


class PreparedInsert:
    """One INSERT statement as SQL text with named parameters, plus its bind processing.

    Args:
        statement: the SQLAlchemy insert (may carry subqueries and ``RETURNING``).
        table: the table inserted into; its columns' types convert the parameters.
        dialect: the engine's dialect; parameters are passed by name (``:name`` or ``%(name)s``).

    Example:
        ```python
        ins = PreparedInsert(insert(folders), folders, engine.dialect)
        cursor.execute(ins.sql, ins.params({"path": "/a", "created": now}))
        ```
    """

    def __init__(self, statement: Insert, table: Table, dialect: Dialect) -> None:
        by_name = dialect.paramstyle in ("named", "pyformat")
        # sqlite3 also takes :name (every concrete dialect is a DefaultDialect, which takes paramstyle)
        named = dialect if by_name else cast("type[DefaultDialect]", type(dialect))(paramstyle="named")
        compiled = statement.compile(dialect=named)
        self.sql = str(compiled)
        # Values SQLAlchemy bound itself (literals such as the ``+ 1`` of a subquery).
        self._fixed = {k: v for k, v in compiled.params.items() if v is not None}
        self._processors = {
            c.name: proc for c in table.c
            if (proc := c.type.dialect_impl(dialect).bind_processor(dialect)) is not None
        }

    def params(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """The row's values as the driver expects them (dates, JSON, booleans converted).

        Example:
            ```python
            ins.params({"path": "/a", "created": now})  # {"path": "/a", "created": "2026-…"}
            ```
        """
        procs = self._processors
        return {**self._fixed, **{k: procs[k](v) if k in procs else v for k, v in row.items()}}

    def many(self, rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """`params` of every row, for ``executemany``.

        Example:
            ```python
            cursor.executemany(ins.sql, ins.many(rows))
            ```
        """
        return [self.params(r) for r in rows]
