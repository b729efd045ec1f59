-- Follow-up sequences (sequences/NAME.toml) and scheduled sends: who entered a sequence when,
-- which step reached them when, who left and why; and campaigns scheduled with send --at.
--
-- What was *sent* is the send log's business: each step is the campaign 'seq:NAME:STEP', so the
-- send log gives exactly-once per contact and step. sequence_steps copies each final outcome
-- (sent, suppressed, failed for good) from it after a send, and records the steps skipped because
-- their condition did not hold; due_at is the moment the schedule gave the step (entry + delays),
-- which is what `run --dry-run --until` prints.
CREATE TABLE sequence_members (
    sequence     TEXT NOT NULL,
    contact_id   INTEGER NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    entered_at   TEXT NOT NULL,
    exited_at    TEXT,
    -- the exit clause that matched, 'completed' after the last step, or '' while in it
    exit_reason  TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (sequence, contact_id)
);

CREATE INDEX sequence_members_active ON sequence_members (sequence, exited_at);

CREATE TABLE sequence_steps (
    sequence     TEXT NOT NULL,
    contact_id   INTEGER NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    step         INTEGER NOT NULL,
    outcome      TEXT NOT NULL CHECK (outcome IN ('sent', 'skipped', 'suppressed', 'failed')),
    due_at       TEXT NOT NULL,
    done_at      TEXT NOT NULL,
    PRIMARY KEY (sequence, contact_id, step)
);

-- `commskit send NAME --at TIME`: the campaign is sent by the first `commskit run` at or after
-- send_at (UTC ISO 8601); done_at is set once a run sent it to everyone.
CREATE TABLE scheduled_sends (
    campaign     TEXT PRIMARY KEY,
    send_at      TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    done_at      TEXT
);
