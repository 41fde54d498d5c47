"""Fixtures for the pipeline tests: a local Alpha Vantage stand-in."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.pipelines.av_standin import AlphaVantageStandIn, serve_alpha_vantage


@pytest.fixture
def alpha_vantage() -> Iterator[AlphaVantageStandIn]:
    with serve_alpha_vantage() as stand_in:
        yield stand_in
