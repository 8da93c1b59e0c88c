"""One writer per ledger: an exclusive ``fcntl`` lock on ``<db>.lock`` for the process lifetime.

The kernel drops the lock when the process dies (even by SIGKILL), so a crash never leaves
a stale lock behind; the pid written into the file only serves the error message.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from gateway.ledger.errors import LedgerAccessError, LedgerLockedError


def lock_path_for(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + ".lock")


class WriterLock:
    """Held from :meth:`acquire` until :meth:`release` (or process exit)."""

    def __init__(self, db_path: Path) -> None:
        self.db_path = db_path
        self.path = lock_path_for(db_path)
        self._fd: int | None = None

    def acquire(self) -> None:
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as err:
            raise LedgerAccessError(
                f"cannot create the ledger lock file {self.path}: {err.strerror}; "
                f"the directory {self.path.parent} must be writable by the gateway user"
            ) from err
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_pid(fd)
            os.close(fd)
            raise LedgerLockedError(
                f"ledger {self.db_path} is in use by another gateway process "
                f"(pid {holder} holds the lock {self.path}); stop that process "
                "or point this one at another database"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def _read_pid(fd: int) -> str:
    text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    return text if text.isdigit() else "unknown"
