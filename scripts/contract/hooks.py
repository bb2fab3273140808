"""Schemathesis hooks for scripts/contract-check.

Three jobs, none of which loosens what is generated from the document:

* Bearer tokens. Admin operations run as the superuser, the rest as a
  normal user; tokens are fetched by signing in (credentials from the
  script's environment), cached, and fetched again after a 401. In the
  stateful phase an `Authorization` a link set (the access token of the
  sign-in the step follows) is kept.

* Generators for what the document names but no JSON Schema keyword can
  state: `format: phone` (a number valid per libphonenumber metadata).

* State the generated data cannot know, filled into *positive* cases only
  (negative ones go out as generated): a fresh email for a registration
  (emails are unique), a live refresh token, a real session or user id, a
  pending code read from the server's log (no email or SMS channel is
  configured, so the server logs messages), a real cursor. Operations that
  destroy what they touch (logout-all, password change, deleting or changing
  a user) get a throwaway account of their own, so the run's accounts live on.
  Second factors: TOTP codes are computed here from the secret a setup
  answered (RFC 6238), for accounts the hooks enrol themselves; passkeys
  are made and used by a software authenticator (authenticator.py, next to
  this file), for accounts of their own: an account with a passkey answers
  a password sign-in with mfa_required, so the run's user never gets one.

Adding a route: write `fill_<name>(case)` that puts real state into a
positive case (ids, tokens, codes; leave what the document describes as
generated), and add it to FILL under the operation id without its mount
(`v1_mfa_verify` -> "mfa_verify"). A route that needs a caller other than
the normal user (admin, a service token) gets it in `caller()`. A route
whose 2xx needs no state needs no entry. Then run scripts/contract-check:
rates.py prints the share of cases that reached a 2xx per operation.
"""

import base64
import hashlib
import hmac
import struct

import atexit
import itertools
import json
import os
import re
import secrets
import sys
import threading
import time

import requests
import schemathesis
from hypothesis import strategies as st
from schemathesis.generation.modes import GenerationMode

# Schemathesis loads this file by path: its directory is not on sys.path.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from authenticator import Credential  # noqa: E402

BASE = os.environ["CONTRACT_BASE_URL"]
API = f"{BASE}/api/v1"
SERVER_LOG = os.environ.get("CONTRACT_SERVER_LOG")
USERS = {
    "admin": [os.environ["CONTRACT_ADMIN_EMAIL"], os.environ["CONTRACT_ADMIN_PASSWORD"]],
    "user": [os.environ["CONTRACT_USER_EMAIL"], os.environ["CONTRACT_USER_PASSWORD"]],
}
INTROSPECTION_TOKEN = os.environ["CONTRACT_INTROSPECTION_TOKEN"]
SERIAL = itertools.count()
HTTP = requests.Session()

# Numbers libphonenumber holds valid: US area codes in service with any
# exchange 2-9xx, and UK mobiles 078[4-9]/079[4-9].
US_AREAS = ["201", "212", "213", "305", "310", "312", "415", "617", "646", "702", "718", "917"]
phone_numbers = st.one_of(
    st.builds(
        lambda area, exchange, line: f"+1{area}{exchange}{line:04d}",
        st.sampled_from(US_AREAS),
        st.integers(200, 999),
        st.integers(0, 9999),
    ),
    st.builds(
        lambda second, third, rest: f"+447{second}{third}{rest:07d}",
        st.sampled_from("89"),
        st.sampled_from("456789"),
        st.integers(0, 9_999_999),
    ),
)
schemathesis.openapi.format("phone", phone_numbers)


def post(path, body, token=None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return HTTP.post(f"{API}{path}", json=body, headers=headers, timeout=30)


def get(path, token, **query):
    return HTTP.get(f"{API}{path}", params=query, headers={"Authorization": f"Bearer {token}"}, timeout=30)


def unique_email(tag="u"):
    return f"{tag}-{next(SERIAL)}-{secrets.token_hex(4)}@contract.example"


def register(tag, phone=None):
    """A fresh account: (email or None, password, user id, the answer's data)."""
    password = f"pw-{secrets.token_hex(12)}"
    body = {"password": password, "first_name": "Contract"}
    email = None
    if phone:
        body["phone"] = phone
    else:
        email = unique_email(tag)
        body["email"] = email
    r = post("/auth/register/", body)
    r.raise_for_status()
    data = r.json()["data"]
    return email, password, data["user"]["id"], data


def sign_in(login, password):
    r = post("/auth/login/", {"email_or_phone": login, "password": password})
    r.raise_for_status()
    return r.json()["data"]


def throwaway():
    """A new account, signed in: (email, password, login data)."""
    email, password, _, _ = register("t")
    return email, password, sign_in(email, password)


def caller(case, context):
    """Who calls the operation: "admin", "introspection" (a service) or
    "user"."""
    path = case.operation.path
    if "/admin/" in path:
        return "admin"
    if path.endswith("/auth/introspect/"):
        return "introspection"
    return "user"


@schemathesis.auth(cache_by_key=caller, refresh_interval=600)
class SignedIn:
    def get(self, case, context):
        role = caller(case, context)
        if role == "introspection":
            return INTROSPECTION_TOKEN
        email, password = USERS[role]
        r = post("/auth/login/", {"email_or_phone": email, "password": password})
        if r.status_code != 200 and role == "user":
            # The run deleted or deactivated the user: a new one.
            email = unique_email("user")
            body = {"email": email, "password": password, "first_name": "Contract"}
            post("/auth/register/", body).raise_for_status()
            USERS["user"][0] = email
            r = post("/auth/login/", {"email_or_phone": email, "password": password})
        if r.status_code != 200:
            raise RuntimeError(f"signing in as {email} failed: {r.status_code} {r.text}")
        return r.json()["data"]["access"]

    def set(self, case, data, context):
        case.headers = case.headers or {}
        linked = case.headers.get("Authorization", "")
        if linked.startswith("Bearer ey") and is_stateful(case):
            return
        case.headers["Authorization"] = f"Bearer {data}"


def is_stateful(case):
    meta = case.meta
    return meta is not None and str(getattr(meta.phase.name, "value", meta.phase.name)) == "stateful"


def is_positive(case):
    meta = case.meta
    return meta is not None and meta.generation.mode == GenerationMode.POSITIVE


def token_of(case):
    return case.headers["Authorization"].split(" ", 1)[1]


def delivered(to, since, pattern, timeout=5.0):
    """The first match of `pattern` in the body of a message the server
    logged (JSON, one object a line) to `to` after byte offset `since`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open(SERVER_LOG, encoding="utf-8", errors="replace") as log:
            log.seek(since)
            for line in log:
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                fields = {**record, **(record.get("fields") or {})}
                if fields.get("target") == "authgate::delivery" and fields.get("to") == to:
                    found = re.search(pattern, str(fields.get("body", "")))
                    if found:
                        return found
        time.sleep(0.05)
    raise RuntimeError(f"no message to {to} in the server log")


def log_size():
    return os.path.getsize(SERVER_LOG)


def fresh_phone():
    return f"+1415{secrets.randbelow(800) + 200}{secrets.randbelow(10000):04d}"


# Emails and phones already registered by this run.
TAKEN = set()


def fill_register(case):
    body = case.body
    if is_stateful(case) and not body.get("email"):
        # The links to sign-in and verification follow the email.
        body["email"] = unique_email("s")
    email = body.get("email")
    if isinstance(email, str) and email.strip():
        local, _, domain = email.rpartition("@")
        tag = f"r{next(SERIAL)}x{secrets.token_hex(3)}"
        room = min(64, 254 - len(domain) - 1) - len(tag) - 1
        local = local[: max(room, 0)].rstrip(".")
        body["email"] = f"{tag}.{local}@{domain}" if local else f"{tag}@{domain}"
    phone = body.get("phone")
    if isinstance(phone, str) and phone.strip():
        while body["phone"] in TAKEN:
            body["phone"] = fresh_phone()
        TAKEN.add(body["phone"])


def fill_verify_otp(case):
    email, _, _, data = register("v")
    case.body["email_or_phone"] = email
    case.body["otp"] = data["otp"]


def fill_reset_confirm(case):
    body = case.body
    since = log_size()
    if "uidb64" in body or "token" in body:
        email, _, _, _ = register("rl")
        post("/password/reset-request/", {"email_or_phone": email}).raise_for_status()
        link = delivered(email, since, r"https?://\S*?uid=([A-Za-z0-9_-]+)&token=([A-Za-z0-9_-]+)")
        body["uidb64"], body["token"] = link.group(1), link.group(2)
    else:
        phone = fresh_phone()
        while phone in TAKEN:
            phone = fresh_phone()
        TAKEN.add(phone)
        register("rc", phone=phone)
        post("/password/reset-request/", {"email_or_phone": phone}).raise_for_status()
        body["email_or_phone"] = phone
        # The registration's own code goes to the same phone.
        body["otp"] = delivered(phone, since, r"password reset code is (\d{6})").group(1)


def fill_login(case):
    # Generated credentials name no account (401): the run's user's.
    case.body["email_or_phone"], case.body["password"] = USERS["user"]


def fill_refresh(case):
    email, password = USERS["user"]
    case.body["refresh"] = sign_in(email, password)["refresh"]


def fill_logout(case):
    # A second session of the caller, signed out by the case.
    email, password = USERS["user"]
    case.body["refresh"] = sign_in(email, password)["refresh"]


def fill_own_account(case):
    _, password, data = throwaway()
    case.headers["Authorization"] = f"Bearer {data['access']}"
    if isinstance(case.body, dict) and "current_password" in case.body:
        case.body["current_password"] = password


def fill_revoke_session(case):
    email, password = USERS["user"]
    access = sign_in(email, password)["access"]
    sessions = get("/auth/sessions/", access).json()["data"]["sessions"]
    case.path_parameters["id"] = next(s["id"] for s in sessions if s["current"])


# ------------------------------------------------------------ second factors


def totp_at(secret, step):
    """The RFC 6238 code (HMAC-SHA-1, 6 digits) of 30-second step `step`."""
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    digest = hmac.new(key, struct.pack(">Q", step), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    number = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return f"{number % 1_000_000:06d}"


def now_step():
    return int(time.time() // 30)


class Enrolled:
    """An account with TOTP active: its secret, its unused recovery codes,
    and the last step whose code the server accepted (a step's code works
    once; the server takes the steps next to the current one too)."""

    def __init__(self):
        self.email, self.password, data = throwaway()
        self.access = data["access"]
        r = HTTP.post(f"{API}/auth/mfa/totp/setup/", headers={"Authorization": f"Bearer {self.access}"}, timeout=30)
        r.raise_for_status()
        self.secret = r.json()["data"]["secret"]
        self.last_step = now_step()
        r = post("/auth/mfa/totp/confirm/", {"code": totp_at(self.secret, self.last_step)}, self.access)
        r.raise_for_status()
        self.recovery_codes = r.json()["data"]["recovery_codes"]

    def next_code(self):
        """A code the server has not accepted yet, or None until the next step."""
        step = max(now_step(), self.last_step + 1)
        if step > now_step() + 1:
            return None
        self.last_step = step
        return totp_at(self.secret, step)

    def answer(self, kind):
        """A right `code` (TOTP) or `recovery_code`, or None if spent."""
        if kind == "recovery_code":
            return self.recovery_codes.pop() if self.recovery_codes else None
        return self.next_code()


# Enrolled accounts shared by the cases that only sign in with them.
ENROLLED = []
ENROLLED_LOCK = threading.Lock()


def enrolled_answer(kind):
    """An enrolled account and a right answer of `kind` for it."""
    with ENROLLED_LOCK:
        for account in ENROLLED:
            answer = account.answer(kind)
            if answer is not None:
                return account, answer
        account = Enrolled()
        ENROLLED.append(account)
        return account, account.answer(kind)


def fill_totp_confirm(case):
    # An account of its own: confirming turns TOTP on, and the run's user
    # must keep signing in with a password alone.
    _, _, data = throwaway()
    case.headers["Authorization"] = f"Bearer {data['access']}"
    r = HTTP.post(f"{API}/auth/mfa/totp/setup/", headers=case.headers, timeout=30)
    r.raise_for_status()
    case.body["code"] = totp_at(r.json()["data"]["secret"], now_step())


def fill_enrolled(case):
    """A new enrolled account (the case changes its factors): its token,
    password, and a right code of the kind generated."""
    account = Enrolled()
    case.headers["Authorization"] = f"Bearer {account.access}"
    if "password" in case.body:
        case.body["password"] = account.password
    if "code" in case.body:
        recovery = not re.fullmatch(r"\s*[0-9]{6}\s*", str(case.body["code"]))
        case.body["code"] = account.answer("recovery_code" if recovery else "code")


def fill_mfa_verify(case):
    """A live mfa_token and a right answer of the kind generated: a
    passkey's assertion (a real one, from an account with a passkey) for
    `webauthn`, else a TOTP or recovery code of an enrolled account."""
    body = case.body
    if "webauthn" in body:
        account = passkey_account()
        body["mfa_token"] = account.mfa_token()
        r = post("/auth/mfa/webauthn/options/", {"mfa_token": body["mfa_token"]})
        r.raise_for_status()
        body["webauthn"] = account.key.assert_(r.json()["data"]["publicKey"], ORIGIN)
        return
    kind = "recovery_code" if "recovery_code" in body else "code"
    for other in ("code", "recovery_code", "webauthn"):
        body.pop(other, None)
    for _ in range(3):
        account, body[kind] = enrolled_answer(kind)
        r = post("/auth/login/", {"email_or_phone": account.email, "password": account.password})
        r.raise_for_status()
        token = r.json()["data"].get("mfa_token")
        if token is not None:
            body["mfa_token"] = token
            return
        # The account lost its second factor meanwhile: take another.
        with ENROLLED_LOCK:
            if account in ENROLLED:
                ENROLLED.remove(account)
    raise RuntimeError("no enrolled account answered the sign-in with an mfa_token")


# ------------------------------------------------------------------ passkeys

# The origin the server's relying party allows (the script sets both).
ORIGIN = os.environ["CONTRACT_WEBAUTHN_ORIGIN"]


class PasskeyAccount:
    """An account of its own with a passkey of the software authenticator
    (`key`, registered as `passkey_id`). Its password sign-in answers
    mfa_required, so it keeps the access token of the sign-in before its
    first passkey."""

    def __init__(self):
        self.email, self.password, data = throwaway()
        self.access = data["access"]
        self.key = Credential()
        self.passkey_id = self.register(self.key)

    def creation_options(self):
        """Fresh creation options (`publicKey`) for a passkey of this account."""
        r = HTTP.post(f"{API}/auth/passkeys/register/options/", headers=self.headers(), timeout=30)
        r.raise_for_status()
        return r.json()["data"]["publicKey"]

    def register(self, key, name="Contract key"):
        """Registers `key` as a passkey of this account: its id."""
        credential = key.register(self.creation_options(), ORIGIN)
        r = post("/auth/passkeys/register/", {"credential": credential, "name": name}, self.access)
        r.raise_for_status()
        return r.json()["data"]["passkey"]["id"]

    def headers(self):
        """Its Bearer header."""
        return {"Authorization": f"Bearer {self.access}"}

    def mfa_token(self):
        """The mfa_token of a password sign-in (the passkey is a second factor)."""
        data = sign_in(self.email, self.password)
        if "mfa_token" not in data:
            raise RuntimeError(f"signing in to {self.email}, with a passkey, answered no mfa_token")
        return data["mfa_token"]


# One passkey account per worker thread: a thread's cases run one after
# the other, so its ceremonies (one pending registration per account) and
# its key's signature counter (which must only grow) never race.
LOCAL = threading.local()


def passkey_account():
    """This thread's account with a passkey, made on first use."""
    account = getattr(LOCAL, "passkey_account", None)
    if account is None:
        account = LOCAL.passkey_account = PasskeyAccount()
    return account


def fill_passkey_register(case):
    """Fresh creation options of the thread's passkey account and a new
    key's answer to them; the generated name stays."""
    account = passkey_account()
    case.headers["Authorization"] = f"Bearer {account.access}"
    case.body["credential"] = Credential().register(account.creation_options(), ORIGIN)


def fill_passkey_owner(case):
    """The thread's passkey account as caller (its list is not empty) and,
    where the path names one, its passkey."""
    account = passkey_account()
    case.headers["Authorization"] = f"Bearer {account.access}"
    if "id" in (case.path_parameters or {}):
        case.path_parameters["id"] = account.passkey_id


def fill_delete_passkey(case):
    """A passkey registered for this case alone, deleted by it."""
    account = passkey_account()
    case.headers["Authorization"] = f"Bearer {account.access}"
    case.path_parameters["id"] = account.register(Credential(), "To delete")


def fill_passkey_login(case):
    """A new ceremony and the thread's passkey answering it: every other
    case names the account (its passkeys listed), the rest are
    discoverable (the account found by the user handle)."""
    account = passkey_account()
    body = {"email_or_phone": account.email} if next(SERIAL) % 2 else {}
    r = post("/auth/passkeys/login/options/", body)
    r.raise_for_status()
    options = r.json()["data"]
    case.body["ceremony"] = options["ceremony"]
    case.body["credential"] = account.key.assert_(options["publicKey"], ORIGIN)


def fill_mfa_webauthn_options(case):
    """A live mfa_token of an account with a passkey."""
    case.body["mfa_token"] = passkey_account().mfa_token()


def fill_introspect(case):
    email, password = USERS["user"]
    case.body["token"] = sign_in(email, password)["access"]


def fill_user_session(case):
    email, password, user_id, _ = register("s")
    access = sign_in(email, password)["access"]
    sessions = get("/auth/sessions/", access).json()["data"]["sessions"]
    case.path_parameters["id"] = user_id
    case.path_parameters["sid"] = sessions[0]["id"]


def fill_user_id(case):
    _, _, user_id, _ = register("a")
    case.path_parameters["id"] = user_id


def fill_deleted_user_id(case):
    _, _, user_id, _ = register("d")
    r = HTTP.delete(f"{API}/admin/users/{user_id}/", headers=case.headers, timeout=30)
    r.raise_for_status()
    case.path_parameters["id"] = user_id


# ------------------------------------------------------------ social sign-in
#
# scripts/contract-check runs the test OpenID Connect provider
# (scripts/oidc-provider) and configures it as `CONTRACT_SOCIAL_PROVIDER`;
# these fills sign in at its login and consent pages as a browser would
# (any login is an account there: `<login>@example.com`, verified). Without
# it (no Node.js), every social operation answers 404 or 400, which
# rates.py expects (EXPECTED_4XX).

SOCIAL = os.environ.get("CONTRACT_SOCIAL_PROVIDER")
SOCIAL_ISSUER = os.environ.get("CONTRACT_SOCIAL_ISSUER", "")
SOCIAL_NEXT = os.environ.get("CONTRACT_SOCIAL_NEXT", "")
NATIVE_REDIRECT = "http://127.0.0.1:9/native"


def walk(session, url, login, stop):
    """Follows redirects from `url`, signing in as `login` and consenting
    at the provider's pages, until a redirect goes to a URL starting with
    `stop`: that URL."""
    r = session.get(url, allow_redirects=False, timeout=30)
    for _ in range(20):
        if r.is_redirect:
            url = requests.compat.urljoin(url, r.headers["Location"])
            if url.startswith(stop):
                return url
            r = session.get(url, allow_redirects=False, timeout=30)
            continue
        form = re.search(r'<form[^>]*action="([^"]+)"(.*?)</form>', r.text, re.S)
        if form is None:
            raise RuntimeError(f"{r.status_code} at {url}, no form: {r.text[:300]}")
        fields = dict(re.findall(r'<input[^>]*name="([^"]+)"[^>]*?(?:value="([^"]*)")?[^>]*>', form.group(2)))
        if "login" in fields:
            fields.update(login=login, password="any password")
        url = requests.compat.urljoin(url, form.group(1).replace("&amp;", "&"))
        r = session.post(url, data=fields, allow_redirects=False, timeout=30)
    raise RuntimeError(f"more than 20 steps from {url}")


def query_of(url):
    return dict(requests.compat.parse_qsl(requests.compat.urlparse(url).query))


def social_login():
    return f"contract{next(SERIAL)}x{secrets.token_hex(4)}"


def browser_flow(stop):
    """A browser sign-in at authgate's start, stopped at `stop`: (the URL
    it reached, the browser's session)."""
    session = requests.Session()
    start = f"{API}/auth/social/{SOCIAL}/start/?" + requests.compat.urlencode({"next": SOCIAL_NEXT})
    return walk(session, start, social_login(), stop), session


def id_token(login, nonce):
    """An ID token of the provider for authgate's client, as a native
    app's back end would redeem one."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    auth = f"{SOCIAL_ISSUER}/auth?" + requests.compat.urlencode({
        "client_id": "authgate", "response_type": "code", "scope": "openid email profile",
        "redirect_uri": NATIVE_REDIRECT, "state": "contract", "nonce": nonce,
        "code_challenge": challenge, "code_challenge_method": "S256",
    })
    code = query_of(walk(requests.Session(), auth, login, NATIVE_REDIRECT))["code"]
    r = HTTP.post(f"{SOCIAL_ISSUER}/token", auth=("authgate", "authgate-secret"), timeout=30, data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": NATIVE_REDIRECT, "code_verifier": verifier,
    })
    r.raise_for_status()
    return r.json()["id_token"]


def social(fill):
    """A fill that needs the provider (none without it)."""
    def wrapped(case):
        if SOCIAL:
            case.path_parameters = case.path_parameters or {}
            if "provider" in case.path_parameters:
                case.path_parameters["provider"] = SOCIAL
            fill(case)

    return wrapped


@social
def fill_social_start(case):
    case.query = case.query or {}
    case.query["next"] = SOCIAL_NEXT


@social
def fill_social_callback(case):
    """The provider's redirect back, with the browser's binding cookie."""
    url, session = browser_flow(f"{API}/auth/social/{SOCIAL}/callback/")
    case.query = query_of(url)
    case.headers = case.headers or {}
    case.headers["Cookie"] = f"authgate_social={session.cookies['authgate_social']}"


@social
def fill_social_exchange(case):
    url, _ = browser_flow(SOCIAL_NEXT)
    case.body["code"] = query_of(url)["code"]


@social
def fill_social_proof(case):
    """A fresh identity's ID token (and its nonce): a first sign-in, or a
    link to a throwaway account of its own."""
    nonce = secrets.token_hex(8)
    case.body = {"id_token": id_token(social_login(), nonce), "nonce": nonce}
    if case.operation.path.endswith("/link/"):
        fill_own_account(case)


@social
def fill_social_unlink(case):
    """A throwaway account (with its password) that has linked an identity."""
    fill_own_account(case)
    nonce = secrets.token_hex(8)
    body = {"id_token": id_token(social_login(), nonce), "nonce": nonce}
    post(f"/auth/social/{SOCIAL}/link/", body, token_of(case)).raise_for_status()


def fill_cursor(path, key):
    def fill(case):
        if "cursor" not in (case.query or {}):
            return
        page = get(path, token_of(case), limit=1).json()["data"]
        if page["next_cursor"]:
            case.query["cursor"] = page["next_cursor"]

    return fill


FILL = {
    "register": fill_register,
    "login": fill_login,
    "verify_otp": fill_verify_otp,
    "reset_confirm": fill_reset_confirm,
    "refresh": fill_refresh,
    "logout": fill_logout,
    "logout_all": fill_own_account,
    "change_password": fill_own_account,
    "revoke_session": fill_revoke_session,
    "get_user": fill_user_id,
    "patch_user": fill_user_id,
    "delete_user": fill_user_id,
    "restore_user": fill_deleted_user_id,
    "list_users": fill_cursor("/admin/users/", "users"),
    "list_audit": fill_cursor("/admin/audit/", "events"),
    "totp_confirm": fill_totp_confirm,
    "totp_disable": fill_enrolled,
    "regenerate_recovery_codes": fill_enrolled,
    "mfa_verify": fill_mfa_verify,
    "passkey_register": fill_passkey_register,
    "list_passkeys": fill_passkey_owner,
    "rename_passkey": fill_passkey_owner,
    "delete_passkey": fill_delete_passkey,
    "passkey_login": fill_passkey_login,
    "mfa_webauthn_options": fill_mfa_webauthn_options,
    "admin_reset_mfa": fill_user_id,
    "introspect": fill_introspect,
    "admin_list_sessions": fill_user_id,
    "admin_revoke_session": fill_user_session,
    "admin_logout_all": fill_user_id,
    "social_start": fill_social_start,
    "social_callback": fill_social_callback,
    "social_exchange": fill_social_exchange,
    "social_sign_in": fill_social_proof,
    "social_link": fill_social_proof,
    "social_unlink": fill_social_unlink,
}


@schemathesis.hook
def before_call(context, case, kwargs):
    if not is_positive(case):
        return
    operation = case.operation.definition.raw.get("operationId", "").split("_", 1)[-1]
    # A stateful step's data comes from the step before it (a link): only
    # a registration still needs a fresh email.
    if is_stateful(case) and operation != "register":
        return
    fill = FILL.get(operation)
    if fill is not None:
        fill(case)


# What each positive case was answered, per operation and phase, for
# scripts/contract/rates.py (Schemathesis's own report leaves the stateful
# phase and the 401/403 answers out).
STATS_FILE = os.environ.get("CONTRACT_STATS")
STATS = {}
STATS_LOCK = threading.Lock()


@schemathesis.hook
def after_call(context, case, response):
    if not is_positive(case) or STATS_FILE is None:
        return
    phase = str(getattr(case.meta.phase.name, "value", case.meta.phase.name))
    label = f"{case.operation.method.upper()} {case.operation.path}"
    with STATS_LOCK:
        counts = STATS.setdefault(label, {}).setdefault(phase, {})
        counts[str(response.status_code)] = counts.get(str(response.status_code), 0) + 1


@atexit.register
def write_stats():
    if STATS_FILE is None or not STATS:
        return
    with open(STATS_FILE, "w", encoding="utf-8") as f:
        json.dump(STATS, f, indent=1, sort_keys=True)
