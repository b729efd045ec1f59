"""Campaign sends honour the legal basis (EMAIL-CHECKLIST F.37) and resume with the same veille."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any

from commskit import Workspace

CSV = (
    "Courriel;Prénom;Type;Région;Base légale\n"
    "a@aom-un.example.org;Anne;AOM;Bretagne;consentement\n"
    "b@aom-deux.example.org;Bruno;AOM;Bretagne;mission de service public\n"
    "c@aom-trois.example.org;Chloé;AOM;Bretagne;\n"
)


def _workspace(tmp_path: Path, edit_config: Callable[[Path], None] | None = None) -> Workspace:
    """A fresh workspace with three partners; ``edit_config`` changes its commskit.toml first."""
    root = tmp_path / "ws"
    Workspace.init(root).close()
    if edit_config is not None:
        edit_config(root / "commskit.toml")
    ws = Workspace.open(root)
    (root / "partners.csv").write_text(CSV, encoding="utf-8")
    ws.contacts.import_file(root / "partners.csv")
    return ws


def _statuses(ws: Workspace, campaign: str) -> dict[str, tuple[str, str]]:
    return {row["email"]: (row["status"], row["error"] or "") for row in ws.send_report(campaign)}


def test_contact_without_legal_basis_is_not_mailed(tmp_path: Path) -> None:
    ws = _workspace(tmp_path)
    report = ws.send("2026-11-infolettre", audience='kind = "AOM"', yes=True)
    assert report.sent == 2
    statuses = _statuses(ws, "2026-11-infolettre")
    assert statuses["a@aom-un.example.org"][0] == "sent"
    assert statuses["b@aom-deux.example.org"][0] == "sent"
    assert statuses["c@aom-trois.example.org"] == ("suppressed", "no legal basis recorded")
    ws.close()


def test_list_restricted_to_consent(tmp_path: Path, set_list_setting: Any) -> None:
    # in the shipped [lists.infolettre] table: TOML refuses a second one
    ws = _workspace(
        tmp_path, lambda cfg: set_list_setting(cfg, "infolettre", "bases", '["consent"]')
    )
    dry = ws.send("2026-11-infolettre", audience='kind = "AOM"', dry_run=True)
    assert dry.preflight.to_send == 1
    assert dry.preflight.suppressed == 2
    report = ws.send("2026-11-infolettre", audience='kind = "AOM"', yes=True)
    assert report.sent == 1
    status, reason = _statuses(ws, "2026-11-infolettre")["b@aom-deux.example.org"]
    assert status == "suppressed"
    assert "public-mission is not accepted for list infolettre" in reason
    ws.close()


def test_resume_keeps_the_first_runs_veille(tmp_path: Path) -> None:
    ws = _workspace(tmp_path)
    offline = Workspace.open(ws.root, overrides={"feeds": {"sources": ["feeds/samples/*.toml"]}})
    offline.fetch()
    first = offline.send("2026-11-infolettre", audience='kind = "AOM"', yes=True, limit=1)
    assert first.sent == 1
    # meanwhile a hot item arrives; without the pin it would enter the top 5 and change the
    # campaign ("changed since its first send"); with it, the rest gets the same newsletter
    time.sleep(1.1)
    hot = ws.root / "feeds" / "hot.xml"
    hot.write_text(
        "<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel><title>Hot</title>"
        "<link>https://hot.example.org/</link><description>d</description><item>"
        "<title>Covoiturage : la prime covoiturage doublée pour le covoiturage quotidien</title>"
        "<link>https://hot.example.org/prime</link><guid>hot-1</guid>"
        f"<pubDate>{format_datetime(datetime.now(UTC))}</pubDate>"
        "<description>Covoiturage covoiturage covoiturage.</description></item></channel></rss>",
        encoding="utf-8",
    )
    (ws.root / "feeds" / "samples" / "hot.toml").write_text(
        f'[[feed]]\nname = "Hot"\nurl = "{hot.as_uri()}"\ntopics = ["covoiturage"]\nweight = 5\n',
        encoding="utf-8",
    )
    offline.fetch()
    assert any(
        i.title.startswith("Covoiturage : la prime covoiturage doublée")
        for i in offline.digest(since="all").items
    )
    rest = offline.send("2026-11-infolettre", audience='kind = "AOM"', yes=True)
    assert rest.sent == 1
    assert rest.counts["sent"] == 2
    offline.close()
    ws.close()


def test_named_segment_audience_also_checks_the_basis(tmp_path: Path) -> None:
    ws = _workspace(tmp_path)
    report = ws.send("2026-11-infolettre", audience="aom-bretagne", yes=True)
    assert report.sent == 2
    assert _statuses(ws, "2026-11-infolettre")["c@aom-trois.example.org"] == (
        "suppressed",
        "no legal basis recorded",
    )
    ws.close()
