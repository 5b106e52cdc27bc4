"""Content negotiation for answers that exist twice: a problem document and a page or text.

The contract's errors are problem documents (JSON); a person's browser is better served by a
page. `prefers_problem()` decides by the request's Accept header (RFC 9110 §12.5.1): each
representation takes the quality of the most specific media range that names it, and the
problem document wins unless the other representation is acceptable at a higher quality. So
a browser (`text/html,…,*/*;q=0.8`) gets the page, a client that asks for JSON (or names
nothing, or `*/*`) gets the problem document, and a client that refuses JSON (`q=0`, or only
`text/*`) gets the other.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# The problem document is `application/problem+json`; a client asking for plain
# `application/json` asks for it too.
_JSON = (b"application/problem+json", b"application/json")
_QVALUE = re.compile(rb"0(\.[0-9]{0,3})?|1(\.0{0,3})?")


def accept_of(headers: Iterable[tuple[bytes, bytes]]) -> bytes | None:
    """The request's Accept header (lower-case names, as in an ASGI scope), lines joined."""
    accept = None
    for name, value in headers:
        if name == b"accept":
            accept = value if accept is None else accept + b"," + value
    return accept


def prefers_problem(accept: bytes | None, other: bytes) -> bool:
    """Whether the problem document is the answer (rather than `other`, e.g. b"text/html")."""
    if not accept:
        return True
    json_quality = _quality(accept, _JSON)
    return json_quality > 0 and json_quality >= _quality(accept, (other,))


def _quality(accept: bytes, names: tuple[bytes, ...]) -> float:
    """The quality the Accept header gives the media type `names[0]` (also known as the rest
    of `names`): that of its most specific matching range, 0 when none matches."""
    kind = names[0].split(b"/")[0]
    best_rank, quality = 0, 0.0
    for media_range in accept.lower().split(b","):
        media_type, *parameters = media_range.split(b";")
        media_type = media_type.strip()
        if media_type in names:
            rank = 3
        elif media_type == kind + b"/*":
            rank = 2
        elif media_type == b"*/*":
            rank = 1
        else:
            continue
        value = 1.0
        for parameter in parameters:
            key, _, number = parameter.partition(b"=")
            number = number.strip()
            if key.strip() == b"q" and _QVALUE.fullmatch(number):
                value = float(number)  # an unreadable weight is the default, 1
        if rank > best_rank or (rank == best_rank and value > quality):
            best_rank, quality = rank, value
    return quality
