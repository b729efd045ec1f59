"""Events and webinars as data: ``events/NAME.toml`` files and their calendar (.ics) files.

An event outlives one campaign (the invitation, the reminder and the replay mail all refer to it),
so it is a file of its own that campaigns name with ``event: NAME``. :mod:`.model` reads and
checks the file (local times with a time zone, the registration deadline, reminders);
:mod:`.calendar` writes RFC 5545/5546 calendar objects with the ``icalendar`` library. The stored
side (stable UID, SEQUENCE, registrations) is :mod:`commskit.store.events`.
"""
