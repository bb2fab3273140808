"""A software WebAuthn authenticator for scripts/contract/hooks.py.

Just enough of one to answer authgate's ceremonies (contract §15.3) the
way a browser and a platform authenticator would: one EC P-256 key per
credential (COSE alg -7, ES256), attestation "none", user presence and
user verification always asserted, a signature counter that grows with
each assertion. The JSON it returns is what `navigator.credentials`
answers, serialised as the WebAuthn Level 3 `toJSON()` does (binary
fields base64url without padding).

    key = Credential()
    registration = key.register(options["publicKey"], origin)
    assertion = key.assert_(request_options["publicKey"], origin)
"""

import base64
import hashlib
import json
import secrets
import struct
import threading

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

# Authenticator data flags (WebAuthn §6.1): user present, user verified,
# attested credential data included. Backup eligibility and state stay 0.
UP, UV, AT = 0x01, 0x04, 0x40


def b64url(data):
    """base64url without padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text):
    """The bytes of base64url with or without padding."""
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# ------------------------------------------------------------------- CBOR


def _head(major, n):
    """A CBOR item's initial byte(s): major type and argument (RFC 8949 §3)."""
    if n < 24:
        return bytes([major << 5 | n])
    if n < 0x100:
        return bytes([major << 5 | 24, n])
    if n < 0x10000:
        return bytes([major << 5 | 25]) + struct.pack(">H", n)
    if n < 0x100000000:
        return bytes([major << 5 | 26]) + struct.pack(">I", n)
    return bytes([major << 5 | 27]) + struct.pack(">Q", n)


def cbor(value):
    """CBOR of ints (negative too), byte strings, text strings and maps of
    those: all a COSE key and an attestation object need."""
    if isinstance(value, bool):
        raise TypeError("no booleans here")
    if isinstance(value, int):
        return _head(0, value) if value >= 0 else _head(1, -1 - value)
    if isinstance(value, bytes):
        return _head(2, len(value)) + value
    if isinstance(value, str):
        raw = value.encode("utf-8")
        return _head(3, len(raw)) + raw
    if isinstance(value, dict):
        return _head(5, len(value)) + b"".join(cbor(k) + cbor(v) for k, v in value.items())
    raise TypeError(f"cannot encode {type(value).__name__} as CBOR")


# ------------------------------------------------------------- credential


class Credential:
    """One passkey: a P-256 key, its credential id, and its counter. Thread
    safe: each assertion takes the next counter value."""

    def __init__(self):
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.id = secrets.token_bytes(32)
        self.counter = 0
        self.user_handle = None
        self._lock = threading.Lock()

    def _cose_key(self):
        """The public key as COSE_Key: EC2 (kty 2), ES256 (alg -7), P-256 (crv 1)."""
        numbers = self.key.public_key().public_numbers()
        return cbor({1: 2, 3: -7, -1: 1, -2: numbers.x.to_bytes(32, "big"), -3: numbers.y.to_bytes(32, "big")})

    @staticmethod
    def _client_data(kind, challenge, origin):
        """The client data JSON a browser collects (WebAuthn §5.8.1)."""
        return json.dumps(
            {"type": kind, "challenge": challenge, "origin": origin, "crossOrigin": False},
            separators=(",", ":"),
        ).encode("utf-8")

    def register(self, public_key, origin):
        """The `RegistrationResponseJSON` answering creation options
        `public_key` (`PublicKeyCredentialCreationOptions` as JSON)."""
        rp_id = public_key["rp"]["id"]
        self.user_handle = public_key["user"]["id"]
        client_data = self._client_data("webauthn.create", public_key["challenge"], origin)
        auth_data = (
            hashlib.sha256(rp_id.encode("utf-8")).digest()
            + bytes([UP | UV | AT])
            + struct.pack(">I", self.counter)
            + bytes(16)  # AAGUID: none
            + struct.pack(">H", len(self.id))
            + self.id
            + self._cose_key()
        )
        attestation = cbor({"fmt": "none", "attStmt": {}, "authData": auth_data})
        return {
            "id": b64url(self.id),
            "rawId": b64url(self.id),
            "type": "public-key",
            "response": {"clientDataJSON": b64url(client_data), "attestationObject": b64url(attestation)},
            "extensions": {},
        }

    def assert_(self, public_key, origin, rp_id=None):
        """The `AuthenticationResponseJSON` answering request options
        `public_key` (`PublicKeyCredentialRequestOptions` as JSON), signed
        with the next counter value."""
        rp_id = public_key.get("rpId") or rp_id
        with self._lock:
            self.counter += 1
            counter = self.counter
        client_data = self._client_data("webauthn.get", public_key["challenge"], origin)
        auth_data = hashlib.sha256(rp_id.encode("utf-8")).digest() + bytes([UP | UV]) + struct.pack(">I", counter)
        signature = self.key.sign(auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256()))
        response = {
            "authenticatorData": b64url(auth_data),
            "clientDataJSON": b64url(client_data),
            "signature": b64url(signature),
        }
        if self.user_handle is not None:
            response["userHandle"] = self.user_handle
        return {
            "id": b64url(self.id),
            "rawId": b64url(self.id),
            "type": "public-key",
            "response": response,
            "extensions": {},
        }
