"""The position service: the book, its state store, order execution under leases, recovery
and reconciliation. The streaming worker and the Dagster jobs are its two hosts."""
