"""Click fraud rules (pure): what a click's request says about who sent it.

Flags and their scores (0 = a person, 100 = certainly not one). Not counted and not creditable
are two things:
- counted: a click with any flag is stored but kept out of click figures (`counted` false).
- creditable: a click may get attribution unless a flag says no person sent it. The flags in
  CREDITABLE_FLAGS say only that the click must not be counted twice: a repeat is the same
  shopper again, and behind a mobile carrier's NAT thousands of phones share one IP and one
  user agent; their orders are still theirs.

- head_request (100): HEAD is a probe, not a visit. Not creditable.
- crawler (100): the user agent matches crawler-user-agents' list. Not creditable.
- link_preview (100): a chat or social app fetching a preview of the link. Not creditable.
- headless (90): a headless or automated browser. Not creditable.
- empty_user_agent (80): no user agent at all (no browser sends none). Not creditable.
- velocity (70): more than VELOCITY_LIMIT clicks from one IP on one link within a minute.
  Creditable.
- duplicate (40): the same IP and user agent clicked the same link within the last hour.
  Creditable (attribution treats it as the same touch as its device's earlier click on the
  link, if there is one: attribution.models).
The click's score is the highest score among its flags.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

import crawleruseragents

SCORES = {"head_request": 100, "crawler": 100, "link_preview": 100, "headless": 90,
          "empty_user_agent": 80, "velocity": 70, "duplicate": 40}
CREDITABLE_FLAGS = frozenset({"velocity", "duplicate"})
"""Flags that keep a click out of click counts but leave it creditable."""
VELOCITY_LIMIT = 10
VELOCITY_WINDOW_SECONDS = 60
DUPLICATE_WINDOW_SECONDS = 3600

_PREVIEW = re.compile(
    r"facebookexternalhit|facebookcatalog|meta-externalagent|twitterbot|slackbot|"
    r"slack-imgproxy|whatsapp|telegrambot|discordbot|linkedinbot|pinterest|skypeuripreview|"
    r"redditbot|vkshare|embedly|iframely|snapchat|applebot|google-pagerenderer|"
    r"bitlybot|tumblr|viber|line-poker|kakaotalk-scrap|outbrain|quora link preview",
    re.IGNORECASE)
_HEADLESS = re.compile(r"headlesschrome|phantomjs|puppeteer|playwright|selenium|webdriver|"
                       r"electron/|slimerjs|splash|htmlunit", re.IGNORECASE)


@lru_cache(maxsize=20_000)
def user_agent_flags(user_agent: str) -> frozenset[str]:
    """Flags that follow from the user agent alone (cached per string)."""
    if not user_agent.strip():
        return frozenset({"empty_user_agent"})
    flags = set()
    if _PREVIEW.search(user_agent):
        flags.add("link_preview")
    if _HEADLESS.search(user_agent):
        flags.add("headless")
    if crawleruseragents.is_crawler(user_agent):
        flags.add("crawler")
    return frozenset(flags)


def click_flags(*, method: str, user_agent: str, clicks_this_minute: int,
                seen_within_hour: bool) -> frozenset[str]:
    """Every flag of one click. `clicks_this_minute` counts this click too."""
    return frozenset(verdict(user_agent_flags(user_agent), method == "HEAD",
                             clicks_this_minute > VELOCITY_LIMIT, seen_within_hour)[0])


@lru_cache(maxsize=1024)
def verdict(agent_flags: frozenset[str], head: bool, too_fast: bool,
            repeat: bool) -> tuple[tuple[str, ...], int]:
    """(the click's flags, sorted; its score) from what its user agent says, whether it is a
    HEAD request, over VELOCITY_LIMIT this minute, and a repeat within the hour. Few
    combinations exist, so each is worked out once."""
    flags = set(agent_flags)
    if head:
        flags.add("head_request")
    if too_fast:
        flags.add("velocity")
    if repeat:
        flags.add("duplicate")
    return tuple(sorted(flags)), score(frozenset(flags))


def score(flags: frozenset[str]) -> int:
    return max((SCORES[flag] for flag in flags), default=0) if flags else 0


def creditable(flags: Iterable[str]) -> bool:
    """Whether a click with these flags may get attribution: when every flag is one of
    CREDITABLE_FLAGS (an unknown flag is not creditable). attribution.repository asks the
    same of stored clicks in SQL (`fraud_flags <@ CREDITABLE_FLAGS`)."""
    return frozenset(flags) <= CREDITABLE_FLAGS
