-- Sign-in attempts are reserved before the password is checked: each row is an attempt counted
-- against a limit key; a success or an attempt that must not count deletes its rows by `attempt`.
-- limit_locks serialises the check-then-reserve per key, in one database and across instances:
-- a reservation first writes the lock rows of its keys, so concurrent ones wait their turn.
ALTER TABLE login_failures ADD COLUMN attempt TEXT;
CREATE INDEX login_failures_attempt ON login_failures(attempt);

CREATE TABLE limit_locks (
    limit_key TEXT PRIMARY KEY,
    used_at BIGINT NOT NULL
);
