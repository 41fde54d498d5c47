"""The README is the user's manual: every setting documented, the two commands present."""

from pathlib import Path

from position_manager.config import Settings

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def test_every_setting_is_in_the_configuration_table() -> None:
    missing = [name.upper() for name in Settings.model_fields if f"`{name.upper()}" not in README]
    assert missing == []


def test_the_two_commands_and_ci_agree() -> None:
    assert "./scripts/run.sh" in README and "./scripts/test.sh" in README
    ci = (Path(__file__).resolve().parent.parent / ".ci" / "run").read_text()
    assert "scripts/test.sh" in ci
