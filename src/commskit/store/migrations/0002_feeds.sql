-- Veille: fetch state per feed, normalised items, marked digests.

-- One row per feed URL as written in a feed list (resolved to an absolute URL). The list file stays
-- the source of truth for names/topics; this table keeps what fetching learnt.
CREATE TABLE feeds (
    url             TEXT PRIMARY KEY,
    name            TEXT NOT NULL,
    effective_url   TEXT,              -- after permanent redirects (301/308)
    etag            TEXT,
    last_modified   TEXT,
    last_fetch      TEXT,              -- last attempt (UTC ISO)
    last_success    TEXT,
    last_status     INTEGER,
    error_count     INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT,
    not_before      TEXT,              -- Retry-After or back-off: skip until then
    deactivated     TEXT,              -- reason (e.g. 410 Gone); NULL = active
    title           TEXT,
    site_url        TEXT
);

CREATE TABLE items (
    id              TEXT PRIMARY KEY,  -- stable: hash of feed url + guid (else link, else content)
    feed_url        TEXT NOT NULL,
    feed_name       TEXT NOT NULL,
    guid            TEXT,
    link            TEXT NOT NULL,     -- cleaned link shown to readers ('' when none was usable)
    canonical_url   TEXT,              -- comparison key for dedupe
    title           TEXT NOT NULL,
    title_key       TEXT NOT NULL,     -- folded title for fuzzy dedupe
    content_hash    TEXT,
    summary_html    TEXT NOT NULL,
    summary_text    TEXT NOT NULL,
    authors         TEXT NOT NULL,     -- JSON list
    tags            TEXT NOT NULL,     -- JSON list
    published       TEXT NOT NULL,     -- UTC ISO; first-seen time when missing/bogus
    date_flag       TEXT,              -- NULL, 'missing', 'future', 'bogus'
    first_seen      TEXT NOT NULL,
    duplicate_of    TEXT REFERENCES items(id),
    duplicate_reason TEXT              -- guid, url, content, title
);
CREATE INDEX items_guid ON items(guid) WHERE guid IS NOT NULL;
CREATE INDEX items_canonical ON items(canonical_url) WHERE canonical_url IS NOT NULL;
CREATE INDEX items_hash ON items(content_hash) WHERE content_hash IS NOT NULL;
CREATE INDEX items_published ON items(published);
CREATE INDEX items_first_seen ON items(first_seen);
CREATE INDEX items_duplicate_of ON items(duplicate_of) WHERE duplicate_of IS NOT NULL;

CREATE TABLE digests (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL,
    start       TEXT NOT NULL,
    "end"       TEXT NOT NULL,
    created     TEXT NOT NULL,
    item_count  INTEGER NOT NULL
);
CREATE INDEX digests_name ON digests(name, "end");

-- Which items a marked digest included: `--since last` never repeats them.
CREATE TABLE digest_items (
    digest_id   INTEGER NOT NULL REFERENCES digests(id) ON DELETE CASCADE,
    item_id     TEXT NOT NULL,
    PRIMARY KEY (digest_id, item_id)
);
CREATE INDEX digest_items_item ON digest_items(item_id);
