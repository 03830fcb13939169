"""Every bundled model grows, stays, and regrows with the numba core, within its card's bounds."""

import numpy as np
import pytest

from nca_world.agents.modelfile import load_rule
from nca_world.sim.zoo import ZOO, check_entry, entries, replicate_card, replicates


@pytest.mark.parametrize("name", sorted(entries()))
def test_zoo_model_grows_stays_and_regrows(name):
    entry = entries()[name]
    assert (ZOO / entry["file"]).is_file()
    for identity, result in check_entry(name):
        where = f"{name} identity {identity}: {result}"
        assert result.grown_mse <= entry["mse_bound"], where
        assert result.late_mse <= entry["mse_bound"], where
        assert 0.5 <= result.alive_late / result.alive_grown <= 2.0, where
        assert result.regrown_mse <= entry["regrow_bound"], where


def test_a_replicate_card_says_how_far_its_training_got():
    assert {"gecko-A-s1", "gecko-C-s2"} <= set(replicates())
    rule = load_rule(ZOO / "gecko-A-s1.h5")
    text = replicate_card("gecko-A-s1")
    done, planned = rule.provenance["iterations"], rule.provenance["config"]["train"]["iterations"]
    assert f"**unfinished**: {done} of {planned} iterations" in text or done >= planned
    assert f"loss of the last 20 iterations {np.mean(rule.provenance['loss_curve'][-20:]):.4f}" in text
    assert "## Stability check" not in text  # added by models --stability --card, kept on regeneration
    assert ("**Continue it**" in text) == (done < planned) and ("**Train longer**" in text) == (done >= planned)
