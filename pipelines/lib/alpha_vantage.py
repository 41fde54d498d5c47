"""A small Alpha Vantage client: company OVERVIEW and the whole-market EARNINGS_CALENDAR.

Alpha Vantage reports throttling and errors with HTTP 200: a JSON body with an `Information`,
`Note` or `Error Message` key, or — for the CSV endpoint — a "CSV" whose rows spell that note.
Every such body becomes a typed error here, so a rate-limit note is never parsed as data.

The free tier allows 25 requests a day in all, so answers are cached under the data directory:
the calendar for `earnings_cache_ttl` seconds (one whole-market request a day serves every symbol),
overviews for `profile_cache_days` days. Error bodies are never cached.
"""

from __future__ import annotations

import csv
import io
import json
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests

from position_manager.errors import PositionManagerError

NOTE_KEYS = ("Error Message", "Information", "Note")
REQUIRED_CALENDAR_COLUMNS = ("symbol", "reportDate")
_RATE_LIMIT_WORDS = ("rate limit", "requests per day", "per minute", "call frequency", "premium")


class AlphaVantageError(PositionManagerError):
    """Alpha Vantage did not give usable data; the message says what it said instead."""


class AlphaVantageRateLimitError(AlphaVantageError):
    """The daily or per-minute budget is spent (a `Note`/`Information` body). Try tomorrow."""


class AlphaVantageApiError(AlphaVantageError):
    """An `Error Message` or other note: bad key, bad parameters, or a premium-only endpoint."""


class AlphaVantageUnknownSymbolError(AlphaVantageError):
    """OVERVIEW answered `{}`: Alpha Vantage has no company data for the symbol."""


class AlphaVantageFormatError(AlphaVantageError):
    """The body is not what the endpoint documents (empty CSV, missing columns, bad JSON)."""


@dataclass(frozen=True, slots=True)
class CompanyOverview:
    symbol: str
    name: str | None
    market_cap: float | None  # dollars; None when Alpha Vantage says "None"/"NA"
    fetched_at: datetime
    from_cache: bool


@dataclass(frozen=True, slots=True)
class EarningsRow:
    symbol: str
    name: str | None
    report_date: date
    fiscal_date_ending: date | None
    estimate: float | None
    currency: str | None
    time_of_the_day: str | None


@dataclass(frozen=True, slots=True)
class EarningsCalendar:
    rows: tuple[EarningsRow, ...]
    skipped: tuple[str, ...]  # one reason per CSV row that could not be parsed
    horizon: str
    fetched_at: datetime
    from_cache: bool


def redact_key(text: str, api_key: str) -> str:
    """`text` with the key (as sent, and percent-encoded) replaced by `***`."""
    for form in {api_key, quote(api_key, safe="")}:
        if form:
            text = text.replace(form, "***")
    return text


def raise_for_note(payload: Any, what: str) -> None:
    """Raise the typed error an Alpha Vantage note stands for (no-op for ordinary payloads)."""
    if not isinstance(payload, dict):
        return
    for key in NOTE_KEYS:
        if key in payload:
            text = str(payload[key])
            if key == "Error Message":
                raise AlphaVantageApiError(f"Alpha Vantage refused {what}: {text}")
            if key == "Note" or any(word in text.lower() for word in _RATE_LIMIT_WORDS):
                raise AlphaVantageRateLimitError(
                    f"Alpha Vantage rate limit reached during {what}: {text}"
                )
            raise AlphaVantageApiError(f"Alpha Vantage refused {what}: {text}")


def _optional_float(raw: str | None) -> float | None:
    if raw is None:
        return None
    text = raw.strip()
    if text in ("", "None", "NA", "N/A", "-"):
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return value if value == value else None  # NaN is "unknown", not a number


def _optional_date(raw: str | None) -> date | None:
    text = (raw or "").strip()
    if not text:
        return None
    return date.fromisoformat(text)


def parse_overview(
    text: str, symbol: str, fetched_at: datetime, from_cache: bool
) -> CompanyOverview:
    """OVERVIEW JSON -> CompanyOverview. `{}` means the symbol is unknown to Alpha Vantage."""
    try:
        payload = json.loads(text)
    except json.JSONDecodeError as exc:
        raise AlphaVantageFormatError(f"OVERVIEW {symbol}: body is not JSON ({exc.msg})") from None
    raise_for_note(payload, f"OVERVIEW {symbol}")
    if not isinstance(payload, dict) or not payload:
        raise AlphaVantageUnknownSymbolError(
            f"Alpha Vantage has no company overview for {symbol} (unknown symbol, fund or ETF)"
        )
    reported = str(payload.get("Symbol", symbol)).upper()
    if reported != symbol.upper():
        raise AlphaVantageFormatError(f"OVERVIEW {symbol}: answer is for {reported}")
    market_cap = _optional_float(payload.get("MarketCapitalization"))
    if market_cap is not None and market_cap <= 0:
        market_cap = None
    return CompanyOverview(symbol.upper(), payload.get("Name"), market_cap, fetched_at, from_cache)


def parse_earnings_csv(
    text: str, horizon: str, fetched_at: datetime, from_cache: bool
) -> EarningsCalendar:
    """The EARNINGS_CALENDAR CSV, read by header name (`reportDate` is not column 1, and newer
    answers add `timeOfTheDay`). Rows with a bad date are skipped and reported, not guessed."""
    body = text.strip().lstrip("\ufeff")
    if not body:
        raise AlphaVantageFormatError("EARNINGS_CALENDAR: empty response (no header, no rows)")
    if body.startswith("{"):
        try:
            payload = json.loads(body)
        except json.JSONDecodeError:
            payload = None
        raise_for_note(payload, "EARNINGS_CALENDAR")
        raise AlphaVantageFormatError("EARNINGS_CALENDAR: expected CSV, got JSON")
    reader = csv.DictReader(io.StringIO(body))
    header = [h.strip() for h in (reader.fieldnames or [])]
    if any(column not in header for column in REQUIRED_CALENDAR_COLUMNS):
        _raise_for_csv_note(body)
        raise AlphaVantageFormatError(
            f"EARNINGS_CALENDAR: CSV header {header} lacks {list(REQUIRED_CALENDAR_COLUMNS)}"
        )
    rows: list[EarningsRow] = []
    skipped: list[str] = []
    for line_no, raw in enumerate(reader, start=2):
        record = {(k or "").strip(): (v or "").strip() for k, v in raw.items() if k is not None}
        symbol = record.get("symbol", "").upper()
        try:
            report_date = _optional_date(record.get("reportDate"))
            fiscal = _optional_date(record.get("fiscalDateEnding"))
        except ValueError as exc:
            skipped.append(f"line {line_no} ({symbol or '?'}): {exc}")
            continue
        if not symbol or report_date is None:
            skipped.append(f"line {line_no}: missing symbol or reportDate")
            continue
        rows.append(
            EarningsRow(
                symbol=symbol,
                name=record.get("name") or None,
                report_date=report_date,
                fiscal_date_ending=fiscal,
                estimate=_optional_float(record.get("estimate")),
                currency=record.get("currency") or None,
                time_of_the_day=record.get("timeOfTheDay") or None,
            )
        )
    if not rows:
        raise AlphaVantageFormatError(
            "EARNINGS_CALENDAR: CSV has a header but no usable rows"
            + (f" ({len(skipped)} skipped: {skipped[0]})" if skipped else "")
            + "; refusing to replace the calendar with nothing"
        )
    return EarningsCalendar(tuple(rows), tuple(skipped), horizon, fetched_at, from_cache)


def _raise_for_csv_note(body: str) -> None:
    """A CSV whose rows spell a note, e.g. `Information,Thank you for using Alpha Vantage...`."""
    lowered = body.lower()
    for key in NOTE_KEYS:
        if key.lower() in lowered:
            start = lowered.index(key.lower())
            raise_for_note({key: body[start + len(key) :].strip(" ,:\"'\n{}")}, "EARNINGS_CALENDAR")
    if any(word in lowered for word in _RATE_LIMIT_WORDS):
        raise AlphaVantageRateLimitError(f"Alpha Vantage rate limit note: {body[:200]}")


@dataclass
class AlphaVantageClient:
    """HTTP + file cache. One instance per run; `requests` does the I/O (a test stands in a local
    HTTP server for Alpha Vantage by changing `base_url`)."""

    api_key: str
    base_url: str
    cache_dir: Path
    overview_cache_seconds: float = 7 * 86_400
    earnings_cache_seconds: float = 86_400
    timeout_seconds: float = 20.0

    def _get(self, params: dict[str, str]) -> str:
        """The body of one request, with the key taken out of it.

        The key travels in the query string (Alpha Vantage takes it nowhere else), so neither a
        requests exception (its text carries the URL) nor an answer that echoes the request may
        reach a message: the error is raised outside the handler, so it has no `__context__`
        holding the URL, and the body is redacted before it is parsed, cached or quoted in an
        error note (which lands in logs, Dagster's event log and `symbol_profiles.note`).
        """
        query = {**params, "apikey": self.api_key}
        what = params.get("function", "request")
        failure: str | None = None
        try:
            response = requests.get(self.base_url, params=query, timeout=self.timeout_seconds)
        except requests.RequestException as exc:
            failure = type(exc).__name__
        if failure is not None:
            raise AlphaVantageError(f"{what}: cannot reach Alpha Vantage ({failure})")
        if response.status_code == 429:
            raise AlphaVantageRateLimitError(f"{what}: HTTP 429 from Alpha Vantage")
        if response.status_code != 200:
            raise AlphaVantageError(f"{what}: HTTP {response.status_code} from Alpha Vantage")
        return redact_key(response.text, self.api_key)

    # --- cache ------------------------------------------------------------------------------
    def _cache_path(self, name: str) -> Path:
        return self.cache_dir / name

    def _read_cache(
        self, path: Path, max_age: float, *, allow_stale: bool = False
    ) -> tuple[str, datetime] | None:
        if not path.exists():
            return None
        mtime = path.stat().st_mtime
        if not allow_stale and time.time() - mtime > max_age:
            return None
        return path.read_text(encoding="utf-8"), datetime.fromtimestamp(mtime, UTC)

    def _write_cache(self, path: Path, text: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)

    # --- endpoints --------------------------------------------------------------------------
    def overview(self, symbol: str) -> CompanyOverview:
        """Company overview, from the cache when younger than `overview_cache_seconds`."""
        symbol = symbol.upper()
        path = self._cache_path(f"overview/{symbol}.json")
        cached = self._read_cache(path, self.overview_cache_seconds)
        if cached is not None:
            return parse_overview(cached[0], symbol, cached[1], from_cache=True)
        text = self._get({"function": "OVERVIEW", "symbol": symbol})
        fetched_at = datetime.now(UTC)
        overview = parse_overview(text, symbol, fetched_at, from_cache=False)  # raises on notes
        self._write_cache(path, text)
        return overview

    def stale_overview(self, symbol: str) -> CompanyOverview | None:
        """The cached overview whatever its age (used when the budget is spent)."""
        path = self._cache_path(f"overview/{symbol.upper()}.json")
        cached = self._read_cache(path, 0, allow_stale=True)
        if cached is None:
            return None
        return parse_overview(cached[0], symbol.upper(), cached[1], from_cache=True)

    def earnings_calendar(self, horizon: str) -> EarningsCalendar:
        """The whole market's calendar: one request without `symbol`, cached for a day."""
        path = self._cache_path(f"earnings_calendar_{horizon}.csv")
        cached = self._read_cache(path, self.earnings_cache_seconds)
        if cached is not None:
            return parse_earnings_csv(cached[0], horizon, cached[1], from_cache=True)
        text = self._get({"function": "EARNINGS_CALENDAR", "horizon": horizon})
        calendar = parse_earnings_csv(text, horizon, datetime.now(UTC), from_cache=False)
        self._write_cache(path, text)
        return calendar

    def stale_earnings_calendar(self, horizon: str) -> EarningsCalendar | None:
        path = self._cache_path(f"earnings_calendar_{horizon}.csv")
        cached = self._read_cache(path, 0, allow_stale=True)
        if cached is None:
            return None
        return parse_earnings_csv(cached[0], horizon, cached[1], from_cache=True)
