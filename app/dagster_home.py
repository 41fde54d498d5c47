"""The Dagster instance directory `position-manager ui` runs in: its `dagster.yaml` (package
data, `app/deploy/dagster.yaml`) and a `workspace.yaml` written for the installed code location.

Nothing here reads the source tree: an installed wheel has no `deploy/` folder and no
repository-root `workspace.yaml` (the one there is for `dagster dev -w workspace.yaml` from a
checkout). The generated workspace names the code location by module (`pipelines.definitions`),
which imports wherever the package is installed.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Final

CODE_LOCATION_MODULE: Final = "pipelines.definitions"
CODE_LOCATION_ATTRIBUTE: Final = "defs"

WORKSPACE_YAML: Final = f"""# Written by `position-manager ui` (app/dagster_home.py): the code
# location by module, wherever the package is installed.
load_from:
  - python_module:
      module_name: {CODE_LOCATION_MODULE}
      attribute: {CODE_LOCATION_ATTRIBUTE}
"""


def instance_settings() -> str:
    """The shipped `dagster.yaml` (the `duckdb` pool limit, run retries, no telemetry)."""
    return resources.files("app.deploy").joinpath("dagster.yaml").read_text(encoding="utf-8")


def prepare_dagster_home(home: Path) -> Path:
    """Write `dagster.yaml` and `workspace.yaml` into `home` (created); returns the workspace
    file to hand to `dagster dev -w`. Both are rewritten on every start, so an upgrade of the
    package takes effect at the next `ui`."""
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text(instance_settings(), encoding="utf-8")
    workspace = home / "workspace.yaml"
    workspace.write_text(WORKSPACE_YAML, encoding="utf-8")
    return workspace
