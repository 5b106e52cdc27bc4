"""URL and host checks shared by profiles, products and links."""

from __future__ import annotations

import re
from functools import lru_cache
from urllib.parse import urlsplit

_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
# An http(s) URL whose authority is a plain host name and maybe a port, and whose rest holds no
# space, control character or backslash: for these, urlsplit's answer is known (the host is
# the group, there are no credentials), so a bulk import does not pay for a full split.
# Anything else takes urlsplit; both give the same answer (tests/kit/test_properties.py).
_PLAIN_URL = re.compile(r"https?://([A-Za-z0-9.-]+)(?::[0-9]{1,5})?(?:[/?#][^\x00-\x20\x7f\\]*)?")


@lru_cache(maxsize=4096)  # an import checks the same few hosts on every row
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


def web_url_host(value: str) -> str:
    """The host of an absolute http(s) URL with no credentials in it, as urlsplit reads it;
    raises ValueError for anything else."""
    if plain := _PLAIN_URL.fullmatch(value):
        return plain[1].lower()
    parts = urlsplit(value)
    if parts.scheme not in {"http", "https"}:
        raise ValueError("must be an http or https URL")
    if parts.username or parts.password:
        raise ValueError("must not contain credentials")
    if not parts.hostname:
        raise ValueError("must have a host")
    return parts.hostname


def validate_web_url(value: str) -> str:
    """An absolute http(s) URL with a real host name and no credentials in it."""
    url = value.strip()
    normalise_host(web_url_host(url))
    return url


def url_host(url: str) -> str:
    plain = _PLAIN_URL.fullmatch(url)
    return normalise_host(plain[1] if plain else urlsplit(url).hostname or "")
