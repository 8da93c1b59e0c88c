"""Signing keys of the parties the gateway speaks for (operator, trader, device agents).

One Ed25519 key per party, generated on first use into ``<state dir>/ledger-keys/`` as
PKCS#8 PEM with mode 0600 (directory 0700). A key file that others can read is refused
rather than used. Key material never appears in logs, reprs or error messages: only
party ids, paths and public-key fingerprints do.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import quote

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from gateway.ledger.entries import check_party
from gateway.ledger.errors import LedgerKeyError

KEY_DIR_NAME = "ledger-keys"


def public_key_hex(key: Ed25519PublicKey) -> str:
    """The raw 32-byte public key as hex (how the ledger records it)."""
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex()


def load_public_key(hex_text: str) -> Ed25519PublicKey:
    """Parse a public key recorded by :func:`public_key_hex`; ValueError if malformed."""
    return Ed25519PublicKey.from_public_bytes(bytes.fromhex(hex_text))


def fingerprint(public_hex: str) -> str:
    """Short SHA-256 fingerprint of a public key, for humans comparing keys."""
    return "SHA256:" + hashlib.sha256(bytes.fromhex(public_hex)).hexdigest()[:32]


def signature_valid(public_key: Ed25519PublicKey, signature_hex: str, message: bytes) -> bool:
    try:
        public_key.verify(bytes.fromhex(signature_hex), message)
    except (InvalidSignature, ValueError):
        return False
    return True


class KeyRing:
    """Loads or creates the private key of each party; signs on their behalf."""

    def __init__(self, state_dir: Path | str) -> None:
        self._dir = Path(state_dir) / KEY_DIR_NAME
        self._keys: dict[str, Ed25519PrivateKey] = {}

    def __repr__(self) -> str:
        return f"KeyRing({str(self._dir)!r}, parties={sorted(self._keys)})"

    @property
    def directory(self) -> Path:
        return self._dir

    def path_for(self, party: str) -> Path:
        return self._dir / (quote(check_party(party), safe="") + ".pem")

    def public_key_hex(self, party: str, *, create: bool = True) -> str:
        """The party's public key; with ``create=False`` a missing key file is an error."""
        return self.public_keys_hex({party: create})[party]

    def public_keys_hex(self, parties: Mapping[str, bool]) -> dict[str, str]:
        """Public key of each party; the value says whether a missing key file may be made.

        Keys of a batch (a site's agents on first start) are created together: each file
        written and synced, then all renamed into place and the directory synced once, so
        a thousand new keys cost one directory sync instead of a thousand. Every new key
        file is durable when this returns, before the ledger records its public key. The
        directory is listed once rather than probed per party: few system calls per key,
        which matters when this runs in a thread beside a busy event loop.
        """
        self._ensure_dir()
        present = self._file_names()
        new: dict[str, Ed25519PrivateKey] = {}
        for party, create in parties.items():
            if party in self._keys or party in new:
                continue
            path = self.path_for(party)
            if path.name in present:
                self._keys[party] = self._read(party, path)
            elif create:
                new[party] = Ed25519PrivateKey.generate()
            else:
                raise LedgerKeyError(
                    f"key file {path} of party {party!r} is missing, but the ledger already "
                    "recorded a key for this party; restore the file from backup"
                )
        if new:
            self._store(new)
            self._keys.update(new)
        return {party: public_key_hex(self._keys[party].public_key()) for party in parties}

    def sign(self, party: str, message: bytes) -> str:
        """Hex Ed25519 signature of ``message`` by ``party``."""
        key = self._keys.get(party)
        if key is None:
            self.public_keys_hex({party: False})
            key = self._keys[party]
        return key.sign(message).hex()

    def _file_names(self) -> set[str]:
        try:
            return set(os.listdir(self._dir))
        except OSError as err:
            raise LedgerKeyError(
                f"cannot list the key directory {self._dir}: {err.strerror}"
            ) from err

    def _read(self, party: str, path: Path) -> Ed25519PrivateKey:
        try:
            return self._load(party, path)
        except OSError as err:
            raise LedgerKeyError(
                f"cannot read key file {path} of party {party!r}: {err.strerror}"
            ) from err

    def _ensure_dir(self) -> None:
        try:
            self._dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as err:
            raise LedgerKeyError(
                f"cannot create the key directory {self._dir}: {err.strerror}; "
                "the gateway's state directory must be writable by its user"
            ) from err

    def _load(self, party: str, path: Path) -> Ed25519PrivateKey:
        fd = os.open(path, os.O_RDONLY)
        with os.fdopen(fd, "rb") as handle:
            mode = stat.S_IMODE(os.fstat(handle.fileno()).st_mode)
            if mode & 0o077:
                raise LedgerKeyError(
                    f"key file {path} of party {party!r} is readable by others "
                    f"(mode {mode:04o}); run: chmod 600 {path}"
                )
            data = handle.read()
        try:
            key = serialization.load_pem_private_key(data, password=None)
        except (ValueError, TypeError) as err:
            raise LedgerKeyError(
                f"key file {path} of party {party!r} is not a readable PEM private key; "
                "restore it from backup (the ledger records the matching public key)"
            ) from err
        if not isinstance(key, Ed25519PrivateKey):
            raise LedgerKeyError(f"key file {path} of party {party!r} is not an Ed25519 key")
        return key

    def _store(self, keys: Mapping[str, Ed25519PrivateKey]) -> None:
        """Write new key files (mode 0600) durably: write and sync each under a staging
        name, rename them all into place, sync the directory once."""
        paths = {party: self.path_for(party) for party in keys}
        try:
            for party, path in paths.items():
                fd = os.open(_staging(path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                try:
                    _write_all(fd, _pem(keys[party]))
                    os.fsync(fd)
                finally:
                    os.close(fd)
            for path in paths.values():
                os.replace(_staging(path), path)
            dir_fd = os.open(self._dir, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        except OSError as err:
            raise LedgerKeyError(
                f"cannot write key file {err.filename or self._dir}: {err.strerror}; the "
                "gateway's state directory must be writable by its user"
            ) from err


def _staging(path: Path) -> Path:
    return path.with_name(path.name + ".new")


def _pem(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
