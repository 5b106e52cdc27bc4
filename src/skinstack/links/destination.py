"""Destination URLs: built once per link (UTMs, network parameters), completed per click.

Pure functions. The host of a redirect is always the stored destination's host: per-click values
are percent-encoded into the query, so nothing in a request can change where it goes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

UTM_SOURCE = "skinstack"
UTM_MEDIUM = "affiliate"
PASSED_ON = ("gclid", "fbclid", "ttclid")
GENERIC_SUB_ID_PARAMETER = "click_id"


def campaign_tag(name: str) -> str:
    """A utm_campaign value from a program or campaign name ("Summer Glow!" → summer-glow)."""
    tag = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return tag[:100] or "skinstack"


def build_destination(url: str, *, utm_campaign: str,
                      extra: dict[str, str] | None = None) -> str:
    """`url` with our UTM parameters (and `extra`, e.g. Amazon's `tag`) set.

    Existing parameters and the fragment are kept; ours replace same-named ones.
    """
    parts = urlsplit(url)
    ours = {"utm_source": UTM_SOURCE, "utm_medium": UTM_MEDIUM, "utm_campaign": utm_campaign,
            **(extra or {})}
    kept = [(key, value) for key, value in parse_qsl(parts.query, keep_blank_values=True)
            if key not in ours]
    query = urlencode([*kept, *ours.items()], quote_via=quote)
    path = quote(parts.path, safe="/%:@!$&'()*+,;=-._~")  # unicode paths, percent-encoded once
    return urlunsplit((parts.scheme, parts.netloc, path or "/", query, parts.fragment))


OUR_UTMS = ("utm_source", "utm_medium", "utm_campaign")


_UNRESERVED = re.compile(r"[A-Za-z0-9_.~-]*")  # what quote() leaves as it is


def _quoted(text: str) -> str:
    return text if _UNRESERVED.fullmatch(text) else quote(text, safe="")


def _pair(key: str, value: str) -> str:
    return f"{_quoted(key)}={_quoted(value)}"


@dataclass(frozen=True, slots=True)
class Destination:
    """A stored destination split once, so a click only joins prepared strings."""

    head: str  # scheme://host/path?  plus the destination's own parameters and "&" if any
    utms: tuple[tuple[str, str], ...]  # ours, encoded as "key=value", which a request's own
    # utm_* replace
    fragment: str  # "#..." or ""
    tail: str  # what follows the sub id when the request passes nothing on: "&" + our
    # UTMs, then the fragment

    @classmethod
    def parse(cls, url: str) -> Destination:
        parts = urlsplit(url)
        params = parse_qsl(parts.query, keep_blank_values=True)
        head = urlunsplit((parts.scheme, parts.netloc, parts.path, "", "")) + "?"
        kept = "&".join(_pair(key, value) for key, value in params if key not in OUR_UTMS)
        utms = tuple((key, _pair(key, value)) for key, value in params if key in OUR_UTMS)
        fragment = f"#{parts.fragment}" if parts.fragment else ""
        return cls(head=head + (kept + "&" if kept else ""), utms=utms, fragment=fragment,
                   tail="".join(f"&{pair}" for _, pair in utms) + fragment)

    def for_click(self, sub_id_parameter: str, click_id: str,
                  passed_on: list[tuple[str, str]]) -> str:
        """The Location of one click: the destination's parameters, the sub id, our UTMs
        (unless the request brought its own), then the request's ad-click ids and UTMs."""
        sub_id = f"{sub_id_parameter}={_quoted(click_id)}"
        if not passed_on:
            return self.head + sub_id + self.tail
        theirs = {key for key, _ in passed_on}
        pairs = [self.head + sub_id, *(pair for key, pair in self.utms if key not in theirs),
                 *(_pair(key, value) for key, value in passed_on)]
        return "&".join(pairs) + self.fragment


def passed_on(query_params: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The request's gclid, fbclid, ttclid and utm_* parameters (bounded), to record and pass on."""
    kept = []
    for key, value in query_params[:50]:
        if key in PASSED_ON or (key.startswith("utm_") and len(key) <= 40):
            kept.append((key, value[:255]))
    return kept


def passed_on_query(raw: bytes) -> list[tuple[str, str]]:
    """passed_on() of a raw query string, as parse_qsl() would split it (blank values and
    fields without "=" dropped, "+" as space, percent-decoded as UTF-8), without parsing a
    query that cannot hold any of those parameters."""
    query = raw.decode("latin-1")
    if "utm_" not in query and "clid" not in query and "%" not in query:
        return []
    pairs = []
    for field in query.split("&"):
        key, equals, value = field.partition("=")
        if not equals or not value:
            continue
        if "+" in field or "%" in field:
            key, value = unquote(key.replace("+", " ")), unquote(value.replace("+", " "))
        pairs.append((key, value))
    return passed_on(pairs)
