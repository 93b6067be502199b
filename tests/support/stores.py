"""Stores for tests on both backends: a fresh SQLite file or a fresh PostgreSQL schema."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from cloudlet.store import Store
from cloudlet.store.sqlite import SQLiteStore
from tests.conftest import PG_URL, require_postgres


@contextmanager
def store_factory(backend: str, tmp_path: Path, *, max_size: int = 12) -> Iterator[Callable[[], Store]]:
    """A factory of stores on one fresh database of `backend` (each call opens another store on
    it: re-opening, or several replicas); all are closed, and a PostgreSQL schema dropped, after."""
    opened: list[Store] = []
    schema = f"t_{uuid.uuid4().hex[:16]}"
    if backend == "postgresql":
        require_postgres()
        from cloudlet.store.postgres import PostgresStore

        def factory() -> Store:
            opened.append(PostgresStore(PG_URL, schema=schema, max_size=max_size))
            return opened[-1]
    else:

        def factory() -> Store:
            opened.append(SQLiteStore(tmp_path / "state.db"))
            return opened[-1]

    try:
        yield factory
    finally:
        for store in opened:
            store.close()
        if backend == "postgresql":
            import psycopg

            with psycopg.connect(PG_URL, autocommit=True) as conn:
                conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
