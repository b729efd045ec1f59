"""`commskit run` driving a three-step sequence over 200 contacts, the clock moved with
COMMSKIT_NOW (never sleeping), against a real SMTP server on loopback: each contact gets each
step at most once and in order, a reply after step 1 stops the rest, kill -9 and re-run sends no
duplicate, two runs started together: one sends, the other is locked out, and the dry-run
timeline is what the real runs then send."""

from __future__ import annotations

import email
import email.policy
import json
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta

import pytest

from commskit.workspace import Workspace

T0 = datetime.fromisoformat("2026-12-15T09:00:00+01:00")
COUNT = 200
SEQUENCE = """\
title = "Relance de test"
audience = 'tag("relance")'
exit = ["replied", 'stage = "joined"']

[[steps]]
campaign = "relance-webinaire-1"
delay = "0d"

[[steps]]
campaign = "relance-webinaire-2"
delay = "7d"

[[steps]]
campaign = "relance-webinaire-3"
delay = "14d"
condition = 'not registered("webinaire-tableau-de-bord")'
"""
SENDER = "Équipe Covoiturage du quotidien <infolettre@mobilites-territoires.fr>"


@pytest.fixture
def seq_ws(ws: Workspace, tmp_path):
    rows = ["email,first_name,kind,tags,basis"]
    rows += [f"p{i}@example.net,Camille,AOM,relance,public-mission" for i in range(1, COUNT + 1)]
    csv = tmp_path / "relance.csv"
    csv.write_text("\n".join(rows) + "\n", encoding="utf-8")
    report = ws.contacts.import_file(csv)
    assert ws.contacts.count() >= COUNT, report
    (ws.root / "sequences" / "relance-test.toml").write_text(SEQUENCE, encoding="utf-8")
    return ws


def subjects(ws: Workspace) -> dict[str, int]:
    return {ws.campaign(f"relance-webinaire-{n}").subject: n for n in (1, 2, 3)}


def steps_received(handler, ws: Workspace) -> dict[str, list[tuple[int, str]]]:
    """recipient -> [(step, Message-ID)] in the order the server got them."""
    by_subject = subjects(ws)
    out: dict[str, list[tuple[int, str]]] = {}
    for m in handler.messages:
        msg = email.message_from_bytes(m.data, policy=email.policy.default)
        out.setdefault(m.rcpt, []).append((by_subject[str(msg["Subject"])], str(msg["Message-ID"])))
    return out


def cli(ws, subprocess_env, python, url, when, *args, concurrency=4, popen=False, env=None):
    env = {**subprocess_env, **(env or {})}
    env.update(
        COMMSKIT_NOW=when.isoformat(),
        COMMSKIT_TRANSPORT=url,
        COMMSKIT_TRANSPORT_CONCURRENCY=str(concurrency),
        COMMSKIT_FROM=SENDER,
    )
    argv = [python, "-m", "commskit", "-C", str(ws.root), "run", *args]
    if popen:
        return subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)


def timeline(result) -> set[tuple[str, int, str]]:
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    return {
        (i["email"], i["step"], i["when"])
        for i in data["items"]
        if i["source"] == "sequence" and i["name"] == "relance-test"
    }


def test_three_steps_over_200_contacts(seq_ws, smtp_server, subprocess_env, python):
    ws = seq_ws
    server = smtp_server()
    url = server.url
    until = (T0 + timedelta(days=40)).strftime("%Y-%m-%d %H:%M")
    planned = timeline(
        cli(ws, subprocess_env, python, url, T0, "--dry-run", "--until", until, "--json")
    )
    assert len(planned) == 3 * COUNT
    assert server.handler.messages == []  # a dry run sends nothing

    first = cli(ws, subprocess_env, python, url, T0)
    assert first.returncode == 0, first.stderr
    got = steps_received(server.handler, ws)
    assert len(got) == COUNT
    assert all(steps == [(1, steps[0][1])] for steps in got.values())

    # p1 replies the day after step 1 (the inbox records it): no step 2 for p1
    replier = ws.contacts.get("p1@example.net")
    ws.store.activity.record_message(
        message_key="<reply-p1@example.net>",
        kind="reply",
        contact_id=replier.id,
        campaign_id="seq:relance-test:1",
        received_at=(T0 + timedelta(days=1)).isoformat(),
    )
    later = timeline(
        cli(
            ws,
            subprocess_env,
            python,
            url,
            T0 + timedelta(days=1),
            "--dry-run",
            "--until",
            until,
            "--json",
        )
    )
    assert {p for p in planned if p[1] == 1} | later == planned - {
        p for p in planned if p[0] == "p1@example.net" and p[1] > 1
    }

    for days in (3, 7, 7, 10, 21, 21, 40):  # several runs at the same moment send nothing more
        result = cli(ws, subprocess_env, python, url, T0 + timedelta(days=days))
        assert result.returncode == 0, result.stderr

    got = steps_received(server.handler, ws)
    assert got["p1@example.net"] == [(1, got["p1@example.net"][0][1])]
    for rcpt, steps in got.items():
        numbers = [n for n, _ in steps]
        assert numbers == sorted(set(numbers)), (rcpt, numbers)  # once each, in order
        if rcpt != "p1@example.net":
            assert numbers == [1, 2, 3]
    sent = {(r, n) for r, steps in got.items() for n, _ in steps}
    assert sent == {(e, n) for e, n, _ in planned} - {("p1@example.net", 2), ("p1@example.net", 3)}
    # the state says the same: who got what, who left and why
    status = ws.sequence_status("relance-test")
    assert [s["sent"] for s in status.steps] == [COUNT, COUNT - 1, COUNT - 1]
    assert status.exited == {"replied": 1, "completed": COUNT - 1}
    listing = subprocess.run(
        [
            python,
            "-m",
            "commskit",
            "-C",
            str(ws.root),
            "sequences",
            "show",
            "relance-test",
            "--json",
        ],
        env=subprocess_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert listing.returncode == 0, listing.stderr
    shown = json.loads(listing.stdout)
    assert shown["exited"] == {"replied": 1, "completed": COUNT - 1}


def test_kill_9_during_a_run_then_rerun(seq_ws, smtp_server, subprocess_env, python):
    ws = seq_ws
    server = smtp_server()
    proc = cli(ws, subprocess_env, python, server.url, T0, concurrency=1, popen=True)
    # wait for 30 messages or the end of the run (a hung run is pytest-timeout's to stop)
    while len(server.handler.messages) < 30 and proc.poll() is None:
        time.sleep(0.01)
    assert proc.poll() is None, "the run finished before the kill; use more contacts"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    proc.stdout.close()
    proc.stderr.close()
    killed_at = len(server.handler.messages)
    again = cli(ws, subprocess_env, python, server.url, T0, concurrency=1)
    assert again.returncode == 0, again.stderr
    got = steps_received(server.handler, ws)
    assert set(got) == {f"p{i}@example.net" for i in range(1, COUNT + 1)}
    copies = {rcpt: len(steps) for rcpt, steps in got.items()}
    # one message in flight at the kill may be re-sent, with the same Message-ID
    assert sum(copies.values()) - COUNT <= 1, (killed_at, copies)
    for steps in got.values():
        assert {n for n, _ in steps} == {1}
        assert len({mid for _, mid in steps}) == 1


def test_two_runs_started_together(seq_ws, smtp_server, doubles, subprocess_env, python):
    ws = seq_ws
    # each RCPT waits a little, so the first run is still sending when the second asks
    server = smtp_server(doubles.Script(stall_rcpt=lambda _a, _n: 0.02))
    procs = [
        cli(ws, subprocess_env, python, server.url, T0, concurrency=1, popen=True) for _ in range(2)
    ]
    outcomes = []
    for proc in procs:
        _out, err = proc.communicate(timeout=300)
        outcomes.append((proc.returncode, err.decode()))
    codes = sorted(code for code, _ in outcomes)
    assert codes == [0, 4], outcomes
    locked = next(err for code, err in outcomes if code == 4)
    assert "another commskit run is working" in locked
    assert "\n" not in locked.strip()
    got = steps_received(server.handler, ws)
    assert len(got) == COUNT
    assert all(len(s) == 1 for s in got.values())


def test_bad_sequence_files_send_nothing(seq_ws, smtp_server, subprocess_env, python):
    ws = seq_ws
    server = smtp_server()
    path = ws.root / "sequences" / "relance-test.toml"
    cases = [
        ('campaign = "relance-webinaire-2"', 'campaign = "nulle-part"', 10, "no campaign file"),
        ('delay = "7d"', 'delay = "7 jours"', 11, "cannot understand delay '7 jours'"),
        (
            "condition = 'not registered(",
            "condition = 'not inscrit(",
            16,
            'unknown predicate "inscrit(…)"',
        ),
    ]
    for old, new, line, message in cases:
        path.write_text(SEQUENCE.replace(old, new), encoding="utf-8")
        result = cli(ws, subprocess_env, python, server.url, T0)
        assert result.returncode == 1
        error = result.stderr.strip()
        assert "\n" not in error
        assert "Traceback" not in error
        assert f"relance-test.toml:{line}:" in error, error
        assert message in error, error
    assert server.handler.messages == []
    assert ws.store.sequences.members("relance-test") == []


def planned_then_sent_once(ws, server, subprocess_env, python, audience):
    """The infolettre due 2026-12-16 09:00 Paris: planned by --until at 08:00Z for ``audience``,
    not sent the day before, sent once by the first run after it (a second run sends nothing)."""
    plan = cli(
        ws, subprocess_env, python, server.url, T0, "--dry-run", "--until", "2026-12-17", "--json"
    )
    assert plan.returncode == 0, plan.stderr
    items = [i for i in json.loads(plan.stdout)["items"] if i["name"] == "2026-11-infolettre"]
    assert {i["email"] for i in items} == audience
    assert {i["when"] for i in items} == {"2026-12-16T08:00:00+00:00"}
    early = cli(ws, subprocess_env, python, server.url, T0)  # the day before: nothing
    assert early.returncode == 0, early.stderr
    assert server.handler.messages == []
    for _ in range(2):  # due: sent once, the second run finds it done
        due = cli(ws, subprocess_env, python, server.url, T0 + timedelta(days=1, hours=1))
        assert due.returncode == 0, due.stderr
    assert sorted(server.handler.by_rcpt()) == sorted(audience)
    assert all(len(v) == 1 for v in server.handler.by_rcpt().values())


def test_scheduled_campaign_is_sent_by_the_first_run_after_its_time(
    seq_ws, smtp_server, subprocess_env, python
):
    ws = seq_ws
    server = smtp_server()
    (ws.root / "sequences" / "relance-test.toml").unlink()
    ws.contacts.import_file(ws.path("contacts/partenaires-demo.csv"))
    env = dict(subprocess_env)
    at = subprocess.run(
        [
            python,
            "-m",
            "commskit",
            "-C",
            str(ws.root),
            "send",
            "2026-11-infolettre",
            "--at",
            "2026-12-16 09:00",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert at.returncode == 0, at.stderr
    assert "Nothing was sent now" in at.stdout
    assert server.handler.messages == []
    audience = {c.email for c in ws.contacts.segment("aom-bretagne", list_name="infolettre")}
    assert len(audience) == 17
    planned_then_sent_once(ws, server, subprocess_env, python, audience)


def test_send_at_in_the_front_matter_is_sent_by_the_first_run_after_it(
    seq_ws, smtp_server, subprocess_env, python
):
    """``send_at:`` in the campaign file (local time), with no ``send --at``: the same schedule."""
    ws = seq_ws
    server = smtp_server()
    (ws.root / "sequences" / "relance-test.toml").unlink()
    ws.contacts.import_file(ws.path("contacts/partenaires-demo.csv"))
    path = ws.root / "campaigns" / "2026-11-infolettre" / "fr.md"  # shared by every language
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("---\n", '---\nsend_at: "2026-12-16 09:00"\n', 1), "utf-8")
    audience = {c.email for c in ws.contacts.segment("aom-bretagne", list_name="infolettre")}
    planned_then_sent_once(ws, server, subprocess_env, python, audience)


def test_a_scheduled_campaign_that_does_not_load_is_reported_by_every_run(
    seq_ws, smtp_server, subprocess_env, python
):
    """It would never be sent: saying nothing ("Nothing due") was the bug."""
    ws = seq_ws
    server = smtp_server()
    (ws.root / "sequences" / "relance-test.toml").unlink()
    for variant in ("fr", "en"):  # send_at belongs in fr.md only: en.md makes the file fail
        path = ws.root / "campaigns" / "2026-11-infolettre" / f"{variant}.md"
        text = path.read_text(encoding="utf-8")
        path.write_text(text.replace("---\n", '---\nsend_at: "2026-12-16 09:00"\n', 1), "utf-8")
    for extra in (("--dry-run", "--until", "2026-12-17"), ()):
        result = cli(ws, subprocess_env, python, server.url, T0 + timedelta(days=2), *extra)
        assert result.returncode == 0, result.stderr
        shown = result.stdout + result.stderr
        assert "2026-11-infolettre is scheduled but cannot be sent" in shown, shown
        assert "en.md:2: front matter 'send_at'" in shown, shown
    assert server.handler.messages == []


@pytest.mark.parametrize(
    "extra",
    [
        ["--dry-run"],
        ["--test", "moi@example.org"],
        ["--limit", "3"],
        ["--audience", "all"],
        ["--transport", "outbox:ailleurs"],
    ],
)
def test_send_at_refuses_what_it_would_drop_and_records_nothing(ws, extra):
    """--at with an option of a send made now is a usage error: a --dry-run that recorded the
    schedule anyway (and sent it at the next run) was the bug."""
    from click.testing import CliRunner

    from commskit.cli import main

    root = str(ws.root)
    result = CliRunner().invoke(
        main, ["-C", root, "send", "2026-11-infolettre", "--at", "2026-12-16 09:00", *extra]
    )
    assert result.exit_code == 2, result.output
    assert f"does not go with {extra[0]}" in result.stderr
    assert "Traceback" not in result.stderr
    assert ws.store.sequences.schedules() == []


def test_bad_until_names_until(ws):
    from click.testing import CliRunner

    from commskit.cli import main

    result = CliRunner().invoke(main, ["-C", str(ws.root), "run", "--dry-run", "--until", "demain"])
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines()[0] == (
        "Error: --until 'demain' is not a date and time."
        ' Write the local time, e.g. --until "2026-12-15 09:00"'
    )


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__]))


def test_a_run_outside_the_send_window_waits_and_the_next_one_inside_sends(
    seq_ws, smtp_server, subprocess_env, python
):
    """[transport] window is read on commskit's clock, as the schedule is: a campaign due at
    09:00 on a Wednesday, with a window opening at 10:00, is not sent by the 09:30 run (which
    says why) and is sent once by the 10:30 one."""
    ws = seq_ws
    server = smtp_server()
    (ws.root / "sequences" / "relance-test.toml").unlink()
    ws.contacts.import_file(ws.path("contacts/partenaires-demo.csv"))
    at = subprocess.run(
        [python, "-m", "commskit", "-C", str(ws.root), "send", "2026-11-infolettre", "--at",
         "2026-12-16 09:00"],
        env=subprocess_env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert at.returncode == 0, at.stderr
    window = {"COMMSKIT_TRANSPORT_WINDOW": "Mon-Fri 10:00-17:00 Europe/Paris"}
    wednesday = datetime.fromisoformat("2026-12-16T09:30:00+01:00")
    early = cli(ws, subprocess_env, python, server.url, wednesday, env=window)
    assert server.handler.messages == []
    assert (
        "outside the send window (Mon-Fri 10:00-17:00 Europe/Paris)" in early.stdout + early.stderr
    )
    for _ in range(2):  # inside: sent once, the second run finds it done
        due = cli(
            ws, subprocess_env, python, server.url, wednesday + timedelta(hours=1), env=window
        )
        assert due.returncode == 0, due.stderr
    audience = {c.email for c in ws.contacts.segment("aom-bretagne", list_name="infolettre")}
    assert sorted(server.handler.by_rcpt()) == sorted(audience)
    assert all(len(v) == 1 for v in server.handler.by_rcpt().values())
