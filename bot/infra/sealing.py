"""Encryption at rest: what Redis may write to its append-only file and its snapshots.

Two kinds of secret box, both from PyNaCl (libsodium):

- A conversation's values (the session and the replies cached for retries) are encrypted with
  a key derived from the respondent's phone number (or the CallSid of a withheld-number call)
  and PSEUDONYM_KEY. The files alone, without the number, read as noise; the number alone,
  without the key, too. Whoever has both can read a conversation still in the files: that is
  why the files are also rewritten hourly (bot/records/compaction.py) and sessions expire.
- A completed response (and every counter about one respondent) is sealed to the storage key
  pair: the web process holds only the public half and cannot read what it sealed; the storage
  job opens them in batches (bot/records/inbox.py). A sealed box costs 48 bytes.

Derived keys carry the version of the key they come from (`v1`...), like pseudonyms do, so
a rotated PSEUDONYM_KEY still opens what was written under the old one (bot/infra/privacy.py).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from functools import lru_cache

from nacl.exceptions import CryptoError
from nacl.public import PrivateKey, PublicKey, SealedBox
from nacl.secret import SecretBox

from bot.infra.exceptions import ConfigError
from bot.infra.privacy import e164

_SESSION_INFO = b"surveybot session key:"
_STORAGE_SEED_INFO = b"surveybot storage key pair, development only"
SEALED_ARG_PREFIX = "sealed:"


class SealError(ValueError):
    """A value that does not open with the key given (tampered, or under another key)."""


@dataclass(frozen=True)
class ConversationCipher:
    """Encrypts one respondent's conversation values under their own derived key."""

    box: SecretBox

    def encrypt(self, plain: bytes) -> bytes:
        return bytes(self.box.encrypt(plain))

    def decrypt(self, sealed: bytes) -> bytes:
        try:
            return self.box.decrypt(sealed)
        except CryptoError as exc:
            raise SealError("conversation value does not open under this key") from exc


def _derive(key: str, subject: str) -> bytes:
    return hmac.new(key.encode(), _SESSION_INFO + subject.encode(), hashlib.sha256).digest()


def conversation_cipher(key: str, number: str) -> ConversationCipher:
    """The cipher of a phone number's conversation under PSEUDONYM_KEY `key`."""
    return ConversationCipher(SecretBox(_derive(key, "number:" + e164(number))))


def call_cipher(key: str, call_sid: str) -> ConversationCipher:
    """The cipher of one call whose caller withheld their number."""
    return ConversationCipher(SecretBox(_derive(key, "withheld-call:" + call_sid)))


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _unb64(name: str, value: str) -> bytes:
    try:
        raw = base64.b64decode(value.strip(), validate=True)
    except ValueError as exc:
        raise ConfigError(
            f"{name} is not base64 (make one with `surveybot keys generate`)"
        ) from exc
    if len(raw) != 32:
        raise ConfigError(f"{name} must be 32 bytes of base64 (`surveybot keys generate`)")
    return raw


def generate_storage_keys() -> tuple[str, str]:
    """A fresh storage key pair: (STORAGE_PUBLIC_KEY, STORAGE_SECRET_KEY), base64."""
    secret = PrivateKey.generate()
    return _b64(bytes(secret.public_key)), _b64(bytes(secret))


@lru_cache(maxsize=8)
def development_storage_keys(pseudonym_key: str) -> tuple[str, str]:
    """The key pair of a development or test installation that set none: derived from its
    PSEUDONYM_KEY, so every process of it agrees. Production must set its own (config.py)."""
    seed = hashlib.blake2b(pseudonym_key.encode(), digest_size=32, person=b"sb-storage-dev")
    secret = PrivateKey(hashlib.sha256(_STORAGE_SEED_INFO + seed.digest()).digest())
    return _b64(bytes(secret.public_key)), _b64(bytes(secret))


@lru_cache(maxsize=8)
def _sealer(public_key: str) -> SealedBox:
    return SealedBox(PublicKey(_unb64("STORAGE_PUBLIC_KEY", public_key)))


@lru_cache(maxsize=8)
def _opener(secret_key: str) -> SealedBox:
    return SealedBox(PrivateKey(_unb64("STORAGE_SECRET_KEY", secret_key)))


def seal(public_key: str, plain: bytes) -> bytes:
    """Seal `plain` to the storage key pair: only its secret half opens it."""
    return bytes(_sealer(public_key).encrypt(plain))


def seal_text(public_key: str, plain: str) -> str:
    """A job argument sealed to the storage key pair (base64 text: RQ's job data stays JSON-
    friendly). Phone numbers of invitees and Twilio SIDs travel in jobs only like this."""
    return SEALED_ARG_PREFIX + _b64(seal(public_key, plain.encode()))


def open_text(secret_key: str, value: str) -> str:
    """A job argument made by `seal_text`; a plain one (queued by a release that did not seal
    its jobs yet) is returned as it is."""
    if not value.startswith(SEALED_ARG_PREFIX):
        return value
    try:
        sealed = base64.b64decode(value[len(SEALED_ARG_PREFIX) :], validate=True)
    except ValueError as exc:
        raise SealError("a sealed job argument that is not base64") from exc
    return unseal(secret_key, sealed).decode()


def secret_keys(secret_key: str) -> list[str]:
    """The storage secret keys a setting holds: the current one first, then, during a
    rotation, the ones still opening what was sealed before (comma-separated)."""
    return [k.strip() for k in secret_key.split(",") if k.strip()]


def unseal(secret_key: str, sealed: bytes) -> bytes:
    """Open a sealed value with the storage secret key (any of them, during a rotation)."""
    for key in secret_keys(secret_key):
        try:
            return _opener(key).decrypt(sealed)
        except CryptoError:
            continue
    raise SealError("sealed value does not open with the storage secret key")


def opens_with_current(secret_key: str, sealed: bytes) -> bool:
    """Whether a sealed value opens with the current storage key (not only an old one)."""
    keys = secret_keys(secret_key)
    try:
        _opener(keys[0]).decrypt(sealed)
    except (CryptoError, IndexError):
        return False
    return True
