"""`commskit doctor` against a real DNS server on 127.0.0.1 serving good and broken zones.

Issue 13 item 2: each broken record is named, with the record to publish, and the run exits 1;
the good zone gives all ok and exit 0.
"""

from __future__ import annotations

import importlib.util
import json
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from commskit import Workspace
from commskit.app.doctor import check_domains
from commskit.cli import main
from commskit.config import DkimSettings, SenderSettings, TransportSettings
from commskit.errors import ConfigError, DoctorError

_spec = importlib.util.spec_from_file_location("dns_zone", Path(__file__).with_name("dns_zone.py"))
assert _spec is not None
assert _spec.loader is not None
dns_zone = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(dns_zone)

FROM = "Équipe Lettre <lettre@ex.gouv.fr>"
ENVELOPE = "bounces+{campaign}.{token}@bounce.ex.gouv.fr"
RELAY_URL = "smtp+starttls://lettre@relay.ex.gouv.fr:587"
KEY = "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA" + "x" * 300

SPF = 'bounce.ex.gouv.fr. 300 IN TXT "v=spf1 include:_spf.ex.gouv.fr -all"'
SPF_INCLUDED = '_spf.ex.gouv.fr. 300 IN TXT "v=spf1 ip4:192.0.2.0/28 ~all"'
RELAY = "relay.ex.gouv.fr. 300 IN A 192.0.2.10"
MX = "bounce.ex.gouv.fr. 300 IN MX 10 mx.ex.gouv.fr."
DMARC = '_dmarc.ex.gouv.fr. 300 IN TXT "v=DMARC1; p=quarantine; rua=mailto:dmarc@ex.gouv.fr"'
DKIM = f"s1._domainkey.ex.gouv.fr. 300 IN TXT {dns_zone.txt_strings('v=DKIM1; k=rsa; p=' + KEY)}"
PTR = "10.2.0.192.in-addr.arpa. 300 IN PTR relay.ex.gouv.fr."
GOOD = [SPF, SPF_INCLUDED, RELAY, MX, DMARC, DKIM, PTR]


def zone(*, drop: tuple[str, ...] = (), add: tuple[str, ...] = ()) -> str:
    return "\n".join([r for r in GOOD if r not in drop] + list(add)) + "\n"


@pytest.fixture(scope="module")
def dns() -> Iterator[Any]:
    server = dns_zone.LoopbackDNS(zone()).start()
    try:
        yield server
    finally:
        server.stop()


def run(
    dns: Any,
    records: str,
    *,
    envelope: str = ENVELOPE,
    url: str = RELAY_URL,
    selector: str = "",
    domain: str = "",
):
    dns.set_zone(records)
    return check_domains(
        SenderSettings(from_=FROM, envelope_from=envelope),
        TransportSettings(url=url),
        DkimSettings(rsa_selector=selector, domain=domain),
        nameserver=dns.nameserver,
    )


def finding(report: Any, check: str) -> Any:
    (found,) = [f for f in report.findings if f.check == check]
    return found


def test_good_zone_is_all_ok(dns: Any) -> None:
    report = run(dns, zone(), selector="s1")
    assert [(f.check, f.status) for f in report.findings] == [
        ("spf", "ok"),
        ("dmarc", "ok"),
        ("mx", "ok"),
        ("ptr", "ok"),
        ("dkim", "ok"),
    ]
    assert report.ok
    assert report.from_domain == "ex.gouv.fr"
    assert report.bounce_domain == "bounce.ex.gouv.fr"
    # followed through include: to the /28 that holds the relay's address, and -all noted
    assert "passes the relay relay.ex.gouv.fr" in finding(report, "spf").detail
    assert "-all" in finding(report, "spf").detail
    assert "SPF" in finding(report, "dmarc").detail  # bounce.ex.gouv.fr aligns (relaxed)


def test_no_spf_is_missing_with_the_record_to_publish(dns: Any) -> None:
    report = run(dns, zone(drop=(SPF,)))
    spf = finding(report, "spf")
    assert (spf.status, spf.name) == ("missing", "bounce.ex.gouv.fr")
    assert spf.publish == 'bounce.ex.gouv.fr. 3600 IN TXT "v=spf1 a:relay.ex.gouv.fr ~all"'
    assert not report.ok


def test_spf_not_covering_the_relay_is_wrong(dns: Any) -> None:
    moved = "relay.ex.gouv.fr. 300 IN A 198.51.100.7"
    report = run(dns, zone(drop=(RELAY,), add=(moved,)))
    spf = finding(report, "spf")
    assert spf.status == "wrong"
    assert "198.51.100.7" in spf.detail
    assert spf.publish == (
        'bounce.ex.gouv.fr. 3600 IN TXT "v=spf1 include:_spf.ex.gouv.fr a:relay.ex.gouv.fr -all"'
    )
    assert not report.ok


def test_relay_covered_by_a_and_mx_terms(dns: Any) -> None:
    relay = "relay.ex.gouv.fr. 300 IN A 192.0.2.40"
    out = "out.ex.gouv.fr. 300 IN A 192.0.2.41"
    # the relay's address is in the /30 around out.ex.gouv.fr's: a:out.ex.gouv.fr/30 passes it
    spf = 'bounce.ex.gouv.fr. 300 IN TXT "v=spf1 a:out.ex.gouv.fr/30 -all"'
    assert finding(run(dns, zone(drop=(SPF, RELAY), add=(spf, relay, out))), "spf").status == "ok"
    spf = 'bounce.ex.gouv.fr. 300 IN TXT "v=spf1 a:out.ex.gouv.fr -all"'
    assert finding(run(dns, zone(drop=(SPF, RELAY), add=(spf, relay, out))), "spf").blocking
    # mx: the bounce domain's MX host is the relay
    spf = 'bounce.ex.gouv.fr. 300 IN TXT "v=spf1 mx -all"'
    mx_host = "mx.ex.gouv.fr. 300 IN A 192.0.2.40"
    records = zone(drop=(SPF, RELAY), add=(spf, relay))
    assert finding(run(dns, records), "spf").status == "wrong"  # mx.ex.gouv.fr has no address
    assert finding(run(dns, records + mx_host + "\n"), "spf").status == "ok"


def test_plus_all_and_two_spf_records_are_wrong(dns: Any) -> None:
    loose = 'bounce.ex.gouv.fr. 300 IN TXT "v=spf1 +all"'
    spf = finding(run(dns, zone(drop=(SPF,), add=(loose,))), "spf")
    assert spf.status == "wrong"
    assert "+all" in spf.detail
    assert spf.publish == 'bounce.ex.gouv.fr. 3600 IN TXT "v=spf1 ~all"'
    second = 'bounce.ex.gouv.fr. 300 IN TXT "v=spf1 -all"'
    spf = finding(run(dns, zone(add=(second,))), "spf")
    assert spf.status == "wrong"
    assert "2 SPF records" in spf.detail


def test_no_dmarc_is_missing(dns: Any) -> None:
    dmarc = finding(run(dns, zone(drop=(DMARC,))), "dmarc")
    assert (dmarc.status, dmarc.name) == ("missing", "_dmarc.ex.gouv.fr")
    assert dmarc.publish == (
        '_dmarc.ex.gouv.fr. 3600 IN TXT "v=DMARC1; p=none; rua=mailto:dmarc-reports@ex.gouv.fr"'
    )


def test_dmarc_for_another_domain_does_not_count(dns: Any) -> None:
    other = '_dmarc.autre.gouv.fr. 300 IN TXT "v=DMARC1; p=reject"'
    dmarc = finding(run(dns, zone(drop=(DMARC,), add=(other,))), "dmarc")
    assert dmarc.status == "missing"
    assert dmarc.publish.startswith("_dmarc.ex.gouv.fr. 3600 IN TXT")


def test_dmarc_not_aligned_with_from_is_wrong(dns: Any) -> None:
    # the envelope (SPF's domain) at another organisation, and no DKIM signing: no alignment
    records = zone(
        add=(
            'bounce.autre.fr. 300 IN TXT "v=spf1 a:relay.ex.gouv.fr -all"',
            "bounce.autre.fr. 300 IN MX 10 mx.autre.fr.",
        )
    )
    report = run(dns, records, envelope="bounces@bounce.autre.fr")
    dmarc = finding(report, "dmarc")
    assert dmarc.status == "wrong"
    assert "bounce.autre.fr" in dmarc.detail
    assert "aligns with From (ex.gouv.fr)" in dmarc.detail
    assert finding(report, "spf").status == "ok"
    assert not report.ok
    # signing with d=ex.gouv.fr aligns it by DKIM instead
    report = run(dns, records, envelope="bounces@bounce.autre.fr", selector="s1")
    assert finding(report, "dmarc").status == "ok"
    assert "DKIM" in finding(report, "dmarc").detail


def test_strict_spf_alignment_wants_the_same_name(dns: Any) -> None:
    strict = '_dmarc.ex.gouv.fr. 300 IN TXT "v=DMARC1; p=reject; aspf=s"'
    assert finding(run(dns, zone(drop=(DMARC,), add=(strict,))), "dmarc").status == "wrong"


def test_no_mx_and_null_mx(dns: Any) -> None:
    mx = finding(run(dns, zone(drop=(MX,))), "mx")
    assert (mx.status, mx.name) == ("missing", "bounce.ex.gouv.fr")
    assert mx.publish == "bounce.ex.gouv.fr. 3600 IN MX 10 mail.ex.gouv.fr."
    null = "bounce.ex.gouv.fr. 300 IN MX 0 ."
    assert finding(run(dns, zone(drop=(MX,), add=(null,))), "mx").status == "wrong"


def test_dkim_selector_missing_revoked_or_not_configured(dns: Any) -> None:
    dkim = finding(run(dns, zone(drop=(DKIM,)), selector="s1"), "dkim")
    assert (dkim.status, dkim.name) == ("missing", "s1._domainkey.ex.gouv.fr")
    assert dkim.publish.startswith('s1._domainkey.ex.gouv.fr. 3600 IN TXT "v=DKIM1;')
    revoked = 's1._domainkey.ex.gouv.fr. 300 IN TXT "v=DKIM1; k=rsa; p="'
    assert finding(run(dns, zone(drop=(DKIM,), add=(revoked,)), selector="s1"), "dkim").blocking
    other = finding(run(dns, zone(), selector="s1", domain="lettres.ex.gouv.fr"), "dkim")
    assert (other.status, other.name) == ("missing", "s1._domainkey.lettres.ex.gouv.fr")
    # without a [dkim] section (before DKIM signing lands) the check is skipped, never blocking
    report = run(dns, zone(drop=(DKIM,)))
    assert finding(report, "dkim").status == "skipped"
    assert report.ok


def test_outbox_transport_has_no_relay_to_cover(dns: Any) -> None:
    spf = finding(run(dns, zone(drop=(RELAY,)), url="outbox:.commskit/outbox"), "spf")
    assert spf.status == "ok"
    assert "no SMTP relay" in spf.detail


def test_silent_nameserver_is_one_line_error_within_the_timeout() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as mute:
        mute.bind(("127.0.0.1", 0))  # takes the query, never answers
        port = mute.getsockname()[1]
        with pytest.raises(DoctorError, match=rf"127\.0\.0\.1:{port} did not answer"):
            check_domains(
                SenderSettings(from_=FROM),
                TransportSettings(),
                nameserver=f"127.0.0.1:{port}",
                timeout=0.5,
            )


@pytest.mark.parametrize("bad", ["dns.example", "127.0.0.1:99999", "127.0.0.1:x"])
def test_bad_nameserver_option(bad: str) -> None:
    with pytest.raises(ConfigError, match="HOST"):
        check_domains(SenderSettings(from_=FROM), TransportSettings(), nameserver=bad)


def test_cli_bad_nameserver_is_a_usage_error(tmp_path: Path) -> None:
    root = _workspace(tmp_path)
    result = CliRunner().invoke(main, ["-C", str(root), "doctor", "--nameserver", "dns.example"])
    assert result.exit_code == 2
    assert "Invalid value for '--nameserver'" in result.output
    assert "Traceback" not in result.output


def _workspace(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    Workspace.init(root).close()
    text = (root / "commskit.toml").read_text(encoding="utf-8")
    text = text.replace(
        'from = "Équipe Covoiturage du quotidien <infolettre@covoiturage.example.gouv.fr>"',
        f'from = "{FROM}"\nenvelope_from = "{ENVELOPE}"',
    ).replace('url = "outbox:.commskit/outbox"', f'url = "{RELAY_URL}"')
    assert FROM in text
    assert RELAY_URL in text
    (root / "commskit.toml").write_text(text, encoding="utf-8")
    return root


def test_cli_subprocess_good_zone_exits_0_broken_exits_1(
    dns: Any, tmp_path: Path, python: str, subprocess_env: dict[str, str]
) -> None:
    root = _workspace(tmp_path)

    def doctor(*extra: str) -> subprocess.CompletedProcess[str]:
        args = [python, "-m", "commskit", "-C", str(root), "doctor", "--nameserver"]
        return subprocess.run(
            [*args, dns.nameserver, *extra],
            capture_output=True,
            text=True,
            env=subprocess_env,
            timeout=120,
        )

    dns.set_zone(zone())
    good = doctor()
    assert good.returncode == 0, good.stderr
    assert "All checks passed." in good.stdout
    assert "Traceback" not in good.stderr

    dns.set_zone(zone(drop=(MX, DMARC)))
    broken = doctor("--json")
    assert broken.returncode == 1, broken.stderr
    data = json.loads(broken.stdout)
    assert data["ok"] is False
    status = {f["check"]: (f["status"], f["blocking"]) for f in data["findings"]}
    assert status == {
        "spf": ("ok", False),
        "dmarc": ("missing", True),
        "mx": ("missing", True),
        "ptr": ("ok", False),
        "dkim": ("skipped", False),
    }


def test_cli_table_names_the_records_to_publish(dns: Any, tmp_path: Path) -> None:
    root = _workspace(tmp_path)
    dns.set_zone(zone(drop=(SPF,)))
    result = CliRunner().invoke(main, ["-C", str(root), "doctor", "--nameserver", dns.nameserver])
    assert result.exit_code == 1, result.output
    assert "Publish (or correct) these records" in result.output
    assert 'bounce.ex.gouv.fr. 3600 IN TXT "v=spf1 a:relay.ex.gouv.fr ~all"' in result.output


def test_cli_unreachable_nameserver_is_one_line(tmp_path: Path) -> None:
    root = _workspace(tmp_path)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as mute:
        mute.bind(("127.0.0.1", 0))
        port = mute.getsockname()[1]
        result = CliRunner().invoke(
            main, ["-C", str(root), "doctor", "--nameserver", f"127.0.0.1:{port}"]
        )
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("Error:")
    assert "did not answer" in lines[0]


def _signing_settings(rsa_key: Any, ed_key: Any, folder: Path) -> DkimSettings:
    return DkimSettings(
        rsa_selector=rsa_key.selector,
        rsa_key=rsa_key.write(folder).name,
        ed25519_selector=ed_key.selector,
        ed25519_key=str(ed_key.write(folder)),  # an absolute path works too
    )


def _dkim_zone(*records: tuple[str, str]) -> str:
    published = [
        f"{sel}._domainkey.ex.gouv.fr. 300 IN TXT {dns_zone.txt_strings(value)}"
        for sel, value in records
    ]
    return zone(drop=(DKIM,), add=tuple(published))


def _check_keys(dns: Any, records: str, dkim: DkimSettings, root: Path) -> list[Any]:
    dns.set_zone(records)
    report = check_domains(
        SenderSettings(from_=FROM, envelope_from=ENVELOPE),
        TransportSettings(url=RELAY_URL),
        dkim,
        nameserver=dns.nameserver,
        root=root,
    )
    return [f for f in report.findings if f.check == "dkim"]


def test_both_selectors_checked_against_the_key_files(
    dns: Any, rsa_key: Any, ed_key: Any, tmp_path: Path
) -> None:
    dkim = _signing_settings(rsa_key, ed_key, tmp_path)
    good = _dkim_zone((rsa_key.selector, rsa_key.public_txt), (ed_key.selector, ed_key.public_txt))
    findings = _check_keys(dns, good, dkim, tmp_path)
    assert [(f.name, f.status) for f in findings] == [
        ("rsa2026._domainkey.ex.gouv.fr", "ok"),
        ("ed2026._domainkey.ex.gouv.fr", "ok"),
    ]
    assert all("public half of the key file" in f.detail for f in findings)
    # the Ed25519 record missing: named, with the exact record its key file gives
    (rsa, ed) = _check_keys(dns, _dkim_zone((rsa_key.selector, rsa_key.public_txt)), dkim, tmp_path)
    assert (rsa.status, ed.status) == ("ok", "missing")
    assert ed.publish == f'ed2026._domainkey.ex.gouv.fr. 3600 IN TXT "{ed_key.public_txt}"'


def test_a_published_key_that_is_not_ours_is_wrong(
    dns: Any, rsa_key: Any, ed_key: Any, tmp_path: Path
) -> None:
    # the zone still publishes an old key under the selector (a rotation half done)
    dkim = _signing_settings(rsa_key, ed_key, tmp_path)
    stale = _dkim_zone(
        (rsa_key.selector, "v=DKIM1; k=rsa; p=" + KEY), (ed_key.selector, ed_key.public_txt)
    )
    rsa, ed = _check_keys(dns, stale, dkim, tmp_path)
    assert (rsa.status, ed.status) == ("wrong", "ok")
    assert "not the public half" in rsa.detail
    assert rsa.blocking
    # the record to publish is the one the key file gives, split into 255-byte strings or not
    assert rsa.publish == f'rsa2026._domainkey.ex.gouv.fr. 3600 IN TXT "{rsa_key.public_txt}"'


def test_an_unreadable_key_file_is_named(dns: Any, rsa_key: Any, tmp_path: Path) -> None:
    (tmp_path / "broken.key").write_text("not a key\n")
    missing = DkimSettings(rsa_selector=rsa_key.selector, rsa_key="nowhere.key")
    (finding_,) = _check_keys(dns, _dkim_zone(), missing, tmp_path)
    assert finding_.status == "wrong"
    assert "cannot read the rsa key file" in finding_.detail
    assert str(tmp_path / "nowhere.key") in finding_.detail
    broken = DkimSettings(rsa_selector=rsa_key.selector, rsa_key="broken.key")
    (finding_,) = _check_keys(dns, _dkim_zone(), broken, tmp_path)
    assert (finding_.status, finding_.blocking) == ("wrong", True)
    assert "is not an RSA private key" in finding_.detail


def test_relay_without_forward_confirmed_reverse_dns(dns: Any) -> None:
    ptr = finding(run(dns, zone(drop=(PTR,))), "ptr")
    assert (ptr.status, ptr.name, ptr.blocking) == ("missing", "192.0.2.10", True)
    assert ptr.publish.startswith("10.2.0.192.in-addr.arpa. 3600 IN PTR relay.ex.gouv.fr.")
    # a PTR naming a host that does not resolve back to the address
    elsewhere = "10.2.0.192.in-addr.arpa. 300 IN PTR host-10.provider.example."
    ptr = finding(run(dns, zone(drop=(PTR,), add=(elsewhere,))), "ptr")
    assert (ptr.status, ptr.blocking) == ("wrong", True)
    assert "host-10.provider.example" in ptr.detail
    good = finding(run(dns, zone()), "ptr")
    assert (good.status, good.name) == ("ok", "relay.ex.gouv.fr")
    assert "192.0.2.10 ↔ relay.ex.gouv.fr" in good.detail
    # mail to the outbox or to a relay on this machine: nothing to check, never blocking
    assert finding(run(dns, zone(drop=(PTR,)), url="outbox:.commskit/outbox"), "ptr").status == (
        "skipped"
    )
    local = finding(run(dns, zone(drop=(PTR,)), url="smtp://127.0.0.1:2525"), "ptr")
    assert (local.status, local.blocking) == ("skipped", False)
