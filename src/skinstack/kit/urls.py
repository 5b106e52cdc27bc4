"""URL and host checks shared by profiles, products and links."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


def normalise_host(value: str) -> str:
    """A DNS host name in lower-case IDNA form; raises ValueError for anything else."""
    host = value.strip().rstrip(".").lower()
    try:
        host = host.encode("idna").decode("ascii")
    except UnicodeError:
        raise ValueError(f"not a valid host name: {value!r}") from None
    labels = host.split(".")
    if len(host) > 253 or len(labels) < 2 or not all(_LABEL.match(label) for label in labels):
        raise ValueError(f"not a valid host name: {value!r}")
    if labels[-1].isdigit():
        raise ValueError("an IP address is not a host name")
    return host


def validate_web_url(value: str) -> str:
    """An absolute http(s) URL with a real host name and no credentials in it."""
    parts = urlsplit(value.strip())
    if parts.scheme not in {"http", "https"}:
        raise ValueError("must be an http or https URL")
    if parts.username or parts.password:
        raise ValueError("must not contain credentials")
    if not parts.hostname:
        raise ValueError("must have a host")
    normalise_host(parts.hostname)
    return value.strip()


def url_host(url: str) -> str:
    return normalise_host(urlsplit(url).hostname or "")
