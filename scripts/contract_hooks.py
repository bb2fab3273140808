"""Schemathesis hooks for scripts/contract-check: Bearer tokens for the
authenticated operations.

Admin operations run as the superuser, the rest as a normal user. Tokens are
fetched by signing in (the credentials come from the script's environment),
cached per user, and fetched again whenever an answer is a 401: the run
itself revokes sessions (logout, logout-all, password change).
"""

import os

import requests
import schemathesis

BASE = os.environ["CONTRACT_BASE_URL"]
USERS = {
    "admin": (os.environ["CONTRACT_ADMIN_EMAIL"], os.environ["CONTRACT_ADMIN_PASSWORD"]),
    "user": (os.environ["CONTRACT_USER_EMAIL"], os.environ["CONTRACT_USER_PASSWORD"]),
}


def who(case, context):
    return "admin" if "/admin/" in case.operation.path else "user"


@schemathesis.auth(cache_by_key=who, refresh_interval=600)
class SignedIn:
    def get(self, case, context):
        email, password = USERS[who(case, context)]
        r = requests.post(
            f"{BASE}/api/v1/auth/login/", json={"email_or_phone": email, "password": password}, timeout=30
        )
        r.raise_for_status()
        return r.json()["data"]["access"]

    def set(self, case, data, context):
        case.headers = case.headers or {}
        case.headers["Authorization"] = f"Bearer {data}"
