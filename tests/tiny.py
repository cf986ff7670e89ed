"""The one tiny shop every test that runs a scenario starts from: a run takes about 0.1 s.

``TINY`` is the scenario; a test that needs more rounds or another size
derives it with ``dataclasses.replace``. ``flags`` spells a scenario as
``fedarena run`` flags and ``toml`` as scenario-file lines, so CLI and matrix
tests describe the same shop.
"""

from __future__ import annotations

from dataclasses import fields

from fedarena.scenario.spec import Scenario

TINY = Scenario(
    rounds=2,
    shoppers=60,
    clients_per_round=10,
    items=300,
    dim=8,
    local_epochs=1,
    baselines=False,
)


def _changed(scenario: Scenario) -> dict[str, object]:
    default = Scenario()
    return {
        f.name: getattr(scenario, f.name)
        for f in fields(Scenario)
        if getattr(scenario, f.name) != getattr(default, f.name)
    }


def flags(scenario: Scenario = TINY) -> list[str]:
    """``scenario`` as ``fedarena run`` flags (only the fields that differ from the defaults)."""
    words: list[str] = []
    for name, value in _changed(scenario).items():
        flag = "--" + name.replace("_", "-")
        if isinstance(value, bool):
            words.append(flag if value else f"--no-{flag[2:]}")
        else:
            words += [flag, str(value)]
    return words


def toml(scenario: Scenario = TINY) -> str:
    """``scenario`` as the lines of a scenario file (the fields that differ from the defaults)."""
    lines = []
    for name, value in _changed(scenario).items():
        if isinstance(value, bool):
            lines.append(f"{name} = {str(value).lower()}")
        elif isinstance(value, int | float):
            lines.append(f"{name} = {value}")
        else:
            lines.append(f'{name} = "{value}"')
    return "\n".join(lines) + "\n"
