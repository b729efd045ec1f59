-- Named leases: at most one process at a time holds each one (a campaign's send, and later the
-- `commskit run` scheduler). The holder renews expires_at while it works; a lease whose holder
-- stopped without releasing it is taken over once it has expired, or at once when the holder's
-- process is provably gone (same host, no such pid).
CREATE TABLE leases (
    name        TEXT PRIMARY KEY,      -- e.g. 'send:2026-11-infolettre'
    owner       TEXT NOT NULL,         -- random id of the holding run
    pid         INTEGER NOT NULL,      -- its process id, on host
    host        TEXT NOT NULL,
    since       TEXT NOT NULL,         -- ISO 8601 UTC, when the holder took it
    expires_at  REAL NOT NULL          -- unix time; renewed by the holder while it works
);
