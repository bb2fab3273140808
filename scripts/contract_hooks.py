"""Schemathesis hooks for scripts/contract-check: Bearer tokens for the
authenticated operations.

Admin operations run as the superuser, the rest as a normal user. Tokens are
fetched by signing in (the credentials come from the script's environment),
cached per user, and fetched again whenever an answer is a 401: the run
itself revokes sessions (logout, logout-all). The run may also delete or
deactivate the normal user (the admin API hands out real user ids); then a
new one is registered. The superuser cannot be removed: it is the last admin.
"""

import os
import secrets

import requests
import schemathesis

BASE = os.environ["CONTRACT_BASE_URL"]
USERS = {
    "admin": [os.environ["CONTRACT_ADMIN_EMAIL"], os.environ["CONTRACT_ADMIN_PASSWORD"]],
    "user": [os.environ["CONTRACT_USER_EMAIL"], os.environ["CONTRACT_USER_PASSWORD"]],
}


def who(case, context):
    return "admin" if "/admin/" in case.operation.path else "user"


def sign_in(email, password):
    body = {"email_or_phone": email, "password": password}
    return requests.post(f"{BASE}/api/v1/auth/login/", json=body, timeout=30)


@schemathesis.auth(cache_by_key=who, refresh_interval=600)
class SignedIn:
    def get(self, case, context):
        role = who(case, context)
        email, password = USERS[role]
        r = sign_in(email, password)
        if r.status_code != 200 and role == "user":
            email = f"user-{secrets.token_hex(6)}@contract.example"
            body = {"email": email, "password": password, "first_name": "Contract"}
            requests.post(f"{BASE}/api/v1/auth/register/", json=body, timeout=30).raise_for_status()
            USERS["user"][0] = email
            r = sign_in(email, password)
        if r.status_code != 200:
            raise RuntimeError(f"signing in as {email} failed: {r.status_code} {r.text}")
        return r.json()["data"]["access"]

    def set(self, case, data, context):
        case.headers = case.headers or {}
        case.headers["Authorization"] = f"Bearer {data}"
