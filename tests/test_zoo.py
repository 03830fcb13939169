"""Every bundled model grows, stays, and regrows with the numba core, within its card's bounds."""

import pytest

from nca_world.sim.zoo import ZOO, check_entry, entries


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
