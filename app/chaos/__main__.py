"""`python -m app.chaos [options]`: the same as `position-manager chaos [options]`."""

import sys

from app.cli import app

if __name__ == "__main__":
    app(["chaos", *sys.argv[1:]])
