#!/usr/bin/env python3
"""Verifies authgate's tokens against its published JWK Set with PyJWT, an
implementation independent of authgate's (tests/api/jwks_interop.rs).

    pyjwt_verify.py VENV JWKS_FILE TOKEN...

Makes VENV (pip install pyjwt cryptography) on first use, then prints one
line per token: `ok <user_id> <token_type>` or `fail <reason>`. Exits 77
when pip cannot reach the package index, so the caller can skip.
"""
import fcntl
import json
import os
import subprocess
import sys


def ensure_venv(venv):
    python = os.path.join(venv, "bin", "python")
    os.makedirs(os.path.dirname(venv) or ".", exist_ok=True)
    with open(venv + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # the SQLite and PostgreSQL runs may start it together
        if os.path.exists(os.path.join(venv, ".ready")):
            return python
        subprocess.run([sys.executable, "-m", "venv", venv], check=True)
        pip = subprocess.run(
            [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "pyjwt", "cryptography"],
            capture_output=True, text=True,
        )
        if pip.returncode != 0:
            sys.stderr.write(pip.stderr)
            sys.exit(77)
        open(os.path.join(venv, ".ready"), "w").close()
    return python


def verify(jwks_file, tokens):
    import jwt

    with open(jwks_file) as f:
        keys = jwt.PyJWKSet.from_dict(json.load(f))
    for token in tokens:
        try:
            header = jwt.get_unverified_header(token)
            key = keys[header["kid"]]
            claims = jwt.decode(token, key=key.key, algorithms=[key.algorithm_name])
            print("ok", claims["user_id"], claims["token_type"])
        except Exception as e:  # any refusal is a line, not a crash
            print("fail", type(e).__name__)


if __name__ == "__main__":
    if sys.argv[1] == "--inner":
        verify(sys.argv[2], sys.argv[3:])
    else:
        python = ensure_venv(sys.argv[1])
        sys.exit(subprocess.run([python, __file__, "--inner", *sys.argv[2:]]).returncode)
