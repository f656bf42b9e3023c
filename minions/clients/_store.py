"""A bounded key-value store in one SQLite file, evicting the least recently used.

What the response cache (:mod:`minions.clients.cache`) and llama.cpp's saved states
(:mod:`minions.clients.llamacpp`) keep on disk. It is shared by the threads and the
processes of one machine (Ray workers included): the database runs in WAL mode, so
readers never wait for a writer, every write is one short ``BEGIN IMMEDIATE``
transaction, and a writer waits up to ``busy_timeout`` for another. Each thread of
each process opens its own connection. Not for network file systems, where SQLite's
locks do not hold.

A cache must never fail a run: a store that cannot be opened or written logs a
warning and answers as if it were empty.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterable
from pathlib import Path

logger = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 30_000
#: the threads of this process make a file ready one at a time
_SETUP = threading.Lock()
#: the value of a cache's folder variable that turns the cache off
OFF = "off"


def cache_folder(env_var: str, name: str) -> Path | None:
    """Where a cache lives: ``$env_var``, else ``name`` in the cache dir
    (:func:`minions.models.cache_dir`, beside the model packs); None when the variable
    is ``off``."""
    from minions import models

    configured = os.environ.get(env_var, "").strip()
    if configured.lower() == OFF:
        return None
    if configured:
        return Path(configured).expanduser()
    return models.cache_dir() / name


_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    key TEXT PRIMARY KEY,
    scope TEXT NOT NULL,
    meta BLOB NOT NULL,
    value BLOB NOT NULL,
    size INTEGER NOT NULL,
    used REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS entries_used ON entries (used);
CREATE INDEX IF NOT EXISTS entries_scope ON entries (scope);
"""


class LruStore:
    """``key -> value`` bytes in ``path``, at most ``max_bytes`` of values and metadata.

    ``scope`` groups entries that :meth:`scan` lists with their (small) ``meta``
    without reading the values. Reading or writing an entry makes it the most
    recently used; a write beyond the bound evicts the least recently used entries.
    """

    def __init__(self, path: Path, max_bytes: int) -> None:
        self.path = Path(path)
        self.max_bytes = max_bytes
        self._local = threading.local()
        self._broken = False

    def __repr__(self) -> str:
        return f"<LruStore {self.path} max_bytes={self.max_bytes}>"

    # --- connections -----------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        """A new connection, the file made ready for it. Turning a new file to WAL
        mode can be refused as busy without waiting (SQLite does not call its busy
        handler there), when another thread or process opens it at the same moment:
        that is retried until ``busy_timeout``."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
        while True:
            try:
                with _SETUP:
                    return self._open()
            except sqlite3.OperationalError as exc:
                busy = "locked" in str(exc) or "busy" in str(exc)
                if not busy or time.monotonic() > deadline:
                    raise
            time.sleep(0.02)

    def _open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        try:
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":  # a new file
                conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
                conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")  # a cache may lose its last writes
            conn.executescript(_SCHEMA)
        except BaseException:
            conn.close()
            raise
        return conn

    def _conn(self) -> sqlite3.Connection | None:
        """This thread's connection (a new one after a fork); None once the store
        failed to open."""
        if self._broken:
            return None
        held = getattr(self._local, "conn", None)
        if held is not None and self._local.pid == os.getpid():
            return held
        try:
            conn = self._connect()
        except (sqlite3.Error, OSError) as exc:
            logger.warning(
                "cache %s cannot be opened (%s); going on without it. Delete the file, "
                "or point the cache at another folder, to use it again",
                self.path, exc,
            )  # fmt: skip
            self._broken = True
            return None
        self._local.conn, self._local.pid = conn, os.getpid()
        return conn

    def _failed(self, what: str, exc: Exception) -> None:
        logger.warning("cache %s: %s failed (%s); treated as a miss", self.path, what, exc)

    # --- reading ---------------------------------------------------------------------

    def get(self, key: str) -> bytes | None:
        """The value of ``key`` (now the most recently used), or None."""
        conn = self._conn()
        if conn is None:
            return None
        try:
            row = conn.execute("SELECT value FROM entries WHERE key = ?", (key,)).fetchone()
            if row is not None:
                conn.execute("UPDATE entries SET used = ? WHERE key = ?", (time.time(), key))
        except sqlite3.Error as exc:
            self._failed("a read", exc)
            return None
        return None if row is None else bytes(row[0])

    def __contains__(self, key: str) -> bool:
        conn = self._conn()
        if conn is None:
            return False
        try:
            row = conn.execute("SELECT 1 FROM entries WHERE key = ?", (key,)).fetchone()
        except sqlite3.Error as exc:
            self._failed("a read", exc)
            return False
        return row is not None

    def scan(self, scope: str) -> list[tuple[str, bytes]]:
        """``(key, meta)`` of every entry in ``scope``."""
        conn = self._conn()
        if conn is None:
            return []
        try:
            rows = conn.execute("SELECT key, meta FROM entries WHERE scope = ?", (scope,))
            return [(key, bytes(meta)) for key, meta in rows]
        except sqlite3.Error as exc:
            self._failed("a scan", exc)
            return []

    def usage(self) -> tuple[int, int]:
        """``(entries, bytes)`` held now."""
        conn = self._conn()
        if conn is None:
            return 0, 0
        query = "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM entries"
        count, size = conn.execute(query).fetchone()
        return int(count), int(size)

    # --- writing ---------------------------------------------------------------------

    def put(self, key: str, value: bytes, *, scope: str = "", meta: bytes = b"") -> bool:
        """Store ``value`` under ``key``, evicting the least recently used entries
        beyond the bound. False when it was not stored (larger than the bound, or
        the write failed)."""
        size = len(value) + len(meta)
        conn = self._conn()
        if conn is None or size > self.max_bytes:
            return False
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.execute(
                    "INSERT OR REPLACE INTO entries VALUES (?, ?, ?, ?, ?, ?)",
                    (key, scope, meta, value, size, time.time()),
                )
                evicted = self._evict(conn, keep=key)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            if evicted:
                conn.execute("PRAGMA incremental_vacuum")
        except sqlite3.Error as exc:
            self._failed("a write", exc)
            return False
        return True

    def _evict(self, conn: sqlite3.Connection, keep: str) -> int:
        (total,) = conn.execute("SELECT COALESCE(SUM(size), 0) FROM entries").fetchone()
        excess = int(total) - self.max_bytes
        if excess <= 0:
            return 0
        victims: list[str] = []
        for key, size in conn.execute("SELECT key, size FROM entries ORDER BY used, key"):
            if excess <= 0:
                break
            if key != keep:
                victims.append(key)
                excess -= size
        self._delete(conn, victims)
        logger.debug("cache %s: evicted %d entries", self.path, len(victims))
        return len(victims)

    @staticmethod
    def _delete(conn: sqlite3.Connection, keys: Iterable[str]) -> None:
        conn.executemany("DELETE FROM entries WHERE key = ?", ((k,) for k in keys))

    def delete(self, keys: Iterable[str]) -> None:
        """Remove ``keys`` (missing ones are ignored)."""
        conn = self._conn()
        if conn is None:
            return
        try:
            conn.execute("BEGIN IMMEDIATE")
            self._delete(conn, keys)
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            self._failed("a delete", exc)

    def clear(self) -> None:
        """Remove every entry."""
        conn = self._conn()
        if conn is not None:
            conn.execute("DELETE FROM entries")
            conn.execute("PRAGMA incremental_vacuum")
