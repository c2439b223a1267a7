-- Two-step login (domain/mfa.py): the second factor a session was started with, if any ('totp' or
-- 'recovery_code'), so that every access token of the session says so (the `amr` claim), refreshes included.

ALTER TABLE sessions ADD COLUMN second_factor TEXT CHECK (second_factor IN ('totp', 'recovery_code'));
