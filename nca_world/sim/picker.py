"""The viewer's model picker: the library's models, whether each fits a world, and thumbnails.

A model fits a world when its rule has the world's channel count and alive threshold (the
conditions of `sim.world.World.add_species`); the others are listed with the reason. Models are
read once, when the picker first lists them. A thumbnail is the model's stored target (free), or
for a fitting model without one its organism grown `THUMB_STEPS` steps (`sim.contact_sheet.grow`),
one model per call of `Picker.grow_one`, so the viewer stays responsive; both are kept for the session.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from nca_world.agents import library
from nca_world.agents.errors import ModelFileError
from nca_world.agents.modelfile import load_rule
from nca_world.agents.spec import Rule
from nca_world.sim.contact_sheet import grow
from nca_world.sim.render import rgb_over_white

THUMB = 40  # pixels of a thumbnail's side
THUMB_STEPS = 100


@dataclass(frozen=True)
class Choice:
    """One library model: its rule (None when unreadable) and why it does not fit (None: it fits)."""

    name: str
    path: Path
    rule: Rule | None
    reason: str | None

    @property
    def fits(self) -> bool:
        """Whether it can join the world."""
        return self.reason is None


def misfit(rule: Rule, channels: int, alive_threshold: float) -> str | None:
    """Why `rule` cannot join a world of `channels` channels and `alive_threshold`, or None."""
    if rule.spec.channels != channels:
        return f"{rule.spec.channels} channels, world has {channels}"
    if rule.spec.alive_threshold != alive_threshold:
        return f"alive threshold {rule.spec.alive_threshold:g}, world has {alive_threshold:g}"
    return None


def choices(channels: int, alive_threshold: float) -> list[Choice]:
    """Every library model (`agents.library.models`), those that fit first, each group by name."""
    found = []
    for name, path in library.models().items():
        try:
            rule = load_rule(path)
        except ModelFileError as error:
            found.append(Choice(name, path, None, f"unreadable: {error}"))
            continue
        found.append(Choice(name, path, rule, misfit(rule, channels, alive_threshold)))
    return sorted(found, key=lambda choice: not choice.fits)


def thumbnail(rule: Rule, steps: int = THUMB_STEPS) -> np.ndarray:
    """``(THUMB, THUMB, 3)`` uint8: the rule's target over white, else its organism grown `steps` steps."""
    if rule.target is not None:
        target = rule.target if rule.target.ndim == 3 else rule.target[0]
        picture = rgb_over_white(target[..., :4])
    else:
        picture = grow(rule, steps)[0]
    return np.asarray(Image.fromarray(picture).resize((THUMB, THUMB), Image.NEAREST))


class Picker:
    """The picker's state for one viewer session: its choices, thumbnails and the chosen model."""

    def __init__(self, channels: int, alive_threshold: float) -> None:
        self.channels, self.alive_threshold = channels, alive_threshold
        self._choices: list[Choice] | None = None
        self.thumbnails: dict[str, np.ndarray] = {}
        self.chosen: Choice | None = None
        self.scroll = 0

    @property
    def choices(self) -> list[Choice]:
        """The library's models, read on first use."""
        if self._choices is None:
            self._choices = choices(self.channels, self.alive_threshold)
        return self._choices

    def grow_one(self) -> None:
        """Make one missing thumbnail (targets first: they cost nothing; a model that does not fit
        is not grown, which would compile the core for its channel count)."""
        missing = [c for c in self.choices if c.rule is not None and c.name not in self.thumbnails
                   and (c.fits or c.rule.target is not None)]
        missing.sort(key=lambda c: c.rule.target is None)  # type: ignore[union-attr]
        if missing:
            self.thumbnails[missing[0].name] = thumbnail(missing[0].rule)  # type: ignore[arg-type]

    def choose(self, index: int) -> str:
        """Choose the `index`-th model; returns what to tell the user."""
        choice = self.choices[index]
        if not choice.fits:
            return f"{choice.name} does not fit: {choice.reason}"
        self.chosen = choice
        return f"click in the world to seed {choice.name}"
