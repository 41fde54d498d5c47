"""Broker access: the alpaca-py adapter, its typed errors, and the local Alpaca simulator."""
