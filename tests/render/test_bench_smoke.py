"""The render benchmark still runs (tiny sizes), so it cannot rot between measurements."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_render_bench_runs_with_tiny_sizes(python: str, subprocess_env: dict[str, str]) -> None:
    proc = subprocess.run(
        [
            python,
            str(ROOT / "bench/render_bench.py"),
            "--recipients",
            "30",
            "--naive",
            "2",
            "--inliner-runs",
            "1",
        ],
        capture_output=True,
        text=True,
        env=subprocess_env,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "| commskit: compile once" in proc.stdout
    assert "| naive: Jinja + MJML" in proc.stdout
    assert "| css-inline (used) |" in proc.stdout
    assert "yes," in proc.stdout  # the two inliners still agree on our newsletter
