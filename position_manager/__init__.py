"""position-manager: shared plumbing (settings, errors, events, local Redis, logging, CLI)."""
