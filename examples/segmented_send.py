"""Segmented send: import a partner export, pick a segment, check, pre-flight, send.

    python examples/segmented_send.py WORKSPACE CONTACTS.csv CAMPAIGN 'SEGMENT EXPRESSION'

For example, the November newsletter to Breton and Norman mobility authorities that have not
joined yet:

    python examples/segmented_send.py . contacts/partenaires-demo.csv 2026-11-infolettre \\
        'kind = "AOM" and region in ("Bretagne", "Normandie") and stage != "joined"'

Nothing is sent when the campaign has errors or the segment is empty. Run it again after a crash
or a Ctrl-C: the send resumes and nobody gets two copies.
"""

from __future__ import annotations

import sys

from commskit import CommskitError, Workspace


def main(argv: list[str]) -> int:
    """Import, segment, check and send; return the exit status."""
    if len(argv) != 5:
        print(__doc__, file=sys.stderr)
        return 2
    root, contacts_file, campaign_name, expression = argv[1:]
    try:
        with Workspace.open(root) as ws:
            imported = ws.contacts.import_file(contacts_file)
            print(
                f"contacts: {imported.imported} new, {imported.updated} updated, "
                f"{len(imported.skipped)} skipped"
            )

            campaign = ws.campaign(campaign_name)
            segment = ws.segment(expression, list_name=campaign.list_name)
            print(f"segment: {segment.count()} contacts")

            problems = [i for i in ws.compile(campaign).check() if i.level == "error"]
            for issue in problems:
                print(f"check: {issue.code}: {issue.message}", file=sys.stderr)
            if problems:
                return 1

            preflight = ws.send(campaign, audience=expression, dry_run=True).preflight
            print(
                f"pre-flight: {preflight.to_send} to send, {preflight.suppressed} suppressed, "
                f"{preflight.invalid} invalid, {preflight.already_sent} already sent"
            )

            report = ws.send(campaign, audience=expression, yes=True)
            print(f"sent {report.sent} ({report.rate:.0f}/s); campaign totals: {report.counts}")
    except CommskitError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
