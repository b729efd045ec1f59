"""Fixtures of the integration tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from commskit import Workspace

SAMPLES = Path(__file__).resolve().parents[2] / "feeds" / "samples"


@pytest.fixture
def team_ws(tmp_path: Path) -> Workspace:
    """A workspace whose digest reads one sample feed and goes to two team addresses."""
    root = tmp_path / "ws"
    Workspace.init(root).close()
    config = root / "commskit.toml"
    text = config.read_text(encoding="utf-8")
    text = text.replace(
        'sources = ["feeds/*.toml", "feeds/*.opml"]', 'sources = ["feeds/one.toml"]'
    )
    text = text.replace('url = "outbox:.commskit/outbox"', 'url = "outbox:outbox"')
    text = text.replace(
        'recipients = ["equipe@covoiturage.example.gouv.fr"]',
        'recipients = ["equipe@covoiturage.example.gouv.fr",'
        ' "direction@covoiturage.example.gouv.fr"]',
    )
    config.write_text(text, encoding="utf-8")
    shutil.copy(SAMPLES / "ministere.xml", root / "feeds" / "one.xml")
    (root / "feeds" / "one.toml").write_text(
        '[[feed]]\nname = "Ministère"\nurl = "one.xml"\ntopics = ["mobilites"]\n', encoding="utf-8"
    )
    return Workspace.open(root)
