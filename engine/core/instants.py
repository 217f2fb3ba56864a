"""An instant the store keeps (naive UTC, like every `DateTime` column) as the team reads it.

The team reads time on its own clock: Europe/Paris unless relance.toml's ``[team] timezone`` says
otherwise. Instants are stored in UTC (servers and workers may run anywhere); they are turned into the
team's local time only where a person reads them — `relance outbox`, the printed timeline, the web app.
"""

from __future__ import annotations

from datetime import datetime, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_ZONE = "Europe/Paris"


def team_zone(name: str | None = None) -> ZoneInfo:
    """The IANA zone ``name`` (default Europe/Paris); ValueError naming it when the system does not know it."""
    try:
        return ZoneInfo(name or DEFAULT_ZONE)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r} (an IANA name such as \"Europe/Paris\")") from None


def local(utc: datetime, zone: tzinfo | None = None) -> datetime:
    """A stored naive-UTC instant (or an aware one) in the team's zone."""
    aware = utc if utc.tzinfo is not None else utc.replace(tzinfo=timezone.utc)
    return aware.astimezone(zone or team_zone())


def parse_stored(text: str) -> datetime:
    """An instant a payload stored as ISO text (naive: UTC)."""
    return datetime.fromisoformat(text)


def format_instant_fr(utc: datetime, zone: tzinfo | None = None) -> str:
    """« 25/11/2026 à 15 h 03 », in the team's zone (what a French reader expects: no seconds, no offset)."""
    at = local(utc, zone)
    return f"{at:%d/%m/%Y} à {at.hour} h {at:%M}"


def format_instant(utc: datetime, zone: tzinfo | None = None) -> str:
    """« 2026-11-25 15:03 CET »: local time on the command line, the zone's abbreviation saying which."""
    at = local(utc, zone)
    return f"{at:%Y-%m-%d %H:%M} {at.tzname() or ''}".rstrip()


def iso_instant(utc: datetime, zone: tzinfo | None = None) -> str:
    """ISO 8601 with the offset, for scripts (`--json`): local and unambiguous."""
    return local(utc, zone).isoformat(timespec="minutes")


__all__ = ["DEFAULT_ZONE", "format_instant", "format_instant_fr", "iso_instant", "local", "parse_stored", "team_zone"]
