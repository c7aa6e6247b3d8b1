"""profile.yaml ``memory:`` and ``MOCO_MEMORY``."""

from __future__ import annotations

import pytest

from moco.errors import ConfigError
from moco.memory.settings import OFF, MemorySettings, memory_settings


def test_memory_is_on_by_default() -> None:
    assert memory_settings({}, {}) == MemorySettings()
    assert memory_settings({"memory": True}, {}).enabled


def test_memory_false_switches_everything_off() -> None:
    assert memory_settings({"memory": False}, {}) == OFF
    assert not OFF.enabled and not OFF.tools


def test_a_mapping_sets_each_part() -> None:
    settings = memory_settings({"memory": {"learn": False, "recall": True, "model": " mini ",
                                           "top_k": 3, "min_similarity": 0.5,
                                           "scope": "profile"}}, {})
    assert settings == MemorySettings(recall=True, learn=False, model="mini", top_k=3,
                                      min_similarity=0.5, scope="profile")


def test_moco_memory_off_wins_over_the_profile(monkeypatch: pytest.MonkeyPatch) -> None:
    assert memory_settings({"memory": {"learn": True}}, {"MOCO_MEMORY": "off"}) == OFF
    monkeypatch.setenv("MOCO_MEMORY", "0")
    assert memory_settings({}, {}) == OFF  # the process environment, when the run's is silent
    assert memory_settings({}, {"MOCO_MEMORY": "on"}).enabled  # the run's own says on


@pytest.mark.parametrize(("value", "message"), [
    ({"lern": False}, "unknown keys lern — known: learn, min_similarity"),
    ({"learn": "no"}, "learn must be true or false"),
    ({"top_k": 0}, "top_k must be a whole number from 1 to 50"),
    ({"min_similarity": 2}, "min_similarity must be a number from 0 to 1"),
    ({"scope": "world"}, "scope must be project or profile"),
    ({"model": 3}, "model must be a model name"),
    ("sometimes", "must be true, false or a mapping"),
])
def test_mistakes_are_one_line(value: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as raised:
        memory_settings({"memory": value}, {})
    assert "\n" not in str(raised.value) and str(raised.value).startswith("profile.yaml memory:")


def test_an_unknown_switch_value() -> None:
    with pytest.raises(ConfigError, match="MOCO_MEMORY=maybe: write on or off"):
        memory_settings({}, {"MOCO_MEMORY": "maybe"})
