-- Limits per user and purpose that survive a new code: within a 24-hour
-- window at most 10 wrong guesses in all (each code also allows 5) and at
-- most 10 codes issued, so issuing new codes cannot reset a brute force and
-- nobody can flood a phone or mailbox through resend or reset.
ALTER TABLE otp_codes ADD COLUMN failures INTEGER NOT NULL DEFAULT 0;
ALTER TABLE otp_codes ADD COLUMN issued INTEGER NOT NULL DEFAULT 1;
ALTER TABLE otp_codes ADD COLUMN window_start INTEGER NOT NULL DEFAULT 0;
