"""The doctor use case: check the DNS records of the From, envelope and DKIM domains."""

from __future__ import annotations

from typing import Any

from ..config import SenderSettings, TransportSettings
from ..send.doctor import DEFAULT_TIMEOUT, DoctorReport, diagnose, make_resolver


def check_domains(
    sender: SenderSettings,
    transport: TransportSettings,
    dkim: Any = None,
    *,
    nameserver: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> DoctorReport:
    """Check SPF, DMARC, MX and the DKIM selector record for the configured sender.

    ``dkim`` is the ``[dkim]`` settings section when there is one; its ``selector`` and
    ``domain`` are read with defaults, so the doctor works before (and without) DKIM signing.
    """
    return diagnose(
        make_resolver(nameserver, timeout),
        from_address=sender.from_,
        envelope_from=sender.envelope_from,
        transport_url=transport.url,
        dkim_selector=str(getattr(dkim, "selector", "") or ""),
        dkim_domain=str(getattr(dkim, "domain", "") or ""),
    )
