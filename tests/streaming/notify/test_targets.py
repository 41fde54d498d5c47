"""An apprise URL is a credential: labels name a target without its secrets, and apprise's own
log records (it logs an unparseable URL whole, and tokens at DEBUG/TRACE) are redacted."""

from __future__ import annotations

import logging

import apprise
import pytest

from streaming.notify.notice import cause_of
from streaming.notify.targets import build_targets, secret_parts, target_label

SLACK = "slack://TOKENaaaa1111/TOKENbbbb2222/TOKENcccc3333"
TELEGRAM = "tgram://123456789:AAbbCCddEEff0011/-1001234"
MAIL = "mailtos://pm:p%40ss%2Fword99@smtp.example.com?to=me@example.com"


@pytest.mark.parametrize(
    ("url", "label"),
    [
        ("json://127.0.0.1:8080/hook/T0ken1234", "#1 json://127.0.0.1:8080"),
        ("jsons://u:pw99x@hooks.example.com/x/y", "#1 jsons://hooks.example.com"),
        (SLACK, "#1 slack://***"),
        (TELEGRAM, "#1 tgram://***"),
        (MAIL, "#1 mailtos://***"),
    ],
)
def test_a_label_names_the_target_without_its_secrets(url: str, label: str) -> None:
    assert target_label(url, 1) == label


def test_secret_parts_cover_tokens_user_info_and_decoded_passwords() -> None:
    assert {"TOKENaaaa1111", "TOKENbbbb2222", "TOKENcccc3333"} <= secret_parts(SLACK)
    assert {"123456789", "AAbbCCddEEff0011", "-1001234"} <= secret_parts(TELEGRAM)
    assert {"p%40ss%2Fword99", "p@ss/word99", "me@example.com"} <= secret_parts(MAIL)
    assert "127.0.0.1" not in secret_parts("json://127.0.0.1:8080/hook/T0ken1234")


def test_apprise_records_are_redacted_even_an_unparseable_url(
    caplog: pytest.LogCaptureFixture,
) -> None:
    bad = "bogus://BOGUSsecret9876/x"
    caplog.set_level(logging.DEBUG)
    targets = build_targets((bad, SLACK))
    assert [t.label for t in targets] == ["#2 slack://***"]
    logging.getLogger("apprise").error("Unparseable URL %s", bad)  # what apprise does with it
    logging.getLogger("apprise").warning("token TOKENbbbb2222 and %s", "TOKENcccc3333")
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "***" in text and "not understood by apprise" in text
    for secret in ("BOGUSsecret9876", "TOKENaaaa1111", "TOKENbbbb2222", "TOKENcccc3333"):
        assert secret not in text
    assert logging.getLogger("apprise").getEffectiveLevel() >= logging.WARNING


def test_apprise_understands_the_documented_examples() -> None:
    for url in (SLACK, TELEGRAM, MAIL, "json://127.0.0.1:8080/hook", "jsons://example.com/x"):
        assert apprise.Apprise().add(url), url


@pytest.mark.parametrize(
    ("one", "two", "same"),
    [
        (
            "AAPL is -15.3% from entry (alert at -15%)",
            "AAPL is -16.1% from entry (alert at -15%)",
            True,
        ),
        ("no price update for 301s (limit 300s)", "no price update for 999s (limit 300s)", True),
        ("AAPL (50 shares) has no stop order", "AAPL: 0.25 of 50.25 shares have no stop", False),
        ("streaming worker heartbeat is missing", "streaming worker heartbeat is 45s old", False),
    ],
)
def test_the_cause_is_the_message_without_its_numbers(one: str, two: str, same: bool) -> None:
    assert (cause_of({"message": one}) == cause_of({"message": two})) is same


def test_an_explicit_cause_wins_over_the_message() -> None:
    assert cause_of({"cause": "no_atr", "message": "AAPL 12"}) == "no_atr"
