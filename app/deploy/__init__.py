"""Files shipped with the package for the Dagster instance (`dagster.yaml`): package data, so a
non-editable install (`pip install .`, a wheel) can run `position-manager ui` anywhere."""
