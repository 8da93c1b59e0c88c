"""What can go wrong with the ledger, as exceptions a facility manager can act on.

::

    LedgerError
    ├── LedgerAccessError     the file or directory cannot be opened/created (path, errno)
    ├── LedgerLockedError     another gateway process holds <db>.lock (names the pid)
    ├── LedgerVersionError    the database was written by a newer schema (names the version)
    ├── LedgerKeyError        a key file is missing, unreadable, too open or not the recorded key
    ├── LedgerEntryError      an entry cannot be written as given (not JSON, unknown party)
    └── LedgerWriteError      SQLite refused a round; nothing of it was written
        ├── LedgerFullError   disk full or the configured size limit reached
        └── LedgerBusyError   another connection kept the database locked too long

Every write error leaves the ledger exactly as it was before the failed call.
"""

from __future__ import annotations


class LedgerError(Exception):
    """Base of every ledger error."""


class LedgerAccessError(LedgerError):
    """The database, its directory or its lock file cannot be opened or created."""


class LedgerLockedError(LedgerError):
    """Another gateway process has the database open for writing."""


class LedgerVersionError(LedgerError):
    """The database needs a newer gateway (or is not a ledger at all)."""


class LedgerKeyError(LedgerError):
    """A party signing key is missing, unreadable, too widely readable or not the recorded one."""


class LedgerEntryError(LedgerError):
    """An entry of a round cannot be written as given; the round was not started."""


class LedgerWriteError(LedgerError):
    """SQLite refused a round; it was rolled back and nothing of it is in the ledger."""


class LedgerFullError(LedgerWriteError):
    """The disk is full or the ledger reached its configured size limit."""


class LedgerBusyError(LedgerWriteError):
    """Another connection held the database locked for longer than the busy timeout."""
