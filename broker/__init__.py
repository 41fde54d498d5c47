"""Broker access: the alpaca-py adapter and its typed errors (the local Alpaca simulator it can
talk to is the top-level `simulator` package)."""
