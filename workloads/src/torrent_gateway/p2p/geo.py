"""Where an IP address is: a MaxMind DB lookup (GeoLite2/GeoIP2 City, Country or ASN databases).

Only the fields the ranking uses are read — continent and country codes, coordinates, and the
autonomous system number — from whichever of them the configured database carries. Addresses
the database does not know (private ranges, loopback) have no location, and the ranking then
falls back to address-prefix proximity for them.
"""

from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import maxminddb


@dataclass(frozen=True, slots=True)
class Location:
    continent: str | None = None
    country: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    asn: int | None = None

    def view(self) -> dict[str, Any]:
        return {
            k: v
            for k, v in (
                ("continent", self.continent),
                ("country", self.country),
                ("latitude", self.latitude),
                ("longitude", self.longitude),
                ("asn", self.asn),
            )
            if v is not None
        }


def _code(record: dict[str, Any], key: str) -> str | None:
    value = record.get(key)
    if isinstance(value, dict):
        code = value.get("code") or value.get("iso_code")
        return str(code) if code else None
    return None


def location_from_record(record: Any) -> Location | None:
    """The fields we use from one MaxMind record (City, Country or ASN layout)."""
    if not isinstance(record, dict):
        return None
    where = record.get("location") if isinstance(record.get("location"), dict) else {}
    latitude = where.get("latitude") if isinstance(where, dict) else None
    longitude = where.get("longitude") if isinstance(where, dict) else None
    asn = record.get("autonomous_system_number")
    location = Location(
        continent=_code(record, "continent"),
        country=_code(record, "country"),
        latitude=float(latitude) if isinstance(latitude, (int, float)) else None,
        longitude=float(longitude) if isinstance(longitude, (int, float)) else None,
        asn=int(asn) if isinstance(asn, int) else None,
    )
    return location if location != Location() else None


def distance_km(a: Location, b: Location) -> float | None:
    """Great-circle distance, when both have coordinates."""
    if None in (a.latitude, a.longitude, b.latitude, b.longitude):
        return None
    lat1, lon1, lat2, lon2 = map(math.radians, (a.latitude, a.longitude, b.latitude, b.longitude))  # type: ignore[arg-type]
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * 6371.0 * math.asin(min(1.0, math.sqrt(h)))


class GeoLocator:
    """A MaxMind DB opened once (memory-mapped when possible); lookups are cached."""

    def __init__(self, path: str | Path, *, cache_size: int = 10_000) -> None:
        self.path = Path(path)
        self.reader = maxminddb.open_database(str(self.path))
        self._cache: dict[str, Location | None] = {}
        self._cache_size = cache_size

    def locate(self, ip: str) -> Location | None:
        if ip in self._cache:
            return self._cache[ip]
        try:
            address = ipaddress.ip_address(ip)
            record = self.reader.get(address)
        except (ValueError, maxminddb.InvalidDatabaseError):
            record = None
        location = location_from_record(record)
        if len(self._cache) >= self._cache_size:
            self._cache.clear()
        self._cache[ip] = location
        return location

    def close(self) -> None:
        self.reader.close()
