-- Folded copies (accents removed, case folded: commskit.audience.contacts.fold) of the contact
-- fields the segment operators ~, !~, contains, startswith and endswith compare, so that those
-- run as plain SQL instead of calling a Python function on every row (issue 4: a count over
-- 100,000 contacts in <= 0.2 s). They live in the contact's own row, in no index, so erasing the
-- row (PRAGMA secure_delete) erases them too. SQL cannot call the folding function: the store
-- fills them for existing rows right after this migration (AudienceRepo, meta key
-- 'audience.folded_fields'), and on every insert and update.
ALTER TABLE contacts ADD COLUMN email_folded TEXT NOT NULL DEFAULT '';
ALTER TABLE contacts ADD COLUMN first_name_folded TEXT NOT NULL DEFAULT '';
ALTER TABLE contacts ADD COLUMN last_name_folded TEXT NOT NULL DEFAULT '';
ALTER TABLE contacts ADD COLUMN organization_folded TEXT NOT NULL DEFAULT '';
ALTER TABLE contacts ADD COLUMN kind_folded TEXT NOT NULL DEFAULT '';
ALTER TABLE contacts ADD COLUMN region_folded TEXT NOT NULL DEFAULT '';
ALTER TABLE contacts ADD COLUMN department_folded TEXT NOT NULL DEFAULT '';
ALTER TABLE contacts ADD COLUMN language_folded TEXT NOT NULL DEFAULT '';
ALTER TABLE contacts ADD COLUMN stage_folded TEXT NOT NULL DEFAULT '';
ALTER TABLE contacts ADD COLUMN basis_folded TEXT NOT NULL DEFAULT '';
ALTER TABLE contacts ADD COLUMN basis_source_folded TEXT NOT NULL DEFAULT '';
ALTER TABLE contacts ADD COLUMN basis_date_folded TEXT NOT NULL DEFAULT '';
