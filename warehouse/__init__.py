"""The DuckDB warehouse: versioned schema, views, and the one module that knows table names.

Open it with `warehouse.connection.connect` / `open_warehouse` (migrates, clear lock errors);
refer to tables through `warehouse.tables`.
"""
