-- Audience: contacts, their tags, and the suppression list.
--
-- Contacts are keyed by email_hash = HMAC-SHA256(workspace secret, lower-cased normalised address):
-- the plain address is stored once (contacts.email) and in no index, so GDPR erasure (deleting the
-- row, with PRAGMA secure_delete) leaves no copy behind. Empty text ('') means "not known", so
-- segment comparisons never meet NULL.
CREATE TABLE contacts (
    id            INTEGER PRIMARY KEY,
    email         TEXT NOT NULL,
    email_hash    TEXT NOT NULL UNIQUE,
    first_name    TEXT NOT NULL DEFAULT '',
    last_name     TEXT NOT NULL DEFAULT '',
    organization  TEXT NOT NULL DEFAULT '',
    kind          TEXT NOT NULL DEFAULT '',
    region        TEXT NOT NULL DEFAULT '',
    department    TEXT NOT NULL DEFAULT '',
    language      TEXT NOT NULL DEFAULT 'fr',
    stage         TEXT NOT NULL DEFAULT '',
    -- JSON array of lower-cased tags (sorted); contact_tags mirrors it for indexed lookups
    tags          TEXT NOT NULL DEFAULT '[]',
    -- JSON object of free attributes (string values), keys are slugs
    attributes    TEXT NOT NULL DEFAULT '{}',
    -- legal basis: 'consent', 'public-mission', 'professional' or '' (unknown)
    basis         TEXT NOT NULL DEFAULT '',
    basis_source  TEXT NOT NULL DEFAULT '',
    basis_date    TEXT NOT NULL DEFAULT '',
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);

CREATE INDEX contacts_kind_region ON contacts (kind, region);
CREATE INDEX contacts_region ON contacts (region);
CREATE INDEX contacts_stage ON contacts (stage);
CREATE INDEX contacts_department ON contacts (department);

CREATE TABLE contact_tags (
    contact_id  INTEGER NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    tag         TEXT NOT NULL,
    PRIMARY KEY (tag, contact_id)
) WITHOUT ROWID;

CREATE INDEX contact_tags_contact ON contact_tags (contact_id);

-- Who must not be emailed. list_name '' = every list. Only the keyed hash of the address is kept,
-- so an erased person's entry ("liste repoussoir") holds no plain personal data.
CREATE TABLE suppressions (
    email_hash  TEXT NOT NULL,
    list_name   TEXT NOT NULL DEFAULT '',
    -- 'unsubscribed', 'bounced', 'complained', 'erased' or 'manual'
    reason      TEXT NOT NULL,
    source      TEXT NOT NULL DEFAULT '',
    created_at  TEXT NOT NULL,
    PRIMARY KEY (email_hash, list_name)
) WITHOUT ROWID;
