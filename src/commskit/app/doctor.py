"""The doctor use case: check the DNS records of the From, envelope and DKIM domains."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from ..config import DkimSettings, SenderSettings, TransportSettings
from ..filemodes import open_private

if TYPE_CHECKING:
    from ..send.doctor import DoctorReport

#: The last doctor run, under the state folder (``.commskit/``): when, and whether it passed.
RECORD_FILE = "doctor.json"
#: ``send`` warns when the last doctor run is older than this.
STALE_AFTER = timedelta(days=7)


def check_domains(
    sender: SenderSettings,
    transport: TransportSettings,
    dkim: DkimSettings | None = None,
    *,
    nameserver: str | None = None,
    timeout: float | None = None,
) -> DoctorReport:
    """Check SPF, DMARC, MX and the DKIM selector record for the configured sender.

    ``dkim`` is the ``[dkim]`` settings section: the record of its RSA selector is checked (else
    its Ed25519 one); with no selector set the DKIM check is skipped (the relay must sign).
    ``timeout`` bounds each query (default :data:`commskit.send.doctor.DEFAULT_TIMEOUT`).
    """
    # imported here: `send` reads the record below and should not load dnspython for it
    from ..send.doctor import DEFAULT_TIMEOUT, diagnose, make_resolver

    return diagnose(
        make_resolver(nameserver, DEFAULT_TIMEOUT if timeout is None else timeout),
        from_address=sender.from_,
        envelope_from=sender.envelope_from,
        transport_url=transport.url,
        dkim_selector=(dkim.rsa_selector or dkim.ed25519_selector) if dkim else "",
        dkim_domain=dkim.domain if dkim else "",
    )


def record_run(state_dir: Path, report: DoctorReport, *, now: datetime | None = None) -> None:
    """Write when this doctor run happened and what blocked, for ``send``'s warning."""
    when = (now or datetime.now(UTC)).isoformat(timespec="seconds")
    problems = [f"{f.check} {f.status}: {f.name}" for f in report.findings if f.blocking]
    record = {"checked_at": when, "ok": report.ok, "problems": problems}
    state_dir.mkdir(parents=True, exist_ok=True)
    target = state_dir / RECORD_FILE
    partial = target.with_suffix(".json.tmp")
    with open_private(partial) as out:
        json.dump(record, out, ensure_ascii=False)
    os.replace(partial, target)  # a reader never sees half a record


def doctor_warning(state_dir: Path, *, now: datetime | None = None) -> str | None:
    """Return the warning ``send`` shows when the last doctor run failed or is a week old.

    None when it passed within :data:`STALE_AFTER`, or when doctor was never run here.
    """
    path = state_dir / RECORD_FILE
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        checked = datetime.fromisoformat(str(record["checked_at"]))
        ok, problems = bool(record["ok"]), [str(p) for p in record.get("problems", [])]
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        # a damaged record says nothing about the DNS: ask for a new run rather than fail a send
        return f"doctor: {path} is unreadable; run `commskit doctor` to check your DNS records"
    if not ok:
        return (
            f"doctor: the last run ({checked:%Y-%m-%d}) found problems receivers reject mail for "
            f"({'; '.join(problems)}); fix them and run `commskit doctor` again"
        )
    if (now or datetime.now(UTC)) - checked > STALE_AFTER:
        return (
            f"doctor: DNS records last checked on {checked:%Y-%m-%d}, over a week ago; "
            "run `commskit doctor` again"
        )
    return None
