"""Refresh docs/img/demo-newsletter.png: run the demo, screenshot its newsletter in Chromium.

Usage: python scripts/update_screenshot.py
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "scripts"))

from screenshot import screenshot_email  # noqa: E402

from commskit.demo import run_demo  # noqa: E402

TARGET = ROOT / "docs" / "img" / "demo-newsletter.png"


def main() -> int:
    """Run the demo in a temporary folder and write the README's screenshot."""
    with tempfile.TemporaryDirectory() as tmp:
        result = run_demo(Path(tmp) / "demo")
        html = result.preview_html.read_text(encoding="utf-8")
        screenshot_email(html, TARGET)
    print(f"wrote {TARGET.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
