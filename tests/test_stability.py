"""The stability check: known answers on hand-built rules (a still cell, an exploding grower, a
drifting identity), the gates, the card section and the command."""

import math

import numpy as np
import pytest

from nca_world.agents.modelfile import save_rule
from nca_world.agents.spec import Rule, RuleSpec
from nca_world.sim import stability
from nca_world.sim.cli import main

SIZE = 8


def still_cell(variant: str = "B", identity_drift: float = 0.0, alpha_growth: float = 0.0) -> Rule:
    """A rule whose update is the constant ``b2``: zero keeps the seed cell exactly as it is.

    The target is that seed cell as RGBA (RGB 0, alpha 1) at the training seed position.
    """
    spec = RuleSpec(channels=6, hidden=4, identity_channels=1)
    b2 = np.zeros(6, np.float32)
    b2[5] = identity_drift  # the identity channel moves by this much each time a cell fires
    b2[3] = alpha_growth  # alpha grows: neighbours come alive, the organism spreads
    target = np.zeros((SIZE, SIZE, 4), np.float32)
    target[SIZE // 2, SIZE // 2, 3] = 1.0
    return Rule(spec, np.zeros((18, 4), np.float32), np.zeros(4, np.float32), np.zeros((4, 6), np.float32), b2,
                target=target, provenance={"config": {"train": {"variant": variant}}})


def test_a_still_cell_passes_with_exact_known_measures():
    growth = stability.grow_alone(still_cell(), [1.0], steps=300, seeds=(0, 1), supervised=True)
    assert growth.marks == [100, 200]
    assert growth.mse == [0.0, 0.0]
    assert growth.area == [1.0, 1.0] and growth.outside == [0.0, 0.0]
    assert growth.identity_mean == [1.0, 1.0]
    assert growth.passed


def test_an_exploding_organism_fails_on_area_and_cells_outside_its_window():
    growth = stability.grow_alone(still_cell(alpha_growth=0.5), [1.0], steps=200, seeds=(0,), supervised=True)
    # the grower fills the whole 16x16 grid: 256 living cells for a 1-cell silhouette
    assert growth.area[-1] == 256.0 and growth.outside[-1] == 256 - SIZE * SIZE
    assert any("area 256.00x the target" in f for f in growth.failures)
    assert not growth.passed


def test_a_drifting_identity_fails_where_it_is_supervised_only():
    rule = still_cell(identity_drift=-0.002)
    drifting = stability.grow_alone(rule, [1.0], steps=500, seeds=(0, 1, 2), supervised=True)
    # fire rate 0.5: after 500 steps the cell has fired ~250 times, so identity ~ 1 - 0.5 ± 0.05
    assert drifting.identity_mean[-1] == pytest.approx(0.5, abs=0.05)
    assert any("identity mean" in f for f in drifting.failures)
    assert drifting.mse[-1] == 0.0  # RGBA is untouched: only the identity gate sees it
    unsupervised = stability.grow_alone(rule, [1.0], steps=500, seeds=(0,), supervised=False)
    assert unsupervised.passed


def test_identities_come_from_the_training_config():
    assert stability.supported_identities(still_cell("C")) == ([[0.0], [0.5], [1.0]], True)
    assert stability.supported_identities(still_cell("B")) == ([[1.0]], True)
    assert stability.supported_identities(still_cell("A")) == ([[1.0]], False)


def test_gates_are_inclusive_at_their_edges():
    growth = stability.Growth([1.0], [100, 200], [0.5, 0.01], [9.0, 1.33], [0, 0], [0.0, 0.9], True)
    assert stability.judge(growth, stability.Gates()) == []  # step 100 is before gate_from
    growth.mse[1], growth.area[1], growth.identity_mean[1] = 0.0101, 0.74, 0.89
    assert len(stability.judge(growth, stability.Gates())) == 3
    growth.mse[1] = math.nan
    assert any("MSE nan" in f for f in stability.judge(growth, stability.Gates()))


def test_the_command_prints_pass_and_fail_and_writes_the_card(tmp_path, capsys):
    save_rule(still_cell(), tmp_path / "still.h5")
    save_rule(still_cell(identity_drift=-0.01), tmp_path / "drift.h5")
    (tmp_path / "still.md").write_text("# still\n\nintro\n\n## Stability check: FAIL\n\nold\n\n## Other\n\nkept\n")
    code = main(["models", "--stability", "--steps", "250", "--seeds", "1", "--card",
                 str(tmp_path / "still.h5"), str(tmp_path / "drift.h5")])
    out = capsys.readouterr().out
    assert code == 1  # one model fails: a gate for scripts
    assert "| [1.0] | 0.0000 | 0.0000 | 1.00 | 0 | 1.000 | PASS |" in out
    assert "stability: 1 of 2 model(s) pass; failing: " in out and "drift.h5" in out
    card = (tmp_path / "still.md").read_text()
    assert "## Stability check: PASS" in card and "old" not in card
    assert card.startswith("# still\n\nintro\n") and card.rstrip().endswith("## Other\n\nkept")
    assert "## Stability check: FAIL" in (tmp_path / "drift.md").read_text()


def test_library_names_are_checked_and_a_pass_exits_0(tmp_path, capsys, monkeypatch):
    save_rule(still_cell(), tmp_path / "still.h5")
    monkeypatch.setenv("NCA_WORLD_MODEL_PATH", str(tmp_path))
    monkeypatch.chdir(tmp_path.parent)
    assert main(["models", "--stability", "--steps", "250", "--seeds", "1", "still"]) == 0
    assert "stability: 1 of 1 model(s) pass" in capsys.readouterr().out


def test_out_of_range_arguments_are_refused(tmp_path, capsys):
    save_rule(still_cell(), tmp_path / "still.h5")
    with pytest.raises(SystemExit) as caught:
        main(["models", "--stability", "--steps", "-5", str(tmp_path / "still.h5")])
    assert caught.value.code == 2 and "expected an integer in 1..1000000, got -5" in capsys.readouterr().err


def test_regenerating_a_zoo_card_keeps_its_stability_section():
    from nca_world.sim.zoo import keep_stability_section

    old = "# m\n\nold body\n\n## Stability check: FAIL\n\n| t |\n"
    assert keep_stability_section(old, "# m\n\nnew body\n") == "# m\n\nnew body\n\n## Stability check: FAIL\n\n| t |\n"
    assert keep_stability_section("# m\n", "# m\n\nnew\n") == "# m\n\nnew\n"
