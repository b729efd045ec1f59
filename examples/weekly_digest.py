"""Weekly veille digest: fetch, write what is new for the wiki, email it to the team.

    python examples/weekly_digest.py [WORKSPACE]

The same job as `commskit digest --fetch --since last --mark --send --yes -o out/veille-DATE.md`,
written as a script you can extend (post it to a chat, add a format, filter by topic...).
Running it twice never repeats an item and never emails the team twice in a week.
"""

from __future__ import annotations

import sys
from datetime import date

from commskit import CommskitError, Workspace
from commskit.feeds.digest_formats import render_digest


def main(argv: list[str]) -> int:
    """Run the weekly digest in the workspace given as first argument (default: here)."""
    root = argv[1] if len(argv) > 1 else "."
    try:
        with Workspace.open(root) as ws:
            fetched = ws.fetch()
            for feed in fetched.failed:
                print(f"feed failed: {feed.name}: {feed.error}", file=sys.stderr)

            digest = ws.digest(since="last")
            if digest.total == 0:
                print("Nothing new since the last digest.")
                return 0

            wiki = ws.path("out") / f"veille-{date.today():%Y-%m-%d}.md"
            wiki.parent.mkdir(parents=True, exist_ok=True)
            wiki.write_text(render_digest(digest, "markdown"), encoding="utf-8")

            report = ws.send_digest(digest, yes=True)  # a script run from cron confirms
            finished = report.stopped is None and not report.retry_later
            if finished and report.sent:
                ws.mark_digest(digest)  # the next since="last" starts after these items
            print(
                f"{digest.total} items in {len(digest.sections)} topics; written to {wiki}; "
                f"emailed to {report.sent} people ({report.campaign_id})"
            )
    except CommskitError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
