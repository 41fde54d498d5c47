"""The position rules: pure functions over plain dataclasses, no I/O.

The worker, the Dagster jobs, the simulator and the tests all call these, so a decision is made
the same way everywhere. Rules return decisions (place / replace / cancel / exit, with quantities,
prices and deterministic client order ids); they never call a broker.
"""
