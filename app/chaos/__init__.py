"""The chaos run: the worker, Redis and the broker are broken on purpose while a scripted market
plays, then the promises are checked against the broker's book, the streams and the history.

`run_chaos(profile, workdir)` (`app.chaos.run`) is what `position-manager chaos`,
`benchmarks/chaos.py` and the CI test (`tests/app/test_chaos.py`) call.
"""
