"""A local HTTP stand-in for Alpha Vantage: real sockets, real `requests`, scripted answers."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse


@dataclass
class Answer:
    body: str
    status: int = 200
    content_type: str = "application/json"


@dataclass
class AlphaVantageStandIn:
    """Answers keyed by `FUNCTION` or `FUNCTION:SYMBOL`; records every query it receives."""

    answers: dict[str, Answer] = field(default_factory=dict)
    requests: list[dict[str, str]] = field(default_factory=list)
    url: str = ""

    def answer(self, key: str, body: str, *, status: int = 200, csv: bool = False) -> None:
        self.answers[key] = Answer(body, status, "text/csv" if csv else "application/json")

    def calls(self, function: str) -> list[dict[str, str]]:
        return [q for q in self.requests if q.get("function") == function]


@contextmanager
def serve_alpha_vantage() -> Iterator[AlphaVantageStandIn]:
    state = AlphaVantageStandIn()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            query = {k: v[0] for k, v in parse_qs(urlparse(self.path).query).items()}
            state.requests.append(query)
            function = query.get("function", "")
            symbol = query.get("symbol")
            answer = state.answers.get(f"{function}:{symbol}") or state.answers.get(function)
            if answer is None:
                answer = Answer("{}")
            payload = answer.body.encode()
            self.send_response(answer.status)
            self.send_header("Content-Type", answer.content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/query"
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


# Answers as Alpha Vantage spells them.
RATE_LIMIT_INFORMATION = (
    '{"Information": "We have detected your API key as XYZ and our standard API rate limit is '
    '25 requests per day. Please subscribe to any of the premium plans."}'
)
RATE_LIMIT_NOTE = (
    '{"Note": "Thank you for using Alpha Vantage! Our standard API call frequency is 5 calls per '
    'minute and 500 calls per day."}'
)
ERROR_MESSAGE = '{"Error Message": "Invalid API call. Please retry or visit the documentation."}'
CSV_SPELLING_THE_NOTE = (
    "{\n"
    '    "Information": "Thank you for using Alpha Vantage! Our standard API rate limit is 25 '
    'requests per day."\n'
    "}\n"
)
CSV_ROWS_SPELLING_THE_NOTE = (
    "Information,Thank you for using Alpha Vantage! Our standard API rate limit is 25 requests "
    "per day.\n"
)
# reportDate is column 3, not 1; the newer timeOfTheDay column is present.
EARNINGS_CSV = (
    "symbol,name,reportDate,fiscalDateEnding,estimate,currency,timeOfTheDay\r\n"
    "AAPL,Apple Inc,{aapl},2025-03-31,1.62,USD,post-market\r\n"
    "SNDL,SNDL Inc,{sndl},2025-03-31,,USD,pre-market\r\n"
    "ZZZZ,Bad Date Corp,not-a-date,2025-03-31,0.1,USD,\r\n"
    "MSFT,Microsoft Corp,{msft},2025-03-31,3.22,USD,post-market\r\n"
)
# An older answer, without timeOfTheDay.
EARNINGS_CSV_OLD = (
    "symbol,name,reportDate,fiscalDateEnding,estimate,currency\n"
    "AAPL,Apple Inc,2025-05-01,2025-03-31,1.62,USD\n"
)


def overview_json(symbol: str, market_cap: str, name: str = "Some Corp") -> str:
    return (
        f'{{"Symbol": "{symbol}", "AssetType": "Common Stock", "Name": "{name}", '
        f'"MarketCapitalization": "{market_cap}", "Exchange": "NASDAQ"}}'
    )
