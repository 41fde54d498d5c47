"""The streaming worker host: composition root, consumer, dispatch, housekeeping, the Alpaca
bridges and the session publisher. The position service it hosts is `book`."""
