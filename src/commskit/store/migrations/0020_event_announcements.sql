-- What registrants have been told about an event, apart from what its file says now.
--
-- announced_sequence is the SEQUENCE registrants' calendars were last sent (an invitation or
-- confirmation carries the current one; `commskit events update` raises it after mailing the
-- change). sequence > announced_sequence means a change is stored but not announced yet: an
-- update mail is owed (a crash between the two is finished by the next `events update`).
-- Compiling or previewing a campaign never changes either: only `events update` and
-- `events cancel` do. cancelled_at is when `events cancel` ran ('' = not cancelled);
-- cancel_note the short note the cancellation mail carries.
ALTER TABLE events ADD COLUMN announced_sequence INTEGER NOT NULL DEFAULT 0;
ALTER TABLE events ADD COLUMN cancelled_at TEXT NOT NULL DEFAULT '';
ALTER TABLE events ADD COLUMN cancel_note TEXT NOT NULL DEFAULT '';
