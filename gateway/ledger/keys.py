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
        return public_key_hex(self._key(party, create=create).public_key())

    def sign(self, party: str, message: bytes) -> str:
        """Hex Ed25519 signature of ``message`` by ``party``."""
        return self._key(party).sign(message).hex()

    def _key(self, party: str, *, create: bool = False) -> Ed25519PrivateKey:
        key = self._keys.get(party)
        if key is None:
            key = self._keys[party] = self._load_or_create(party, create)
        return key

    def _load_or_create(self, party: str, create: bool) -> Ed25519PrivateKey:
        path = self.path_for(party)
        self._ensure_dir()
        try:
            return self._load(party, path)
        except FileNotFoundError:
            if not create:
                raise LedgerKeyError(
                    f"key file {path} of party {party!r} is missing, but the ledger already "
                    "recorded a key for this party; restore the file from backup"
                ) from None
            return self._create(party, path)
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

    def _create(self, party: str, path: Path) -> Ed25519PrivateKey:
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        tmp = path.with_name(path.name + ".new")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(pem)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
            dir_fd = os.open(self._dir, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        except OSError as err:
            raise LedgerKeyError(
                f"cannot write key file {path} for party {party!r}: {err.strerror}"
            ) from err
        return key
