"""`position-manager replay`: the book replayed through the live worker on a simulated clock.

`feed` turns the warehouse's bars into the prices to play, `start_book` finds the book as it
stood when the replay starts, `risk_as_of` sizes stops from the bars before each day, `lockstep`
drives the real worker, engine and rules against an in-process simulator one moment at a time,
`record` writes the run into the warehouse under its run id and `metrics` scores it; `run` ties
them together. See the README's "Replay and what-if".
"""
