"""The configuration reference is generated from the validating models and is kept current."""

from nca_world.sim import config_reference


def test_the_committed_reference_is_current():
    assert config_reference.OUT.read_text(encoding="utf-8") == config_reference.reference(), \
        "docs/config-reference.md is stale: run `python -m nca_world.sim.config_reference`"


def test_the_reference_lists_keys_defaults_and_limits():
    text = config_reference.reference()
    assert "| `identity_weights` | list[float] | `[0.25, 0.5, 0.25]` |  |" in text
    assert "| `height` | int | *required* | >= 1, <= 8192 |" in text
    assert '### kind = "cut_circle"' in text and "| `radius` | float | *required* | > 0 |" in text
    assert '### kind = "remove"\n\nNo keys of its own.' in text
