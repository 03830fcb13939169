"""Variant effects across training replicates: claimed only when every replicate pair differs
significantly in one direction (hand-made comparisons and breakdown tests)."""

import pytest

from nca_world.sim.replicates import ReplicateError, parse_replicates, replicate_section
from nca_world.sim.stats import Comparison, FisherResult

GROUPS = ["A1", "A2", "B1", "B2"]


def comparisons(a_of: dict[tuple[str, str], tuple[float, bool]]) -> list[Comparison]:
    """Comparisons first vs second with Vargha-Delaney A and significance as given; others A = 0.5."""
    out = []
    for i, first in enumerate(GROUPS):
        for second in GROUPS[i + 1:]:
            a, significant = a_of.get((first, second), (0.5, False))
            out.append(Comparison(first, second, u=0.0, p=0.001 if significant else 0.5, a=a, significant=significant))
    return out


def fisher(rates: dict[str, int], p: dict[tuple[str, str], float]) -> list[FisherResult]:
    out = []
    for i, first in enumerate(GROUPS):
        for second in GROUPS[i + 1:]:
            chance = p.get((first, second), 0.9)
            out.append(FisherResult(first, second, rates[first], 100, rates[second], 100, 1.0, chance))
    return out


def row(lines: list[str], measure: str) -> str:
    return next(line for line in lines if line.startswith("| A vs B |") and f"| {measure} |" in line)


VARIANTS = {"A": ["A1", "A2"], "B": ["B1", "B2"]}


def test_an_effect_every_replicate_pair_shows_is_claimed_with_its_direction():
    # A tends smaller than B in all four pairs (B1 listed second in every comparison with an A)
    every = {(a, b): (0.2, True) for a in ("A1", "A2") for b in ("B1", "B2")}
    lines = replicate_section(VARIANTS, comparisons(every), [], "ideal_mse_range")
    assert row(lines, "`ideal_mse_range`").endswith("| yes: A tends smaller |")
    assert "A1/B1 0.20*" in row(lines, "`ideal_mse_range`")


@pytest.mark.parametrize("spoiler", [(("A2", "B2"), (0.2, False)), (("A2", "B2"), (0.8, True))],
                         ids=["one pair not significant", "one pair the other way"])
def test_an_effect_one_replicate_pair_lacks_is_not_claimed(spoiler):
    every = {(a, b): (0.2, True) for a in ("A1", "A2") for b in ("B1", "B2")}
    every[spoiler[0]] = spoiler[1]
    lines = replicate_section(VARIANTS, comparisons(every), [], "ideal_mse_range")
    assert row(lines, "`ideal_mse_range`").endswith("| no |")


def test_breakdowns_are_claimed_only_below_the_bonferroni_threshold_in_every_pair():
    rates = {"A1": 30, "A2": 32, "B1": 10, "B2": 12}
    low = {(a, b): 0.001 for a in ("A1", "A2") for b in ("B1", "B2")}  # 0.001 < 0.05 / 6
    lines = replicate_section(VARIANTS, comparisons({}), fisher(rates, low), "m")
    assert row(lines, "breakdowns").endswith("| yes: A breaks down more |")
    low[("A2", "B2")] = 0.02  # significant alone, not after Bonferroni over 6 tests
    lines = replicate_section(VARIANTS, comparisons({}), fisher(rates, low), "m")
    assert row(lines, "breakdowns").endswith("| no |")


def test_replicates_of_one_variant_are_compared_with_each_other():
    lines = replicate_section(VARIANTS, comparisons({("A1", "A2"): (0.9, True)}), [], "m")
    assert "| A | A1 vs A2 | 0.90 | yes |" in lines and "| B | B1 vs B2 | 0.50 | no |" in lines


@pytest.mark.parametrize("entries, said", [
    (["A=A1,A2", "B=B1,B3"], "B3"), (["A=A1,A2"], "at least two variants"), (["A=A1,A2", "B=A2,B1"], "two variants"),
    (["A1,A2"], "VARIANT=GROUP"), (["A=", "B=B1"], "VARIANT=GROUP")])
def test_malformed_replicates_are_refused_with_the_entry(entries, said):
    with pytest.raises(ReplicateError, match=said):
        parse_replicates(entries, GROUPS)


def test_the_report_command_adds_the_section_and_refuses_an_unknown_group(tmp_path, capsys):
    from nca_world.sim.cli import main
    from tests.test_report import sweep_folder

    sweep = sweep_folder(tmp_path)  # model A's scores are all below B's (U = 0, significant)
    assert main(["report", str(sweep), "--replicates", "X=A", "--replicates", "Y=B"]) == 0
    report = (sweep / "report.md").read_text()
    assert "| X vs Y | `score` | A/B 0.00* | yes: X tends smaller |" in report
    assert "| X vs Y | breakdowns | A/B 0.50 vs 0.00 (p 0.18) | no |" in report
    capsys.readouterr()
    assert main(["report", str(sweep), "--replicates", "X=A", "--replicates", "Y=C"]) == 2
    assert "--replicates: expected groups among ['A', 'B'], got ['C']" in capsys.readouterr().err
