"""The stability check: does a model's organism, grown alone, stay what it was trained to be?

Each identity value the model supports is grown from one seed at the centre of a grid `scale`
times its training size, for `steps` steps, with several fire seeds (world seeds). At each mark
it measures, averaged over the fire seeds:

- **mse**: RGBA mean squared error against the target, over the training window (the target's
  own ``S x S`` square, centred on the seed), so that it is comparable to the training loss;
- **area**: living cells (alpha > the alive threshold) over the target's silhouette cells;
- **outside**: living cells outside that window (growth the target does not have);
- **identity**: the mean identity channel over living cells (learned identities only).

Gates (README, "Stability check"): MSE <= `mse_gate` at every mark from `gate_from` on, area
within `area_gate` at every such mark, and, where the identity is supervised (variants B and C),
the identity mean within `identity_gate` of the seed's value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from nca_world.agents.spec import Rule
from nca_world.sim.world import World

MARKS = (100, 200, 500, 1000, 2000)


@dataclass(frozen=True)
class Gates:
    """The pass/fail thresholds of the check."""

    mse_gate: float = 0.01
    area_gate: tuple[float, float] = (0.75, 1.33)
    identity_gate: float = 0.1
    gate_from: int = 200


@dataclass
class Growth:
    """One identity's measures at each mark, each the mean over the fire seeds."""

    identity: list[float]
    marks: list[int]
    mse: list[float]
    area: list[float]
    outside: list[float]
    identity_mean: list[float]  # NaN where the rule has no learned identity or nothing lives
    supervised: bool
    failures: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """Whether every gate held."""
        return not self.failures


def supported_identities(rule: Rule) -> tuple[list[list[float]], bool]:
    """The identity values a model was trained with, and whether training supervised them.

    From the model's provenance (its training config): variant C's `identity_values`, one
    one-hot per class for conditional rules, 1.0 for A and B, none for plain rules.
    """
    k = rule.spec.identity_channels
    recipe = (rule.provenance or {}).get("config", {}).get("train", {})
    variant = recipe.get("variant", (rule.provenance or {}).get("variant"))
    if k == 0:
        return [[]], False
    if variant == "C":
        return [[float(v)] for v in recipe.get("identity_values", [0.0, 0.5, 1.0])], True
    if variant == "conditional" or rule.spec.identity_mode == "frozen":
        return [list(row) for row in np.eye(k).tolist()], False
    return [[1.0] * k], variant == "B"


def training_target(rule: Rule, identity: list[float]) -> np.ndarray:
    """The RGBA target ``(S, S, 4)`` of `identity` (conditional rules keep one per class)."""
    if rule.target is None:
        raise ValueError("the model file stores no target")
    if rule.target.ndim == 3:
        return rule.target
    return rule.target[int(np.argmax(identity))]


def grow_alone(rule: Rule, identity: list[float], *, steps: int = 2000, marks: tuple[int, ...] = MARKS,
               seeds: tuple[int, ...] = (0, 1, 2), scale: int = 2, supervised: bool = False,
               gates: Gates | None = None) -> Growth:
    """Grow one organism of `rule` alone and measure it at `marks` (see the module docstring)."""
    gates = gates or Gates()
    target = training_target(rule, identity)
    size = target.shape[0]
    side = scale * size
    top = (side - size) // 2  # the window; the seed sits where training put it within the window
    window = (slice(top, top + size), slice(top, top + size))
    silhouette = target[..., 3] > rule.spec.alive_threshold
    marks = tuple(m for m in marks if m <= steps)
    k = rule.spec.identity_channels
    learned = k > 0 and rule.spec.identity_mode == "learned"
    sums = np.zeros((4, len(marks)))
    for seed in seeds:
        world = World(side, side, species={"model": rule}, seed=seed)
        world.spawn("alone", "model", (top + size // 2, top + size // 2), identity=identity or None)
        for column, mark in enumerate(marks):
            world.step(mark - world.step_count)
            rgba = np.clip(world.rgba, 0.0, 1.0)
            alive = world.alpha > rule.spec.alive_threshold
            inside = np.zeros_like(alive)
            inside[window] = True
            sums[0, column] += float(np.mean((rgba[window] - target) ** 2))
            sums[1, column] += alive.sum() / max(1, silhouette.sum())
            sums[2, column] += float((alive & ~inside).sum())
            ident = world.state[..., rule.spec.channels - k:][alive] if learned and alive.any() else None
            sums[3, column] += float(ident.mean()) if ident is not None else math.nan
    mse, area, outside, ident = (sums / len(seeds)).tolist()
    growth = Growth(list(identity), list(marks), mse, area, outside, ident if learned else [math.nan] * len(marks),
                    supervised and learned)
    growth.failures = judge(growth, gates)
    return growth


def judge(growth: Growth, gates: Gates) -> list[str]:
    """The gates `growth` fails, each as a readable line."""
    failures = []
    low, high = gates.area_gate
    for mark, mse, area, ident in zip(growth.marks, growth.mse, growth.area, growth.identity_mean, strict=True):
        if mark < gates.gate_from:
            continue
        if not mse <= gates.mse_gate:
            failures.append(f"step {mark}: MSE {mse:.4f} > {gates.mse_gate}")
        if not low <= area <= high:
            failures.append(f"step {mark}: area {area:.2f}x the target, outside {low}-{high}")
        if growth.supervised and not abs(ident - growth.identity[0]) <= gates.identity_gate:
            failures.append(f"step {mark}: identity mean {ident:.3f}, more than {gates.identity_gate} "
                            f"from its seed value {growth.identity[0]}")
    return failures


def check_model(rule: Rule, *, steps: int = 2000, seeds: tuple[int, ...] = (0, 1, 2), scale: int = 2,
                gates: Gates | None = None) -> list[Growth]:
    """`grow_alone` for every identity the model supports."""
    identities, supervised = supported_identities(rule)
    return [grow_alone(rule, identity, steps=steps, seeds=seeds, scale=scale, supervised=supervised, gates=gates)
            for identity in identities]


def table(name: str, growths: list[Growth]) -> str:
    """A markdown table of one model's check, one row per identity, with PASS/FAIL."""
    marks = growths[0].marks
    header = (f"| {name} identity | " + " | ".join(f"MSE@{m}" for m in marks)
              + f" | area@{marks[-1]} | outside@{marks[-1]} | identity@{marks[-1]} | result |")
    lines = [header, "|" + " --- |" * (len(marks) + 5)]
    for g in growths:
        ident = "-" if math.isnan(g.identity_mean[-1]) else f"{g.identity_mean[-1]:.3f}"
        lines.append(f"| {g.identity} | " + " | ".join(f"{v:.4f}" for v in g.mse)
                     + f" | {g.area[-1]:.2f} | {g.outside[-1]:.0f} | {ident} | {'PASS' if g.passed else 'FAIL'} |")
    return "\n".join(lines)


def card_section(name: str, growths: list[Growth], steps: int, seeds: int, scale: int, gates: Gates) -> str:
    """The "Stability check" section of a model card."""
    verdict = "PASS" if all(g.passed for g in growths) else "FAIL"
    failures = [f"- identity {g.identity}: {f}" for g in growths for f in g.failures[:3]]
    return "\n".join([
        f"## Stability check: {verdict}",
        "",
        f"`nca-world models --stability {name}.h5`: grown alone for {steps} steps on a grid {scale}x its "
        f"training size, mean of {seeds} fire seeds. Gates: MSE <= {gates.mse_gate} and area within "
        f"{gates.area_gate[0]}-{gates.area_gate[1]}x the target from step {gates.gate_from} on; supervised "
        f"identity within {gates.identity_gate} of its seed value.",
        "",
        table(name, growths),
        "",
        *failures,
    ]).rstrip() + "\n"


def replace_section(card: str, section: str) -> str:
    """`card` with its "## Stability check" section replaced by `section` (appended if absent)."""
    lines = card.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line.startswith("## Stability check")), None)
    if start is None:
        return card.rstrip("\n") + "\n\n" + section
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    return "".join(lines[:start]) + section + ("\n" + "".join(lines[end:]) if end < len(lines) else "")
