"""What-if on stop settings: `stop_policy_comparison`, one partition per named settings set."""

from pipelines.whatif.sets import load_sets
from pipelines.whatif.stop_policy import build_stop_policy_asset

ASSETS = [build_stop_policy_asset(load_sets())]
