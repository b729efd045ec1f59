"""URL cleaning for feed items: unwrap redirectors, strip tracking parameters, compare."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

#: Query parameters that only track readers; removed from links and ignored when comparing.
TRACKING_PARAMS = frozenset(
    {
        "fbclid",
        "gclid",
        "dclid",
        "gclsrc",
        "msclkid",
        "yclid",
        "igshid",
        "mkt_tok",
        "_hsenc",
        "_hsmi",
        "xtor",  # AT Internet, common on French media feeds
        "at_medium",
        "at_campaign",
        "at_platform",
        "at_send_date",
        "ncid",
        "cmpid",
        "ref_src",
        "oly_anon_id",
        "oly_enc_id",
        "vero_id",
        "wt_mc",
    }
)
TRACKING_PREFIXES = ("utm_", "mc_", "pk_", "mtm_", "at_")

#: Redirect wrappers: (host suffix, path) → query parameter holding the real URL.
REDIRECTORS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("google.", "/url", ("url", "q")),
    ("news.google.com", "/url", ("url", "q")),
    ("l.facebook.com", "/l.php", ("u",)),
    ("lm.facebook.com", "/l.php", ("u",)),
    ("bing.com", "/news/apiclick.aspx", ("url",)),
    ("out.reddit.com", "/", ("url",)),
    ("duckduckgo.com", "/l/", ("uddg",)),
    ("t.umblr.com", "/redirect", ("z",)),
    ("href.li", "/", ()),
)


def _is_tracking(name: str) -> bool:
    lowered = name.lower()
    return lowered in TRACKING_PARAMS or lowered.startswith(TRACKING_PREFIXES)


def _host_matches(host: str, pattern: str) -> bool:
    """Match ``google.`` against any Google domain (www.google.fr), else domain + subdomains."""
    if pattern.endswith("."):
        labels = host.split(".")
        return pattern[:-1] in labels[:-1] and labels.index(pattern[:-1]) >= len(labels) - 3
    return host == pattern or host.endswith("." + pattern)


def unwrap(url: str) -> str:
    """Return the target of a known redirect wrapper (Google Alerts, Facebook, …), else ``url``."""
    for _ in range(3):  # wrappers inside wrappers
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        target = None
        for suffix, path, params in REDIRECTORS:
            if not _host_matches(host, suffix):
                continue
            if not parts.path.startswith(path):
                continue
            if not params and parts.query.startswith("http"):
                target = parts.query
                break
            query = dict(parse_qsl(parts.query, keep_blank_values=False))
            for name in params:
                value = query.get(name, "")
                if value.startswith(("http://", "https://")):
                    target = value
                    break
            if target:
                break
        if not target:
            return url
        url = target
    return url


def clean_link(url: str) -> str:
    """Return the link to show readers: unwrapped, tracking parameters and empty fragment removed.

    Returns ``""`` for anything that is not an http(s) URL (e.g. ``javascript:``): such a link is
    never shown.
    """
    url = url.strip()
    if not url:
        return ""
    url = unwrap(url)
    try:
        parts = urlsplit(url)
    except ValueError:
        return ""
    if parts.scheme.lower() not in {"http", "https"} or not parts.hostname:
        return ""
    query = [
        (k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _is_tracking(k)
    ]
    return urlunsplit(
        (
            parts.scheme.lower(),
            parts.netloc.lower(),
            parts.path or "/",
            urlencode(query),
            parts.fragment,
        )
    )


def canonical_url(url: str) -> str | None:
    """Return the comparison key of a link: two links to the same article give the same key.

    Scheme, ``www.``, default port, fragment, trailing slash and tracking parameters are ignored;
    remaining query parameters are sorted.
    """
    link = clean_link(url)
    if not link:
        return None
    parts = urlsplit(link)
    host = (parts.hostname or "").lower()
    if host.startswith("www."):
        host = host[4:]
    port = parts.port
    netloc = host if port in (None, 80, 443) else f"{host}:{port}"
    path = parts.path.rstrip("/") or ""
    query = sorted(parse_qsl(parts.query, keep_blank_values=True))
    key = netloc + path
    if query:
        key += "?" + urlencode(query)
    return key
