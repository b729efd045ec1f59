-- Self-service: sign-ups waiting for their double opt-in, the consents people gave, and the
-- requests they made from their preference centre.
--
-- A pending sign-up is written for every accepted form POST, whether or not the address is
-- known (the answer and the work done must not tell). kind 'list' signs up to list scope,
-- 'event' registers for event scope. email is kept in clear only until the confirmation mail
-- is sent and the link confirmed or expired: confirm_signup and purge_signups blank it.
-- mailed_at is '' until the confirmation mail left; claimed_at marks a mailer working on it
-- (one mail per row). Times are UTC ISO 8601.
CREATE TABLE pending_signups (
    id            INTEGER PRIMARY KEY,
    kind          TEXT NOT NULL CHECK (kind IN ('list', 'event')),
    scope         TEXT NOT NULL,
    email         TEXT NOT NULL DEFAULT '',
    first_name    TEXT NOT NULL DEFAULT '',
    language      TEXT NOT NULL DEFAULT 'fr',
    form          TEXT NOT NULL DEFAULT '',
    created_at    TEXT NOT NULL,
    expires_at    TEXT NOT NULL,
    claimed_at    TEXT NOT NULL DEFAULT '',
    mailed_at     TEXT NOT NULL DEFAULT '',
    confirmed_at  TEXT NOT NULL DEFAULT ''
);

CREATE INDEX pending_signups_mail ON pending_signups (mailed_at, claimed_at);

-- One row per consent a person gave themselves: a confirmed double opt-in (source 'signup'),
-- a re-join from their own preference centre ('preferences'), an event sign-up ('event-signup').
-- list_name is the list (or 'event:NAME'); form names the form or page, wording its version.
-- No IP address is kept (minimisation: the confirmed link is the proof). Erasing the contact
-- deletes its rows (contact_id).
CREATE TABLE consents (
    id           INTEGER PRIMARY KEY,
    contact_id   INTEGER NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    list_name    TEXT NOT NULL,
    given_at     TEXT NOT NULL,
    source       TEXT NOT NULL,
    form         TEXT NOT NULL DEFAULT '',
    wording      TEXT NOT NULL DEFAULT ''
);

CREATE INDEX consents_contact ON consents (contact_id, list_name);

-- Requests a person made from their preference centre that the data protection officer
-- carries out: 'erase' (art. 17). done_at is '' until `commskit contacts requests --done ID`.
-- contact_id goes with the contact at erasure (the request is then fulfilled by definition).
CREATE TABLE contact_requests (
    id           INTEGER PRIMARY KEY,
    contact_id   INTEGER NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    kind         TEXT NOT NULL CHECK (kind IN ('erase')),
    requested_at TEXT NOT NULL,
    done_at      TEXT NOT NULL DEFAULT ''
);

CREATE INDEX contact_requests_open ON contact_requests (done_at, requested_at);
