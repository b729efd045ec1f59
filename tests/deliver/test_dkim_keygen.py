"""`commskit dkim keygen` (issue 13 item 1): a key in .commskit/ (0600), signing turned on in
commskit.toml, and a DNS record that makes the next send verify against the loopback DNS."""

from __future__ import annotations

import email
import email.policy
import json
import stat
import subprocess

import dkim
import pytest

from commskit.app.dkim import set_dkim_settings
from commskit.workspace import Workspace

CAMPAIGN = "2026-11-infolettre"
SENDER = "Équipe Covoiturage du quotidien <infolettre@mobilites-territoires.fr>"


def keygen(ws, python, env, *args):
    return subprocess.run(
        [python, "-m", "commskit", "-C", str(ws.root), "dkim", "keygen", *args],
        env={**env, "COMMSKIT_FROM": SENDER},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_keygen_turns_signing_on_and_the_printed_record_verifies(
    ws, python, subprocess_env, dns_server, dnsfunc, txt_strings
):
    config = ws.root / "commskit.toml"
    before = config.read_text(encoding="utf-8")
    rsa = keygen(ws, python, subprocess_env, "--selector", "2026a")
    assert rsa.returncode == 0, rsa.stderr
    assert 'set [dkim] rsa_selector = "2026a"' in rsa.stdout
    assert '2026a._domainkey.mobilites-territoires.fr. IN TXT "v=DKIM1; k=rsa; p=' in rsa.stdout
    ed = keygen(
        ws, python, subprocess_env, "--selector", "2026e", "--algorithm", "ed25519", "--json"
    )
    assert ed.returncode == 0, ed.stderr
    ed_out = json.loads(ed.stdout)
    assert ed_out["dns_name"] == "2026e._domainkey.mobilites-territoires.fr"
    assert [c["key"] for c in ed_out["changed"]] == ["ed25519_selector", "ed25519_key"]

    for name in ("dkim-2026a.pem", "dkim-2026e.key"):
        path = ws.state_dir / name
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    after = config.read_text(encoding="utf-8")
    assert after.startswith(before)  # nothing of the user's file was rewritten
    assert after[len(before) :].strip().splitlines() == [
        "[dkim]",
        'rsa_selector = "2026a"',
        'rsa_key = ".commskit/dkim-2026a.pem"',
        'ed25519_selector = "2026e"',
        'ed25519_key = ".commskit/dkim-2026e.key"',
    ]

    # publish what keygen printed, then send: every message carries two valid signatures
    rsa_txt = rsa.stdout.split(" IN TXT ", 1)[1].strip()
    dns_server.set_zone(
        f"2026a._domainkey.mobilites-territoires.fr. 300 IN TXT {rsa_txt}\n"
        f"{ed_out['dns_name']}. 300 IN TXT {txt_strings(ed_out['dns_txt'])}\n"
    )
    ws.contacts.import_file(ws.path("contacts/partenaires-demo.csv"))
    outbox = ws.root / "signed"
    sender = Workspace.open(
        ws.root, overrides={"transport": {"url": f"outbox:{outbox}"}, "sender": {"from": SENDER}}
    )
    assert sender.send(CAMPAIGN, yes=True).sent == 17
    sender.close()
    for path in (outbox / "new").iterdir():
        data = path.read_bytes().split(b"\r\n", 2)[2]
        msg = email.message_from_bytes(data, policy=email.policy.compat32)
        assert len(msg.get_all("DKIM-Signature") or []) == 2
        checker = dkim.DKIM(data)
        assert [checker.verify(idx=i, dnsfunc=dnsfunc) for i in (0, 1)] == [True, True]


def test_keygen_never_overwrites_a_key_and_refuses_a_bad_selector(ws, python, subprocess_env):
    assert keygen(ws, python, subprocess_env, "--selector", "s1").returncode == 0
    key = ws.state_dir / "dkim-s1.pem"
    first = key.read_bytes()
    config = (ws.root / "commskit.toml").read_text(encoding="utf-8")
    again = keygen(ws, python, subprocess_env, "--selector", "s1")
    assert again.returncode == 1
    assert again.stderr.strip().startswith("Error: ")
    assert "already exists; it is never overwritten" in again.stderr
    assert len(again.stderr.strip().splitlines()) == 1
    assert key.read_bytes() == first
    bad = keygen(ws, python, subprocess_env, "--selector", "bad_selector")
    assert bad.returncode == 1
    assert "is not a DNS name" in bad.stderr
    assert (ws.root / "commskit.toml").read_text(encoding="utf-8") == config


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '# mine\n[dkim] # signing\nrsa_selector = "old"\n\n[[feed]]\nname = "x"\n',
            '# mine\n[dkim] # signing\nrsa_selector = "new"\nrsa_key = "k.pem"\n\n'
            '[[feed]]\nname = "x"\n',
        ),
        (
            '[sender]\nfrom = "a@b.fr"',
            '[sender]\nfrom = "a@b.fr"\n\n[dkim]\nrsa_selector = "new"\nrsa_key = "k.pem"\n',
        ),
    ],
)
def test_set_dkim_settings_edits_only_the_dkim_table(tmp_path, text, expected):
    path = tmp_path / "commskit.toml"
    path.write_text(text, encoding="utf-8")
    set_dkim_settings(path, {"rsa_selector": "new", "rsa_key": "k.pem"})
    assert path.read_text(encoding="utf-8") == expected
