-- Why a recipient is not mailed, as a category the reports can count (issue 10 item 3): one of
-- suppressed-list, suppressed-global, erased, no-basis, refused-basis, invalid, duplicate
-- (commskit.send.runner.NOT_MAILED). NULL for rows that are mailed or failed. The `error` column
-- keeps the full text.
ALTER TABLE send_log ADD COLUMN reason TEXT;

-- Rows written before this migration: the categories their text tells for sure. Older
-- suppressed rows do not say whether the entry was for one list or all; they stay NULL and are
-- counted as plain "suppressed".
UPDATE send_log SET reason = 'erased' WHERE status = 'suppressed' AND error = 'erased';
UPDATE send_log SET reason = 'no-basis'
    WHERE status = 'suppressed' AND error = 'no legal basis recorded';
UPDATE send_log SET reason = 'refused-basis'
    WHERE status = 'suppressed' AND error LIKE 'legal basis % is not accepted for list %';
UPDATE send_log SET reason = 'invalid' WHERE status = 'skipped' AND error LIKE 'invalid address%';
UPDATE send_log SET reason = 'duplicate' WHERE status = 'skipped' AND error = 'duplicate';
-- erased addresses never stay in clear in the send log
UPDATE send_log SET email = NULL WHERE reason = 'erased';
