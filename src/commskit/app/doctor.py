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
    from ..send.doctor import DkimSelector, DoctorReport

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
    root: Path | None = None,
) -> DoctorReport:
    """Check SPF, DMARC, MX and the DKIM selector records for the configured sender.

    ``dkim`` is the ``[dkim]`` settings section: the record of each selector set (RSA and
    Ed25519) is checked, and compared with the public half of its key file when one is set
    (relative key paths are read from ``root``, default the current folder); with no selector
    set the DKIM check is skipped (the relay must sign). ``timeout`` bounds each query (default
    :data:`commskit.send.doctor.DEFAULT_TIMEOUT`).
    """
    # imported here: `send` reads the record below and should not load dnspython for it
    from ..send.doctor import DEFAULT_TIMEOUT, diagnose, make_resolver

    return diagnose(
        make_resolver(nameserver, DEFAULT_TIMEOUT if timeout is None else timeout),
        from_address=sender.from_,
        envelope_from=sender.envelope_from,
        transport_url=transport.url,
        dkim_selectors=dkim_selectors(dkim, root or Path()) if dkim else (),
        dkim_domain=dkim.domain if dkim else "",
    )


def dkim_selectors(dkim: DkimSettings, root: Path) -> list[DkimSelector]:
    """Return the selectors ``[dkim]`` sets, each with the record its key file implies."""
    from ..send.doctor import DkimSelector

    wanted = (
        ("rsa", dkim.rsa_selector, dkim.rsa_key),
        ("ed25519", dkim.ed25519_selector, dkim.ed25519_key),
    )
    return [
        DkimSelector(selector.strip(), algorithm, *_expected_record(algorithm, key_file, root))
        for algorithm, selector, key_file in wanted
        if selector.strip()
    ]


def _expected_record(algorithm: str, key_file: str, root: Path) -> tuple[str, str]:
    """Return (the TXT value the key file implies, "") or ("", why it cannot be read)."""
    from ..send.dkim import dns_record, key_path

    if not key_file.strip():
        return "", ""  # a relay signs with this selector: only its presence can be checked
    path = key_path(root, key_file)
    try:
        return dns_record("ed25519" if algorithm == "ed25519" else "rsa", path.read_bytes()), ""
    except OSError as exc:
        return "", f"cannot read the {algorithm} key file {path}: {os.strerror(exc.errno or 0)}"
    except (ValueError, TypeError):  # not a PEM RSA key / not a base64 Ed25519 seed
        kind = "an Ed25519" if algorithm == "ed25519" else "an RSA"
        return "", f"{path} is not {kind} private key (`commskit dkim keygen` writes one)"


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
