"""The domain doctor: the DNS records receivers check before they accept bulk mail.

Gmail, Yahoo and Outlook.com require SPF covering the relay, DKIM, and a DMARC record aligned
with From (EMAIL-CHECKLIST C23-C24); bounces need an MX for the envelope domain. Each check here
asks a resolver (dnspython) and returns a :class:`Finding`: ok, missing or wrong, with the
record to publish when something must change. Nothing here reads the workspace: the caller
passes the settings sections and the resolver.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from email.utils import parseaddr
from typing import Any
from urllib.parse import urlsplit

import dns.exception
import dns.resolver

from ..errors import ConfigError, DoctorError

OK = "ok"
MISSING = "missing"
WRONG = "wrong"
SKIPPED = "skipped"

#: A nameserver that does not answer within this many seconds makes the run fail (one line).
DEFAULT_TIMEOUT = 5.0
#: How deep ``include:`` and ``redirect=`` chains are followed (RFC 7208 caps lookups at 10).
MAX_INCLUDE_DEPTH = 5
MAX_SPF_LOOKUPS = 10

_SMTP_SCHEMES = ("smtp", "smtps", "smtp+starttls")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class Finding:
    """One check's verdict: ``status`` is ok, missing, wrong or skipped."""

    check: str
    name: str
    status: str
    detail: str
    #: the record to publish (zone-file line) when status is missing or wrong
    publish: str = ""

    @property
    def blocking(self) -> bool:
        """True when receivers will reject or junk the mail until this is fixed."""
        return self.status in (MISSING, WRONG)


@dataclass(frozen=True)
class DoctorReport:
    """Every finding of one doctor run."""

    from_domain: str
    bounce_domain: str
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no finding blocks sending."""
        return not any(f.blocking for f in self.findings)

    def to_dict(self) -> dict[str, Any]:
        """Return the report as JSON-ready data (``doctor --json``)."""
        return {
            "ok": self.ok,
            "from_domain": self.from_domain,
            "bounce_domain": self.bounce_domain,
            "findings": [asdict(f) | {"blocking": f.blocking} for f in self.findings],
        }


def make_resolver(
    nameserver: str | None, timeout: float = DEFAULT_TIMEOUT
) -> dns.resolver.Resolver:
    """Return a resolver asking ``nameserver`` (``HOST[:PORT]``, ``[V6]:PORT``) or the system's.

    Every query is bounded by ``timeout`` seconds in all (retries included).
    """
    if nameserver is None:
        try:
            resolver = dns.resolver.Resolver()
        except dns.resolver.NoResolverConfiguration as exc:
            raise DoctorError(
                "this machine has no DNS resolver configured",
                hint="Pass --nameserver HOST[:PORT]",
            ) from exc
    else:
        host, port = parse_nameserver(nameserver)
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = [host]
        resolver.port = port
    resolver.lifetime = timeout
    resolver.timeout = timeout
    return resolver


def parse_nameserver(value: str) -> tuple[str, int]:
    """Return (IP address, port) of ``HOST[:PORT]``; ConfigError when it is not one."""
    text = value.strip()
    host, port_text = text, ""
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port_text = rest.removeprefix(":")
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
    try:
        ipaddress.ip_address(host)
        port = int(port_text) if port_text else 53
        if not 0 < port < 65536:
            raise ValueError(port)
    except ValueError as exc:
        raise ConfigError(
            f"--nameserver {value!r} is not HOST[:PORT] with an IP address and a port 1-65535",
            hint="Give e.g. --nameserver 9.9.9.9 or --nameserver 127.0.0.1:5353",
        ) from exc
    return host, port


def address_domain(address: str) -> str:
    """Return the lower-cased domain of ``address`` (bare or ``Name <address>``), or ``""``."""
    addr = parseaddr(address)[1]
    return addr.rpartition("@")[2].strip().rstrip(".").lower() if "@" in addr else ""


def relay_host(transport_url: str) -> str:
    """Return the SMTP relay's host of ``[transport] url``, or ``""`` when mail goes elsewhere."""
    parts = urlsplit(transport_url)
    if parts.scheme.lower() not in _SMTP_SCHEMES:
        return ""
    return (parts.hostname or "").rstrip(".").lower()


def aligned(domain: str, from_domain: str, base: str, *, strict: bool = False) -> bool:
    """Say whether ``domain`` aligns with ``from_domain`` for DMARC.

    Strict: the same name. Relaxed (kept simple): the same name, or both under ``base``, the
    domain whose ``_dmarc`` record applies (the From domain or the parent it was found at).
    """
    if domain == from_domain:
        return True
    return not strict and (domain == base or domain.endswith("." + base))


class _Lookup:
    """Queries through one resolver: no answer is an empty list, silence a DoctorError."""

    def __init__(self, resolver: dns.resolver.Resolver) -> None:
        self.resolver = resolver

    def records(self, name: str, rdtype: str) -> list[Any]:
        try:
            return list(self.resolver.resolve(name, rdtype, search=False))
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return []
        except dns.exception.Timeout as exc:
            raise DoctorError(
                f"the nameserver {self._servers()} did not answer for {name} {rdtype} "
                f"within {self.resolver.lifetime:g} s",
                hint="Check --nameserver or your network and try again",
            ) from exc
        except dns.resolver.NoNameservers as exc:
            raise DoctorError(
                f"the nameserver {self._servers()} refused or failed the query {name} {rdtype}",
                hint="Ask another one with --nameserver HOST[:PORT]",
            ) from exc

    def txt(self, name: str) -> list[str]:
        return [b"".join(r.strings).decode("utf-8", "replace") for r in self.records(name, "TXT")]

    def addresses(self, name: str) -> list[IPAddress]:
        found: list[IPAddress] = []
        for rdtype in ("A", "AAAA"):
            found += [ipaddress.ip_address(r.address) for r in self.records(name, rdtype)]
        return found

    def _servers(self) -> str:
        servers = ", ".join(str(s) for s in self.resolver.nameservers)
        return f"{servers}:{self.resolver.port}" if self.resolver.port != 53 else servers


# --- reverse DNS --------------------------------------------------------------------------


def _reverse_names(lookup: _Lookup, ip: IPAddress) -> list[str]:
    return [str(r.target).rstrip(".").lower() for r in lookup.records(ip.reverse_pointer, "PTR")]


def check_ptr(lookup: _Lookup, relay: str) -> Finding:
    """Reverse DNS of the relay: each address has a PTR name that resolves back to it (FCrDNS).

    Gmail requires it of bulk senders; SpamAssassin adds ``RDNS_NONE`` without it. The address
    checked is the relay's in ``[transport] url``: when that relay hands mail on to another
    server, that server's address is the one receivers see.
    """
    if not relay:
        return Finding("ptr", "-", SKIPPED, "no SMTP relay: the server that delivers is not known")
    try:
        addresses: list[IPAddress] = [ipaddress.ip_address(relay)]
    except ValueError:
        addresses = lookup.addresses(relay)
    addresses = [ip for ip in addresses if not ip.is_loopback]
    if not addresses:
        return Finding(
            "ptr", relay, SKIPPED, "the relay is on this machine or has no address to check"
        )
    confirmed: list[str] = []
    for ip in addresses:
        names = _reverse_names(lookup, ip)
        publish = f"{ip.reverse_pointer}. 3600 IN PTR {relay}.  ; set by whoever owns {ip}"
        if not names:
            return Finding(
                "ptr",
                str(ip),
                MISSING,
                f"the relay's address {ip} has no reverse DNS (PTR): Gmail rejects bulk mail "
                "from it and spam filters add points; ask its host for a PTR",
                publish,
            )
        if not any(ip in lookup.addresses(name) for name in names):
            return Finding(
                "ptr",
                str(ip),
                WRONG,
                f"{ip} has PTR {names[0]}, which does not resolve back to {ip} "
                "(forward-confirmed reverse DNS fails)",
                publish,
            )
        confirmed.append(f"{ip} ↔ {names[0]}")
    shown = ", ".join(confirmed)
    return Finding("ptr", relay, OK, f"forward-confirmed reverse DNS: {shown}")


# --- SPF -----------------------------------------------------------------------------------


def _spf_records(lookup: _Lookup, domain: str) -> list[str]:
    return [
        t for t in lookup.txt(domain) if t.lower() == "v=spf1" or t.lower().startswith("v=spf1 ")
    ]


@dataclass
class _SpfWalk:
    lookup: _Lookup
    lookups: int = 0
    notes: list[str] = field(default_factory=list)

    def evaluate(self, domain: str, ip: IPAddress, depth: int = 0) -> str | None:
        """Return the qualifier (+ - ~ ?) of the first term matching ``ip``, or None."""
        records = _spf_records(self.lookup, domain)
        if len(records) != 1 or depth > MAX_INCLUDE_DEPTH:
            if depth > MAX_INCLUDE_DEPTH:
                self.notes.append(f"include chain deeper than {MAX_INCLUDE_DEPTH} at {domain}")
            return None
        redirect = ""
        for term in records[0].split()[1:]:
            if term.lower().startswith("redirect="):
                redirect = term.partition("=")[2]
                continue
            result = self._term(term, domain, ip, depth)
            if result is not None:
                return result
        if redirect:
            self.lookups += 1
            return self.evaluate(redirect, ip, depth + 1)
        return None

    def _term(self, term: str, domain: str, ip: IPAddress, depth: int) -> str | None:
        qualifier = term[0] if term[0] in "+-~?" else "+"
        body = term[1:] if term[0] in "+-~?" else term
        name, _, arg = body.partition(":")
        name = name.lower()
        if "=" in name:  # a modifier such as exp=: no bearing on the result
            return None
        if name == "all":
            return qualifier
        if name in ("ip4", "ip6"):
            try:
                return qualifier if ip in ipaddress.ip_network(arg, strict=False) else None
            except ValueError:
                self.notes.append(f"{domain}: bad {term!r}")
                return None
        self.lookups += 1
        if name == "include":
            return qualifier if self.evaluate(arg, ip, depth + 1) == "+" else None
        target, _, cidr = (arg or domain).partition("/")
        if name == "a":
            hosts = [target]
        elif name == "mx":
            hosts = [str(r.exchange).rstrip(".") for r in self.lookup.records(target, "MX")]
        else:
            self.notes.append(f"{domain}: {name} not evaluated")
            return None
        for host in hosts:
            for addr in self.lookup.addresses(host):
                bits = cidr or ("32" if addr.version == 4 else "128")
                if addr.version == ip.version and ip in ipaddress.ip_network(
                    f"{addr}/{bits}", strict=False
                ):
                    return qualifier
        return None


def _all_term(record: str) -> str:
    for term in record.split()[1:]:
        if term.lstrip("+-~?").lower() == "all":
            return term if term[0] in "+-~?" else "+all"
    return ""


def _with_relay(record: str, relay: str) -> str:
    terms = record.split()
    for i, term in enumerate(terms):
        if term.lstrip("+-~?").lower() == "all" or term.lower().startswith("redirect="):
            return " ".join([*terms[:i], f"a:{relay}", *terms[i:]])
    return " ".join([*terms, f"a:{relay}", "~all"])


def check_spf(lookup: _Lookup, domain: str, relay: str) -> Finding:
    """SPF of the envelope domain: one record, no ``+all``, passing the relay's addresses."""
    records = _spf_records(lookup, domain)
    suggested = f"v=spf1 a:{relay} ~all" if relay else "v=spf1 mx ~all"
    if not records:
        return Finding("spf", domain, MISSING, "no SPF record", _txt(domain, suggested))
    if len(records) > 1:
        return Finding(
            "spf",
            domain,
            WRONG,
            f"{len(records)} SPF records (receivers treat that as an error): keep one",
            _txt(domain, records[0]),
        )
    record = records[0]
    tail = _all_term(record)
    if tail == "+all":
        fixed = record.replace(tail, "~all")
        return Finding("spf", domain, WRONG, "+all lets anyone send as you", _txt(domain, fixed))
    strength = {"-all": "-all: others fail", "~all": "~all: others soft-fail"}.get(
        tail, f"{tail or 'no all term'}: others are neutral"
    )
    if not relay:
        return Finding("spf", domain, OK, f"{record!r} ({strength}); no SMTP relay to check")
    return _spf_covers(lookup, domain, record, relay, strength)


def _spf_covers(lookup: _Lookup, domain: str, record: str, relay: str, strength: str) -> Finding:
    try:
        relay_ips = [ipaddress.ip_address(relay)]
    except ValueError:
        relay_ips = lookup.addresses(relay)
    if not relay_ips:
        return Finding(
            "spf", domain, WRONG, f"the relay {relay} has no A/AAAA record: cannot check coverage"
        )
    if all(ip.is_loopback for ip in relay_ips):
        return Finding(
            "spf",
            domain,
            OK,
            f"{record!r} ({strength}); the relay {relay} is this machine: "
            "its outgoing address is not known here",
        )
    walk = _SpfWalk(lookup)
    uncovered = [str(ip) for ip in relay_ips if walk.evaluate(domain, ip) != "+"]
    extra = f" ({'; '.join(walk.notes)})" if walk.notes else ""
    if walk.lookups > MAX_SPF_LOOKUPS:
        return Finding(
            "spf",
            domain,
            WRONG,
            f"{walk.lookups} DNS-querying terms (more than {MAX_SPF_LOOKUPS}: receivers fail it)",
        )
    if uncovered:
        return Finding(
            "spf",
            domain,
            WRONG,
            f"{record!r} does not pass the relay {relay} ({', '.join(uncovered)}){extra}",
            _txt(domain, _with_relay(record, relay)),
        )
    return Finding("spf", domain, OK, f"{record!r} passes the relay {relay} ({strength}){extra}")


# --- DMARC, MX, DKIM -----------------------------------------------------------------------


def _dmarc_lookup(lookup: _Lookup, from_domain: str) -> tuple[str, list[str]]:
    """Return (domain it was found at, records) walking up to the parent with two labels."""
    labels = from_domain.split(".")
    for start in range(max(len(labels) - 1, 1)):
        base = ".".join(labels[start:])
        found = [t for t in lookup.txt(f"_dmarc.{base}") if t.lower().startswith("v=dmarc1")]
        if found:
            return base, found
    return from_domain, []


def _tags(record: str) -> dict[str, str]:
    tags = {}
    for part in record.split(";"):
        key, sep, value = part.partition("=")
        if sep:
            tags[key.strip().lower()] = value.strip()
    return tags


def check_dmarc(lookup: _Lookup, from_domain: str, spf_domain: str, dkim_domain: str) -> Finding:
    """DMARC for From: one record with ``p=``, and SPF's or DKIM's domain aligned with From."""
    name = f"_dmarc.{from_domain}"
    suggested = f"v=DMARC1; p=none; rua=mailto:dmarc-reports@{from_domain}"
    base, records = _dmarc_lookup(lookup, from_domain)
    if not records:
        return Finding("dmarc", name, MISSING, "no DMARC record", _txt(name, suggested))
    if len(records) > 1:
        return Finding(
            "dmarc", name, WRONG, f"{len(records)} DMARC records: keep one", _txt(name, records[0])
        )
    tags = _tags(records[0])
    if tags.get("p", "").lower() not in ("none", "quarantine", "reject"):
        return Finding(
            "dmarc", name, WRONG, f"{records[0]!r} has no valid p= tag", _txt(name, suggested)
        )
    spf_ok = aligned(spf_domain, from_domain, base, strict=tags.get("aspf") == "s")
    dkim_ok = bool(dkim_domain) and aligned(
        dkim_domain, from_domain, base, strict=tags.get("adkim") == "s"
    )
    where = f"_dmarc.{base}"
    if not (spf_ok or dkim_ok):
        return Finding(
            "dmarc",
            where,
            WRONG,
            f"{records[0]!r}, but neither the envelope domain {spf_domain}"
            + (f" nor the DKIM domain {dkim_domain}" if dkim_domain else "")
            + f" aligns with From ({from_domain}): set [sender] envelope_from to an address "
            f"under {base}, or sign with d={from_domain}",
        )
    by = " and ".join(w for w, ok in (("SPF", spf_ok), ("DKIM", dkim_ok)) if ok)
    rua = "" if "rua" in tags else "; no rua=: you get no aggregate reports"
    return Finding("dmarc", where, OK, f"{records[0]!r}, aligned with From by {by}{rua}")


def check_mx(lookup: _Lookup, domain: str, from_domain: str) -> Finding:
    """MX of the bounce domain: bounces and replies to the envelope sender must reach someone."""
    records = lookup.records(domain, "MX")
    publish = f"{domain}. 3600 IN MX 10 mail.{from_domain}."
    if not records:
        return Finding("mx", domain, MISSING, "no MX record: bounces cannot come back", publish)
    hosts = sorted((r.preference, str(r.exchange).rstrip(".")) for r in records)
    if all(host in ("", ".") for _, host in hosts) or hosts == [(0, "")]:
        return Finding(
            "mx", domain, WRONG, "a null MX (RFC 7505): this domain takes no mail", publish
        )
    return Finding("mx", domain, OK, ", ".join(f"{p} {h}" for p, h in hosts))


@dataclass(frozen=True)
class DkimSelector:
    """A DKIM selector to check: its name, its key type, and the record its key file implies.

    ``record`` is the TXT value the private key's public half gives (``v=DKIM1; k=…; p=…``), or
    empty when no key file is configured (a relay signs with this selector); ``problem`` says why
    the key file could not be read, if it could not.
    """

    selector: str
    algorithm: str = "rsa"
    record: str = ""
    problem: str = ""


def _public_key(record: str) -> str:
    return _tags(record.replace(" ", "").replace("\t", "")).get("p", "")


def check_dkim(lookup: _Lookup, wanted: DkimSelector | None, domain: str) -> Finding:
    """The DKIM selector record: present, not revoked, and the public half of the key we sign with.

    A published key that is not the one in the key file (a rotation published too late, a typo
    in the zone) makes every signature fail at the receiver: that is ``wrong``, with the exact
    record to publish.
    """
    if wanted is None:
        return Finding(
            "dkim",
            domain,
            SKIPPED,
            "no [dkim] selector set: commskit does not sign; your relay must sign with "
            "a d= aligned with From",
        )
    name = f"{wanted.selector}._domainkey.{domain}"
    publish = (
        _txt(name, wanted.record)
        if wanted.record
        else (
            f'{name}. 3600 IN TXT "v=DKIM1; k={wanted.algorithm}; '
            'p=<public key: commskit dkim keygen>"'
        )
    )
    if wanted.problem:
        return Finding("dkim", name, WRONG, wanted.problem)
    records = [t for t in lookup.txt(name) if "p=" in t.replace(" ", "")]
    if not records:
        return Finding(
            "dkim", name, MISSING, f"no DKIM key for selector {wanted.selector!r}", publish
        )
    published = _public_key(records[0])
    if not published:
        return Finding("dkim", name, WRONG, "the key is revoked (empty p=)", publish)
    kind = _tags(records[0].replace(" ", "")).get("k", "rsa")
    if wanted.record and published != _public_key(wanted.record):
        return Finding(
            "dkim",
            name,
            WRONG,
            f"the published k={kind} key is not the public half of the {wanted.algorithm} key "
            "commskit signs with: receivers will fail every signature (a new key not "
            "published yet?)",
            publish,
        )
    matched = ", the public half of the key file" if wanted.record else ""
    return Finding("dkim", name, OK, f"k={kind} key published{matched}")


def _txt(name: str, value: str) -> str:
    quoted = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'{name.rstrip(".")}. 3600 IN TXT "{quoted}"'


Check = Callable[[_Lookup], Finding]


def diagnose(
    resolver: dns.resolver.Resolver,
    *,
    from_address: str,
    envelope_from: str,
    transport_url: str,
    dkim_selectors: Sequence[DkimSelector] = (),
    dkim_domain: str = "",
) -> DoctorReport:
    """Run every check for the From and envelope domains through ``resolver``.

    ``envelope_from`` empty means the From address is the envelope sender; ``dkim_domain``
    empty means the From domain; each of ``dkim_selectors`` is checked (none: the DKIM check is
    skipped, the relay must sign). Raises DoctorError when the nameserver does not answer.
    """
    from_domain = address_domain(from_address)
    if not from_domain:
        raise DoctorError(
            "[sender] from has no address with a domain to check",
            hint='Set it in commskit.toml, e.g. from = "Équipe <lettre@ex.gouv.fr>"',
        )
    bounce_domain = address_domain(envelope_from) or from_domain
    signing_domain = (dkim_domain.strip().lower() or from_domain) if dkim_selectors else ""
    lookup = _Lookup(resolver)
    checks: Sequence[Check] = (
        lambda lk: check_spf(lk, bounce_domain, relay_host(transport_url)),
        lambda lk: check_dmarc(lk, from_domain, bounce_domain, signing_domain),
        lambda lk: check_mx(lk, bounce_domain, from_domain),
        lambda lk: check_ptr(lk, relay_host(transport_url)),
    )
    findings = [check(lookup) for check in checks]
    # one finding per configured selector (RSA and Ed25519 both, RFC 8463), or one "skipped"
    for wanted in dkim_selectors or (None,):
        findings.append(check_dkim(lookup, wanted, signing_domain or from_domain))
    return DoctorReport(from_domain, bounce_domain, findings)
