"""The shipped sequence file loads, starts paused, and names its three campaigns."""

from __future__ import annotations

from datetime import timedelta

import pytest

from commskit.errors import SequenceError


def test_shipped_sequence_loads_paused(ws):
    (spec,) = ws.sequences()
    assert spec.name == "relance-webinaire"
    assert spec.paused
    assert [s.campaign for s in spec.steps] == [f"relance-webinaire-{n}" for n in (1, 2, 3)]
    assert [s.delay for s in spec.steps] == [timedelta(days=d) for d in (3, 7, 14)]
    assert spec.steps[1].campaign_id(spec.name) == "seq:relance-webinaire:2"
    assert "replied" in spec.exit
    assert ws.sequence_status("relance-webinaire").paused


def test_paused_must_be_a_boolean(ws):
    path = ws.root / "sequences" / "relance-webinaire.toml"
    path.write_text(
        path.read_text(encoding="utf-8").replace("paused = true", 'paused = "oui"'),
        encoding="utf-8",
    )
    with pytest.raises(SequenceError) as err:
        ws.sequences()
    assert "relance-webinaire.toml:9:" in str(err.value)
    assert "paused must be true or false" in str(err.value)
