"""Passcodes and tokens of the auth gateway: generating, hashing, checking and judging their strength.

Why these numbers: the gateway lets through at most ~20 failed guesses a second (``limiter.py``), so a
64-bit secret holds for ~10^10 years and a 40-bit one for ~1,700 years of non-stop guessing. Generated
passcodes (``k7pm-x3qa-r9tz-4hwe``, ~79 bits) and link tokens (144 bits) are far above that; a passcode a
user picks must reach :data:`MIN_PASSCODE_BITS` by a deliberately pessimistic estimate.

Hashes use scrypt from :mod:`hashlib` (N=2^14, r=8, p=1: the "interactive login" cost) in the text form
``scrypt$<N>$<r>$<p>$<salt>$<key>`` (base64url without padding), so the daemon can keep a passcode
without keeping the passcode itself. Hashing takes ~0.1 s of CPU: callers on the event loop run it in
a thread (:func:`asyncio.to_thread`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import math
import secrets

from pinokiocloud.errors import PasscodeHashError, WeakPasscodeError

__all__ = [
    "LINK_TOKEN_BYTES",
    "MIN_PASSCODE_BITS",
    "PasscodeHashError",
    "WeakPasscodeError",
    "check_passcode_strength",
    "generate_link_token",
    "generate_passcode",
    "hash_passcode",
    "is_passcode_hash",
    "passcode_bits",
    "verify_passcode",
]

PASSCODE_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
"""31 characters that survive being read aloud or typed on a phone: no 0/o, 1/l/i."""
PASSCODE_GROUPS = 4
PASSCODE_GROUP_SIZE = 4
LINK_TOKEN_BYTES = 18
"""144 bits; 24 URL-safe characters."""
MIN_PASSCODE_BITS = 40.0
MIN_SECRET_CHARS = 16
"""A token or session key handed to the gateway must be at least this long (>= 64 bits in base64url)."""

SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1
SCRYPT_SALT_BYTES = 16
SCRYPT_KEY_BYTES = 32
_SCRYPT_MAX_N = 2**16
_SCRYPT_MAXMEM = 128 * 1024 * 1024

_COMMON = frozenset({
    "password", "passcode", "passwort", "letmein", "qwerty", "qwertyuiop", "asdfgh", "asdfghjkl", "zxcvbn",
    "admin", "administrator", "welcome", "iloveyou", "monkey", "dragon", "master", "secret", "sunshine",
    "princess", "football", "baseball", "shadow", "superman", "trustno", "changeme", "default", "pinokio",
    "pinokiocloud", "comfyui", "gradio", "jupyter", "abcdefgh", "abcdefghijkl", "opensesame", "test", "guest",
})


def generate_passcode(groups: int = PASSCODE_GROUPS, size: int = PASSCODE_GROUP_SIZE) -> str:
    """A passcode that is easy to read aloud and type on a phone: ``k7pm-x3qa-r9tz-4hwe`` (~79 bits)."""
    return "-".join("".join(secrets.choice(PASSCODE_ALPHABET) for _ in range(size)) for _ in range(groups))


def generate_link_token() -> str:
    """The secret of a gateway's one-click link (144 bits, URL-safe)."""
    return secrets.token_urlsafe(LINK_TOKEN_BYTES)


def passcode_bits(passcode: str) -> float:
    """A pessimistic guess at how many bits of guessing ``passcode`` resists.

    Each character counts ``log2`` of the smallest alphabet that holds all of its character classes,
    but a repeat of the previous character or a step of one (``abcd``, ``4321``) counts one bit, and a
    common word inside (``password``, ``letmein``) counts as ~10 bits in total instead of per letter.
    """
    if not passcode:
        return 0.0
    lowered = passcode.lower()
    for word in sorted(_COMMON, key=len, reverse=True):
        if len(word) >= 4 and word in lowered:
            rest = lowered.replace(word, "", 1)
            return 10.0 + (passcode_bits(rest) if rest else 0.0)
    alphabet = 0
    alphabet += 10 if any(c.isdigit() for c in passcode) else 0
    alphabet += 26 if any(c.islower() for c in passcode) else 0
    alphabet += 26 if any(c.isupper() for c in passcode) else 0
    alphabet += 33 if any(not c.isascii() or not c.isalnum() for c in passcode) else 0
    per_char = math.log2(max(alphabet, 2))
    bits = per_char
    for previous, current in itertools.pairwise(passcode):
        bits += 1.0 if abs(ord(current) - ord(previous)) <= 1 else per_char
    return bits


def check_passcode_strength(passcode: str) -> None:
    """Raise :class:`WeakPasscodeError` when a user's own ``passcode`` is too easy to guess.

    Several comma-separated passcodes (as Pinokio's ``PINOKIO_SHARE_PASSCODE``) are judged one by one.
    """
    for one in (p.strip() for p in passcode.split(",")):
        if not one:
            continue
        if len(one) < 8:
            raise WeakPasscodeError(f"{len(one)} characters")
        if len(set(one)) < 5:
            raise WeakPasscodeError("too few different characters")
        if passcode_bits(one) < MIN_PASSCODE_BITS:
            common = any(len(w) >= 4 and w in one.lower() for w in _COMMON)
            raise WeakPasscodeError("it is built on a common word" if common
                                    else "too short or too regular for the characters it uses")
    if not any(p.strip() for p in passcode.split(",")):
        raise WeakPasscodeError("it is empty")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def hash_passcode(passcode: str, *, salt: bytes | None = None) -> str:
    """``scrypt$N$r$p$salt$key`` for ``passcode`` (~0.1 s of CPU: call it in a thread from async code).

    ``salt`` defaults to a random one; the gateway derives it from its session key instead, so the same
    passcode and key give the same hash after a restart (sessions are bound to the hash).
    """
    salt = salt if salt is not None else secrets.token_bytes(SCRYPT_SALT_BYTES)
    key = hashlib.scrypt(passcode.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P,
                         dklen=SCRYPT_KEY_BYTES, maxmem=_SCRYPT_MAXMEM)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(key)}"


def _parse(stored: str) -> tuple[int, int, int, bytes, bytes]:
    parts = stored.split("$")
    if len(parts) != 6 or parts[0] != "scrypt":
        raise PasscodeHashError("expected scrypt$N$r$p$salt$key")
    try:
        n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
        salt, key = _unb64(parts[4]), _unb64(parts[5])
    except ValueError as exc:
        raise PasscodeHashError(f"a field is not a number or base64 ({exc})") from exc
    if not (2 <= n <= _SCRYPT_MAX_N and n & (n - 1) == 0 and 1 <= r <= 32 and 1 <= p <= 4):
        raise PasscodeHashError(f"cost N={n} r={r} p={p} is out of range")
    if len(salt) < 8 or len(key) < 16:
        raise PasscodeHashError("salt or key too short")
    return n, r, p, salt, key


def is_passcode_hash(stored: str) -> bool:
    """Whether ``stored`` is a hash this module can check (not a plain passcode)."""
    try:
        _parse(stored)
    except PasscodeHashError:
        return False
    return True


def verify_passcode(stored: str, given: str) -> bool:
    """Whether ``given`` matches the hash ``stored`` (constant-time; ~0.1 s of CPU)."""
    n, r, p, salt, key = _parse(stored)
    got = hashlib.scrypt(given.encode(), salt=salt, n=n, r=r, p=p, dklen=len(key), maxmem=_SCRYPT_MAXMEM)
    return hmac.compare_digest(got, key)
