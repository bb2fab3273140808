-- Key pairs that sign tokens with an asymmetric AUTHGATE_JWT_ALGORITHM
-- (contract §17). The private key is sealed (ChaCha20-Poly1305 under a key
-- derived from AUTHGATE_SECRET_KEY, bound to its kid); the public key is
-- derived from it. Retired keys stay listed; they verify until the last
-- token they signed has expired.
CREATE TABLE signing_keys (
    kid         TEXT PRIMARY KEY,
    alg         TEXT NOT NULL,
    private_key TEXT NOT NULL,   -- base64url(nonce || ciphertext || tag)
    created_at  BIGINT NOT NULL, -- microseconds
    retired_at  BIGINT           -- microseconds; NULL while it signs
);
-- One active key per algorithm: of instances starting together on an empty
-- table, one key wins and the others read it.
CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys (alg) WHERE retired_at IS NULL;
