"""Write the Django-original fixture of contract §18 (run by scripts/django-fixture).

Usage: python django_fixture.py WORK_DIR OUT_DIR

WORK_DIR receives a throw-away Django project: an `authentication` app whose
`UnifiedUser` is the original's custom user (UUID primary key, email, phone,
names, role, auth_provider, flags, created_at/updated_at/deleted_at) and
SimpleJWT's token_blacklist app. Everything in OUT_DIR is made by Django
itself:

  original.sqlite3  the original's database (Django's SQLite schema)
  users.json        manage.py dumpdata --all authentication.UnifiedUser
  original.postgres.sql
                    with FIXTURE_PG_URL set (a scratch database): the same
                    rows copied by Django into its PostgreSQL schema, as
                    pg_dump --inserts writes them
  fixture.json      what the tests need to know: the secret, when the fixture
                    was made, each user's password and what the import must do
                    with it, SimpleJWT tokens (outstanding, blacklisted,
                    access) and a password-reset link
"""

import datetime
import importlib.metadata
import json
import os
import pathlib
import platform
import subprocess
import sys
import urllib.parse
import uuid

WORK, OUT = (pathlib.Path(p).resolve() for p in sys.argv[1:3])
PG_URL = os.environ.get("FIXTURE_PG_URL")


def databases():
    dbs = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(OUT / "original.sqlite3")}}
    if PG_URL:
        u = urllib.parse.urlparse(PG_URL)
        dbs["pg"] = {"ENGINE": "django.db.backends.postgresql", "NAME": u.path.lstrip("/"),
                     "USER": u.username or "", "PASSWORD": u.password or "", "HOST": u.hostname or "",
                     "PORT": str(u.port or "")}
    return dbs

SECRET_KEY = "django-insecure-authgate-import-fixture-0123456789abcdefghijklmnop"

MODELS = '''
import uuid
from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models
from django.utils import timezone


class UnifiedUserManager(BaseUserManager):
    """The original hides soft-deleted users (dumpdata --all shows them)."""

    def get_queryset(self):
        return super().get_queryset().filter(deleted_at__isnull=True)


class UnifiedUser(AbstractBaseUser, PermissionsMixin):
    ROLES = [("client", "Client"), ("vendor", "Vendor"), ("staff", "Staff"), ("admin", "Admin")]
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    email = models.EmailField(unique=True, null=True, blank=True)
    phone = models.CharField(max_length=20, unique=True, null=True, blank=True)
    first_name = models.CharField(max_length=150)
    last_name = models.CharField(max_length=150, blank=True)
    role = models.CharField(max_length=20, choices=ROLES, default="client")
    auth_provider = models.CharField(max_length=20, default="email")
    is_active = models.BooleanField(default=True)
    is_verified = models.BooleanField(default=False)
    is_staff = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    deleted_at = models.DateTimeField(null=True, blank=True)

    objects = UnifiedUserManager()
    all_objects = models.Manager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = ["first_name"]
'''


def write_project():
    app = WORK / "authentication"
    (app / "migrations").mkdir(parents=True)
    (app / "__init__.py").write_text("")
    (app / "migrations" / "__init__.py").write_text("")
    (app / "models.py").write_text(MODELS)
    sys.path.insert(0, str(WORK))


write_project()

import django  # noqa: E402
from django.conf import settings  # noqa: E402

settings.configure(
    SECRET_KEY=SECRET_KEY,
    USE_TZ=True,
    TIME_ZONE="UTC",
    DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
    INSTALLED_APPS=[
        "django.contrib.contenttypes",
        "django.contrib.auth",
        "rest_framework_simplejwt.token_blacklist",
        "authentication",
    ],
    AUTH_USER_MODEL="authentication.UnifiedUser",
    DATABASES=databases(),
    # Every hasher Django 6 can still write (SHA1, unsalted MD5/SHA1 and crypt
    # are gone since 5.1), in Django's default order.
    PASSWORD_HASHERS=[
        "django.contrib.auth.hashers.PBKDF2PasswordHasher",
        "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
        "django.contrib.auth.hashers.Argon2PasswordHasher",
        "django.contrib.auth.hashers.BCryptSHA256PasswordHasher",
        "django.contrib.auth.hashers.BCryptPasswordHasher",
        "django.contrib.auth.hashers.ScryptPasswordHasher",
        "django.contrib.auth.hashers.MD5PasswordHasher",
    ],
    # Long lifetimes so that the tests decide with AUTHGATE_LEGACY_TOKENS_UNTIL
    # and the test clock, not with the tokens' own expiry.
    SIMPLE_JWT={
        "ACCESS_TOKEN_LIFETIME": datetime.timedelta(days=7),
        "REFRESH_TOKEN_LIFETIME": datetime.timedelta(days=30),
        "ALGORITHM": "HS256",
        "USER_ID_FIELD": "id",
        "USER_ID_CLAIM": "user_id",
    },
)
django.setup()

from django.contrib.auth.hashers import check_password, get_hasher, make_password  # noqa: E402
from django.contrib.auth.tokens import default_token_generator  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.utils import timezone  # noqa: E402
from django.utils.encoding import force_bytes  # noqa: E402
from django.utils.http import urlsafe_base64_encode  # noqa: E402
from rest_framework_simplejwt.tokens import RefreshToken  # noqa: E402

call_command("makemigrations", "authentication", verbosity=0)
call_command("migrate", verbosity=0)

from authentication.models import UnifiedUser  # noqa: E402

NOW = timezone.now().replace(microsecond=0)
users = []


def user(key, hasher, expect, **fields):
    password = f"Fixture-{key}-Pass-2026!"
    u = UnifiedUser(**fields)
    u.password = make_password(password, hasher=hasher) if hasher else make_password(None)
    u.save()
    if hasher:
        assert check_password(password, u.password), key
        assert u.password.startswith(get_hasher(hasher).algorithm + "$"), key
    users.append({"key": key, "id": str(u.id), "email": u.email, "phone": u.phone,
                  "password": password if hasher else None,
                  "algorithm": hasher or "unusable", "expect": expect})
    return u


ana = user("pbkdf2_sha256", "pbkdf2_sha256", "imported", email="ana@example.com",
           first_name="Ana", last_name="Lopez", is_verified=True,
           last_login=NOW - datetime.timedelta(days=2, microseconds=-123456))
user("pbkdf2_sha1", "pbkdf2_sha1", "imported", phone="+14155552671", first_name="Ben",
     auth_provider="phone")
cleo = user("argon2", "argon2", "imported", email="cleo@example.com", phone="+447911123456",
            first_name="Cleo", role="vendor", is_verified=True)
user("bcrypt_sha256", "bcrypt_sha256", "imported", email="dev@example.com", first_name="Dev",
     role="staff", is_staff=True)
user("bcrypt", "bcrypt", "imported", email="eve@example.com", first_name="Eve", role="admin",
     is_staff=True, is_superuser=True, created_at=NOW - datetime.timedelta(days=400))
user("scrypt", "scrypt", "imported", email="fay@example.com", first_name="Fay")
user("md5", "md5", "imported", email="gus@example.com", first_name="Gus")
user("unusable", None, "imported", email="hal@example.com", first_name="Hal",
     auth_provider="google")
ivy = user("inactive", "pbkdf2_sha256", "imported", email="ivy@example.com", first_name="Ivy",
           is_active=False)
jon = user("deleted", "argon2", "imported", email="jon@example.com", first_name="Jon",
           deleted_at=NOW - datetime.timedelta(days=1))
# Rows Django accepted that break authgate's contract (§3, §18): skipped.
user("bad_phone", "pbkdf2_sha256", "skipped", phone="12345", first_name="Kim",
     auth_provider="phone")
# Django's unique is case-sensitive; authgate's is not. The first row in
# source order (dumpdata's: by primary key) keeps the address.
dup = UnifiedUser(id=uuid.UUID("ffffffff-" + str(uuid.uuid4())[9:]), email="CLEO@example.com",
                  first_name="Cleo2", password=make_password("Fixture-dup-Pass-2026!"))
dup.save()
users.append({"key": "duplicate_email", "id": str(dup.id), "email": dup.email, "phone": None,
              "password": "Fixture-dup-Pass-2026!", "algorithm": "pbkdf2_sha256",
              "expect": "skipped"})


def pair(u, role_claim=True):
    refresh = RefreshToken.for_user(u)  # also records the OutstandingToken row
    if role_claim:
        refresh["role"] = u.role  # the original copied the role; authgate ignores it
    return refresh


ana_refresh = pair(ana)
ana_refresh2 = pair(ana)
cleo_refresh = pair(cleo)
cleo_refresh.blacklist()
ivy_refresh = pair(ivy)
jon_refresh = pair(jon)
tokens = {
    "ana_access": str(ana_refresh.access_token),
    "ana_refresh": str(ana_refresh),
    "ana_refresh_second": str(ana_refresh2),
    "cleo_refresh_blacklisted": str(cleo_refresh),
    "cleo_access": str(cleo_refresh.access_token),
    "ivy_access_inactive": str(ivy_refresh.access_token),
    "ivy_refresh_inactive": str(ivy_refresh),
    "jon_access_deleted": str(jon_refresh.access_token),
}

reset = {"user_id": str(ana.id), "uidb64": urlsafe_base64_encode(force_bytes(ana.pk)),
         "token": default_token_generator.make_token(ana)}
assert default_token_generator.check_token(ana, reset["token"])

with open(OUT / "users.json", "w") as f:
    call_command("dumpdata", "authentication.UnifiedUser", all=True, indent=2, stdout=f)



def copy_to_postgres():
    """The same rows in Django's PostgreSQL schema, dumped as SQL."""
    from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

    call_command("migrate", database="pg", verbosity=0)
    for model in (UnifiedUser, OutstandingToken, BlacklistedToken):
        model._base_manager.using("pg").bulk_create(list(model._base_manager.using("default").all()))
    # bulk_create stamps auto_now fields: put the original times back.
    for u in UnifiedUser._base_manager.using("default").all():
        UnifiedUser._base_manager.using("pg").filter(pk=u.pk).update(updated_at=u.updated_at)
    dump = subprocess.run(
        ["pg_dump", "--inserts", "--no-owner", "--no-privileges", "--no-comments",
         "-t", "authentication_unifieduser", "-t", "token_blacklist_outstandingtoken",
         "-t", "token_blacklist_blacklistedtoken", PG_URL],
        check=True, capture_output=True, text=True).stdout
    # Only statements (the tests run it through a driver, not psql).
    lines = [line for line in dump.splitlines()
             if line and not line.startswith(("--", "\\", "SET ", "SELECT pg_catalog.set_config"))]
    (OUT / "original.postgres.sql").write_text("\n".join(lines) + "\n")


if PG_URL:
    copy_to_postgres()

versions = {p: importlib.metadata.version(p) for p in
            ("Django", "djangorestframework-simplejwt", "djangorestframework", "argon2-cffi", "bcrypt", "PyJWT")}
if PG_URL:
    versions["psycopg"] = importlib.metadata.version("psycopg")
meta = {
    "made_at": NOW.isoformat().replace("+00:00", "Z"),
    "python_version": platform.python_version(),
    "versions": versions,
    "secret_key": SECRET_KEY,
    "access_token_lifetime_s": 7 * 86400,
    "refresh_token_lifetime_s": 30 * 86400,
    "users": users,
    "tokens": tokens,
    "reset_link": reset,
}
(OUT / "fixture.json").write_text(json.dumps(meta, indent=2) + "\n")
print(f"fixture written to {OUT} with Django {versions['Django']}")
