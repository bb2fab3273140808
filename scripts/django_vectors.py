#!/usr/bin/env python3
"""Generate authgate's compatibility test vectors from real Django.

authgate re-implements parts of django.contrib.auth in Rust; this script asks
Django itself for the expected values so the Rust tests can compare against
them byte for byte. It writes JSON to stdout; the committed output lives in
tests/fixtures/django_vectors.json.

How to run (Django 6.x needs Python >= 3.12):

    python3.13 -m venv /tmp/djv
    /tmp/djv/bin/pip install django argon2-cffi bcrypt
    /tmp/djv/bin/python scripts/django_vectors.py > tests/fixtures/django_vectors.json

Packages: Django (the fixture was made with Django 6.1.3), argon2-cffi
(Argon2PasswordHasher) and bcrypt (BCrypt*PasswordHasher). The exact versions
used are recorded in the JSON ("django_version", "library_versions").

Output is deterministic: every salt is passed explicitly (bcrypt salts are
fixed strings of the exact form bcrypt.gensalt(rounds) returns, so re-running
gives the same bytes) and the reset-token clock is mocked. The script asserts
its own invariants (right password passes and wrong one fails through
django.contrib.auth.hashers.check_password, the worked reset-token vector,
...) and exits non-zero if any of them fails.

JSON layout:
  django_version, python_version, library_versions
  password_hashes: [{algorithm, variant, hasher, password, salt, encoded,
                     params, wrong_password_fails}]
  bcrypt_long_password: how plain bcrypt and bcrypt_sha256 treat a password
                     longer than bcrypt's 72-byte limit
  reset_token_settings: Django's PASSWORD_RESET_TIMEOUT default etc.
  reset_tokens: [{name, secret, pk, password, last_login, email, now, ts,
                  token, uidb64, ...}]
"""

import datetime
import importlib.metadata
import json
import platform
import sys
import uuid

import django
from django.conf import settings

SECRET_KEY = "django-insecure-proto-secret-key-0123456789abcdefghijklmnopqrstuvwxyz"

settings.configure(
    SECRET_KEY=SECRET_KEY,
    USE_TZ=True,
    TIME_ZONE="UTC",
    # Django's own default order (PBKDF2 first = preferred), plus every other
    # built-in hasher so check_password() can identify each algorithm.
    PASSWORD_HASHERS=[
        "django.contrib.auth.hashers.PBKDF2PasswordHasher",
        "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
        "django.contrib.auth.hashers.Argon2PasswordHasher",
        "django.contrib.auth.hashers.BCryptSHA256PasswordHasher",
        "django.contrib.auth.hashers.BCryptPasswordHasher",
        "django.contrib.auth.hashers.ScryptPasswordHasher",
        "django.contrib.auth.hashers.MD5PasswordHasher",
    ],
)
django.setup()

import bcrypt  # noqa: E402
from django.contrib.auth import hashers as H  # noqa: E402
from django.contrib.auth.tokens import PasswordResetTokenGenerator  # noqa: E402
from django.test import override_settings  # noqa: E402
from django.utils.encoding import force_bytes  # noqa: E402
from django.utils.http import urlsafe_base64_encode  # noqa: E402

# --------------------------------------------------------------------------
# Password hashes
# --------------------------------------------------------------------------

PW_ASCII = "correct horse battery staple"
PW_UNICODE = "pässwörd-日本語-🔑"
# 101 bytes in UTF-8: past bcrypt's 72-byte limit (the first 72 bytes are
# ASCII; the non-ASCII tail is beyond the limit).
PW_LONG = (
    "this passphrase is deliberately much longer than bcrypt's "
    "seventy-two byte limit — ünïcödé 🔐"
)
PW_WRONG = "correct horse battery stapler"
PASSWORDS = [PW_ASCII, PW_UNICODE, PW_LONG]

assert len(PW_LONG.encode()) > 72
for pw in PASSWORDS:
    assert "$" not in pw


class OwaspArgon2PasswordHasher(H.Argon2PasswordHasher):
    """authgate's default Argon2 parameters (OWASP: m=19 MiB, t=2, p=1)."""

    memory_cost = 19456
    time_cost = 2
    parallelism = 1


class PBKDF2Fast(H.PBKDF2PasswordHasher):
    iterations = 1000


class PBKDF2SHA1Fast(H.PBKDF2SHA1PasswordHasher):
    iterations = 1000


class BCryptSHA256Rounds4(H.BCryptSHA256PasswordHasher):
    rounds = 4


class BCryptRounds4(H.BCryptPasswordHasher):
    rounds = 4


class ScryptCheap(H.ScryptPasswordHasher):
    work_factor = 2**10
    block_size = 8
    parallelism = 1


def bcrypt_salt(rounds, body):
    """A fixed salt in exactly the form bcrypt.gensalt(rounds) returns."""
    salt = b"$2b$%02d$%s" % (rounds, body.encode("ascii"))
    real = bcrypt.gensalt(rounds)
    assert len(salt) == len(real) == 29 and salt[:7] == real[:7], (salt, real)
    return salt


# Django salts are 22 characters of [a-zA-Z0-9] (BasePasswordHasher.salt()).
# bcrypt salt bodies are 22 characters of bcrypt's base64 alphabet; the last
# character carries only 2 bits, so it is one of ".Oeu".
BCRYPT_SALT_BODY = "AuthgateBcryptSalt000u"
assert len(BCRYPT_SALT_BODY) == 22


def describe(hasher):
    """Parameters worth recording for a hasher instance."""
    if isinstance(hasher, H.Argon2PasswordHasher):
        p = hasher.params()
        return {
            "time_cost": p.time_cost,
            "memory_cost": p.memory_cost,
            "parallelism": p.parallelism,
            "hash_len": p.hash_len,
            "type": "argon2" + p.type.name.lower(),
            "version": p.version,
        }
    if isinstance(hasher, H.PBKDF2PasswordHasher):
        return {"iterations": hasher.iterations}
    if isinstance(hasher, H.BCryptSHA256PasswordHasher):
        return {"rounds": hasher.rounds}
    if isinstance(hasher, H.ScryptPasswordHasher):
        return {
            "work_factor": hasher.work_factor,
            "block_size": hasher.block_size,
            "parallelism": hasher.parallelism,
            "dklen": 64,
        }
    return {}


# (variant label, hasher instance, salt, is Django's default configuration)
CASES = [
    ("django_default", H.Argon2PasswordHasher(), "AuthgateArgon2Salt0001", True),
    ("owasp", OwaspArgon2PasswordHasher(), "AuthgateArgon2Salt0002", False),
    ("django_default", H.PBKDF2PasswordHasher(), "AuthgatePbkdf2Salt0001", True),
    ("iterations_1000", PBKDF2Fast(), "AuthgatePbkdf2Salt0002", False),
    ("iterations_1000", PBKDF2SHA1Fast(), "AuthgatePbkdf2Sha1Salt1", False),
    ("rounds_4", BCryptSHA256Rounds4(), bcrypt_salt(4, BCRYPT_SALT_BODY), False),
    ("django_default", H.BCryptSHA256PasswordHasher(), bcrypt_salt(12, BCRYPT_SALT_BODY), True),
    ("rounds_4", BCryptRounds4(), bcrypt_salt(4, BCRYPT_SALT_BODY), False),
    ("django_default", H.ScryptPasswordHasher(), "AuthgateScryptSalt0001", True),
    ("cheap", ScryptCheap(), "AuthgateScryptSalt0002", False),
    ("django_default", H.MD5PasswordHasher(), "AuthgateMd5SaltXXXX001", True),
]


def hasher_name(hasher):
    cls = type(hasher)
    if cls.__module__ == H.__name__:
        return "django.contrib.auth.hashers." + cls.__name__
    base = next(b for b in cls.__mro__[1:] if b.__module__ == H.__name__)
    return "subclass of django.contrib.auth.hashers." + base.__name__


def check_roundtrip(password, encoded):
    assert H.check_password(password, encoded), (password, encoded)
    assert not H.check_password(PW_WRONG, encoded), encoded
    # Another wrong password that shares a long prefix with the right one.
    assert not H.check_password(password + "x", encoded), encoded
    return True


password_hashes = []
for variant, hasher, salt, default in CASES:
    for pw in PASSWORDS:
        if type(hasher) is BCryptRounds4 and len(pw.encode()) > 72:
            continue  # plain bcrypt rejects it: see bcrypt_long_password
        encoded = hasher.encode(pw, salt)
        assert encoded.startswith(hasher.algorithm + "$"), encoded
        if isinstance(salt, bytes):  # bcrypt kept the fixed salt as given
            assert salt.decode("ascii") in encoded, (salt, encoded)
        params = describe(hasher)
        params["django_default"] = default
        password_hashes.append(
            {
                "algorithm": hasher.algorithm,
                "variant": variant,
                "hasher": hasher_name(hasher),
                "password": pw,
                "salt": salt.decode("ascii") if isinstance(salt, bytes) else salt,
                "encoded": encoded,
                "params": params,
                "wrong_password_fails": check_roundtrip(pw, encoded),
            }
        )

# bcrypt and passwords over 72 bytes. Django's BCryptPasswordHasher hands the
# raw password to bcrypt; bcrypt >= 5.0 raises ValueError for > 72 bytes
# (older bcrypt silently used only the first 72 bytes). BCryptSHA256 hashes
# first, so the whole password counts.
salt4 = bcrypt_salt(4, BCRYPT_SALT_BODY)
long_bytes = PW_LONG.encode()
try:
    BCryptRounds4().encode(PW_LONG, salt4)
    plain_error = None
except ValueError as exc:
    plain_error = "ValueError: %s" % exc
plain_truncated = BCryptRounds4().encode(long_bytes[:72], salt4)
sha256_full = BCryptSHA256Rounds4().encode(PW_LONG, salt4)
sha256_truncated = BCryptSHA256Rounds4().encode(long_bytes[:72], salt4)
assert sha256_full != sha256_truncated
assert plain_truncated.split("$", 1)[1] != sha256_full.split("$", 1)[1]
assert H.check_password(PW_LONG, sha256_full)
assert not H.check_password(long_bytes[:72], sha256_full)
bcrypt_long_password = {
    "password": PW_LONG,
    "password_utf8_len": len(long_bytes),
    "salt": salt4.decode("ascii"),
    "bcrypt_sha256_encoded": sha256_full,
    "bcrypt_sha256_of_first_72_bytes": sha256_truncated,
    "first_72_bytes_hex": long_bytes[:72].hex(),
    "plain_bcrypt_error": plain_error,
    "plain_bcrypt_of_first_72_bytes": plain_truncated,
    "note": (
        "bcrypt_sha256 uses the whole password, so it differs from its value "
        "on the first 72 bytes. Plain bcrypt cannot use more than 72 bytes: "
        "bcrypt>=5.0 raises (plain_bcrypt_error, null if this bcrypt "
        "truncated instead); older bcrypt truncated silently, giving "
        "plain_bcrypt_of_first_72_bytes."
    ),
}

# --------------------------------------------------------------------------
# Password reset tokens
# --------------------------------------------------------------------------


class FakeUser:
    def __init__(self, pk, password, last_login, email):
        self.pk = pk
        self.password = password
        self.last_login = last_login
        self.email = email

    def get_email_field_name(self):
        return "email"


class FixedClockGenerator(PasswordResetTokenGenerator):
    def __init__(self, secret, now):
        super().__init__()
        self.secret = secret
        self.now = now

    def _now(self):
        return self.now


NOW_FMT = "%Y-%m-%d %H:%M:%S"


def reset_vector(name, secret, pk, password, last_login, email, now):
    user = FakeUser(pk, password, last_login, email)
    gen = FixedClockGenerator(secret, now)
    token = gen.make_token(user)
    assert gen.check_token(user, token)
    ts = gen._num_seconds(now)
    return {
        "name": name,
        "secret": secret,
        "pk": pk if isinstance(pk, int) else str(pk),
        "password": password,
        "last_login": None if last_login is None else str(last_login),
        "email": email,
        "now": now.strftime(NOW_FMT),
        "ts": ts,
        "ts_b36": token.split("-")[0],
        "hash_value": gen._make_hash_value(user, ts),
        "token": token,
        "uidb64": urlsafe_base64_encode(force_bytes(pk)),
    }, user, gen


def check_at(user, token, secret, now, timeout):
    with override_settings(PASSWORD_RESET_TIMEOUT=timeout):
        return FixedClockGenerator(secret, now).check_token(user, token)


UTC = datetime.timezone.utc
NOW_A = datetime.datetime(2026, 11, 25, 12, 0, 0)

vec_a, user_a, gen_a = reset_vector(
    "worked_example_int_pk",
    SECRET_KEY,
    42,
    "pbkdf2_sha256$1500000$abcdefghijklmnopqrstuv$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
    datetime.datetime(2026, 11, 20, 8, 30, 15, 123456, tzinfo=UTC),
    "alice@example.com",
    NOW_A,
)
assert vec_a["token"] == "dillc0-ca1095f4c40489f9f1e0a9458609c5cb", vec_a
assert vec_a["uidb64"] == "NDI", vec_a
assert vec_a["last_login"] == "2026-11-20 08:30:15.123456+00:00", vec_a

DEFAULT_TIMEOUT = settings.PASSWORD_RESET_TIMEOUT
HOUR = datetime.timedelta(hours=1)
SECOND = datetime.timedelta(seconds=1)
token_a = vec_a["token"]
vec_a["password_reset_timeout"] = DEFAULT_TIMEOUT
vec_a["valid_at_plus_23h"] = check_at(user_a, token_a, SECRET_KEY, NOW_A + 23 * HOUR, DEFAULT_TIMEOUT)
vec_a["valid_at_plus_25h"] = check_at(user_a, token_a, SECRET_KEY, NOW_A + 25 * HOUR, DEFAULT_TIMEOUT)
# Django's default timeout is 3 days (so +25h is still valid there);
# authgate's spec says 24 hours. Record both, including the exact boundary
# (age == timeout is still valid, age == timeout + 1s is not).
vec_a["valid_at_plus_23h_timeout_86400"] = check_at(user_a, token_a, SECRET_KEY, NOW_A + 23 * HOUR, 86400)
vec_a["valid_at_plus_25h_timeout_86400"] = check_at(user_a, token_a, SECRET_KEY, NOW_A + 25 * HOUR, 86400)
assert vec_a["valid_at_plus_23h_timeout_86400"] is True
assert vec_a["valid_at_plus_25h_timeout_86400"] is False
validity_checks = []
for timeout in (DEFAULT_TIMEOUT, 86400):
    for delta in (
        23 * HOUR,
        24 * HOUR,
        24 * HOUR + SECOND,
        25 * HOUR,
        72 * HOUR,
        72 * HOUR + SECOND,
        -HOUR,
    ):
        validity_checks.append(
            {
                "password_reset_timeout": timeout,
                "now": (NOW_A + delta).strftime(NOW_FMT),
                "age_seconds": int(delta.total_seconds()),
                "valid": check_at(user_a, token_a, SECRET_KEY, NOW_A + delta, timeout),
            }
        )
vec_a["validity_checks"] = validity_checks
assert vec_a["valid_at_plus_23h"] is True

# Negative checks for (a): other secret, changed user state, tampered token.
negatives = {
    "other_secret": check_at(user_a, token_a, SECRET_KEY + "x", NOW_A, DEFAULT_TIMEOUT),
    "other_email": check_at(
        FakeUser(42, user_a.password, user_a.last_login, "bob@example.com"),
        token_a, SECRET_KEY, NOW_A, DEFAULT_TIMEOUT,
    ),
    "last_login_changed": check_at(
        FakeUser(42, user_a.password, user_a.last_login + SECOND, user_a.email),
        token_a, SECRET_KEY, NOW_A, DEFAULT_TIMEOUT,
    ),
    # microseconds are dropped from last_login, so this one still validates
    "last_login_microseconds_changed_still_valid": check_at(
        FakeUser(42, user_a.password, user_a.last_login.replace(microsecond=0), user_a.email),
        token_a, SECRET_KEY, NOW_A, DEFAULT_TIMEOUT,
    ),
    "tampered_ts": check_at(
        user_a, "dillc1-" + token_a.split("-")[1], SECRET_KEY, NOW_A, DEFAULT_TIMEOUT
    ),
}
assert negatives == {
    "other_secret": False,
    "other_email": False,
    "last_login_changed": False,
    "last_login_microseconds_changed_still_valid": True,
    "tampered_ts": False,
}, negatives
vec_a["check_token_with"] = negatives

SECRET_B = "authgate-test-secret-b-9f8e7d6c5b4a39281706f5e4d3c2b1a0"
PK_B = uuid.UUID("0193c1c4-5a3b-7c2d-8e9f-0a1b2c3d4e5f")
NOW_B = datetime.datetime(2026, 3, 14, 15, 9, 26)
PASSWORD_B1 = PBKDF2Fast().encode("first password of bob", "AuthgateResetSaltB0001")
PASSWORD_B2 = PBKDF2Fast().encode("second password of bob", "AuthgateResetSaltB0002")

vec_b, user_b, gen_b = reset_vector(
    "uuid_pk_never_logged_in",
    SECRET_B,
    PK_B,
    PASSWORD_B1,
    None,
    "bob.ünïcode@example.org",
    NOW_B,
)
vec_c, user_c, gen_c = reset_vector(
    "uuid_pk_after_password_change",
    SECRET_B,
    PK_B,
    PASSWORD_B2,
    None,
    "bob.ünïcode@example.org",
    NOW_B,
)
assert vec_b["token"] != vec_c["token"]
assert vec_b["ts"] == vec_c["ts"]
# The old token dies once the password changes.
assert not gen_c.check_token(user_c, vec_b["token"])
vec_c["previous_token_still_valid"] = False

reset_token_settings = {
    "PASSWORD_RESET_TIMEOUT_default": DEFAULT_TIMEOUT,
    "key_salt": PasswordResetTokenGenerator.key_salt,
    "algorithm": PasswordResetTokenGenerator().algorithm,
    "epoch": "2001-01-01 00:00:00",
}

# --------------------------------------------------------------------------

out = {
    "django_version": django.get_version(),
    "python_version": platform.python_version(),
    "library_versions": {
        name: importlib.metadata.version(name)
        for name in ("Django", "argon2-cffi", "bcrypt")
    },
    "generated_by": "scripts/django_vectors.py",
    "wrong_password": PW_WRONG,
    "password_hashes": password_hashes,
    "bcrypt_long_password": bcrypt_long_password,
    "reset_token_settings": reset_token_settings,
    "reset_tokens": [vec_a, vec_b, vec_c],
}
sys.stdout.buffer.write(
    (json.dumps(out, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
)
