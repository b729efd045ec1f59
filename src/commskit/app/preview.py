"""`commskit preview`: serve a rendered campaign on 127.0.0.1, reloading when files change.

Application code: it re-loads and re-compiles the campaign (from a
:class:`~commskit.app.campaigns.CampaignSetup`) on each change.
"""

from __future__ import annotations

import contextlib
import html
import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..compose.sample import contact_for
from ..errors import CommskitError
from . import campaigns

if TYPE_CHECKING:
    from .campaigns import CampaignSetup

_PAGE = """<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8"><title>Aperçu — {title}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 0; background: #eceff3; color: #161616; }}
header {{ padding: 8px 16px; background: #000091; color: #fff; font-size: 14px; }}
main {{ display: flex; gap: 16px; padding: 16px; align-items: flex-start; overflow-x: auto; }}
section h2 {{ font-size: 13px; margin: 0 0 6px; color: #3a3a3a; }}
iframe {{ border: 1px solid #c1c1c1; background: #fff; height: 85vh; }}
pre {{ white-space: pre-wrap; width: 420px; height: 85vh; overflow: auto; margin: 0;
       background: #fff; border: 1px solid #c1c1c1; padding: 8px; font-size: 13px; }}
.error {{ background: #ffe9e9; color: #ce0500; padding: 12px 16px; font-weight: bold; }}
</style></head><body>
<header>{title} — <span id="status">{status}</span></header>
{error}
<main>
<section><h2>Ordinateur (600 px)</h2>
<iframe title="Ordinateur" src="/email.html" width="640"></iframe></section>
<section><h2>Mobile (375 px)</h2>
<iframe title="Mobile" src="/email.html" width="375"></iframe></section>
<section><h2>Texte</h2><pre id="text">{text}</pre></section>
</main>
<script>
let version = {version};
setInterval(async () => {{
  try {{
    const r = await fetch('/version');
    const v = await r.json();
    if (v.version !== version) location.reload();
  }} catch (e) {{ document.getElementById('status').textContent = 'serveur arrêté'; }}
}}, 1000);
</script>
</body></html>
"""


class CampaignPreview:
    """Renders a campaign on demand and re-renders when the campaign or a template changes."""

    def __init__(
        self,
        setup: CampaignSetup,
        campaign_ref: str,
        *,
        to: str | None = None,
        language: str | None = None,
    ) -> None:
        self.setup = setup
        self.campaign_ref = campaign_ref
        self.to = to
        self.language = language  # one variant of a campaign in several languages
        self.version = 0
        self.signature: tuple[Any, ...] = ()
        self.html = ""
        self.text = ""
        self.title = campaign_ref
        self.error = ""
        self.lock = threading.Lock()
        self.refresh()

    def _watched(self) -> list[Path]:
        from ..examples import shipped_templates

        files = []
        for folder in (campaigns.templates_folder(self.setup), shipped_templates()):
            if folder.is_dir():
                files += sorted(p for p in folder.rglob("*") if p.is_file())
        with contextlib.suppress(CommskitError):  # a broken file is reported by refresh()
            loaded = campaigns.load(self.setup, self.campaign_ref)
            files += [loaded.path, *(variant.path for variant in loaded.variants)]
        return files

    def _signature(self) -> tuple[Any, ...]:
        out = []
        for path in self._watched():
            try:
                stat = path.stat()
            except OSError:
                continue
            out.append((str(path), stat.st_mtime_ns, stat.st_size))
        return tuple(out)

    def refresh(self) -> bool:
        """Re-render if a watched file changed; return True when a new version exists."""
        with self.lock:
            signature = self._signature()
            if signature == self.signature:
                return False
            self.signature = signature
            self.version += 1
            try:
                campaign = campaigns.load(self.setup, self.campaign_ref)
                if self.language:
                    campaign = campaign.variant(self.language)
                compiled = campaigns.compile_campaign(self.setup, campaign)
                contacts = self.setup.contacts() if self.to else None
                contact = contact_for(contacts, self.to, campaign.language)
                url = campaigns.preview_unsubscribe_url(self.setup)
                parts = compiled.render(contact, unsubscribe_url=url)
                self.html, self.text, self.title, self.error = (
                    parts.html,
                    parts.text,
                    parts.subject,
                    "",
                )
            except CommskitError as exc:
                self.error = str(exc)
            return True

    def page(self) -> str:
        """Return the preview page: desktop and mobile frames and the text part."""
        error = f'<div class="error">Erreur : {html.escape(self.error)}</div>' if self.error else ""
        return _PAGE.format(
            lang="fr",
            title=html.escape(self.title),
            status="à jour",
            error=error,
            text=html.escape(self.text),
            version=self.version,
        )


#: `commskit preview`'s port: not 8025 (aiosmtpd's) nor 8080 (`commskit serve`'s)
DEFAULT_PORT = 8081


def make_server(preview: CampaignPreview, port: int = 0) -> ThreadingHTTPServer:
    """Return an HTTP server on 127.0.0.1 serving ``preview`` (port 0 = any free port).

    Raises ServerError when it cannot listen there (port in use or out of range).
    """
    from ..listen import open_server

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return None

        def _send(self, body: str, content_type: str, status: int = 200) -> None:
            data = body.encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", f"{content_type}; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            routes: dict[str, Callable[[], tuple[str, str]]] = {
                "/": lambda: (preview.page(), "text/html"),
                "/email.html": lambda: (
                    preview.html or f"<p>{html.escape(preview.error)}</p>",
                    "text/html",
                ),
                "/email.txt": lambda: (preview.text, "text/plain"),
                "/version": lambda: (
                    json.dumps({"version": preview.version, "error": preview.error}),
                    "application/json",
                ),
            }
            route = routes.get(self.path.split("?")[0])
            if route is None:
                self._send("not found", "text/plain", 404)
                return
            preview.refresh()
            body, content_type = route()
            self._send(body, content_type)

    return open_server(lambda: ThreadingHTTPServer(("127.0.0.1", port), Handler), "127.0.0.1", port)
