"""Shared computation with no Dagster in it: ATR, OHLC checks, symbol profiles, the Alpha Vantage
client and the risk parameter arithmetic. The assets call these; tests and benchmarks use them
directly."""
