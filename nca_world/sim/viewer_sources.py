"""What the viewer shows: a running world (`LiveSource`: interactive events go through the run,
so a recording logs them; recording starts and stops on demand) or a recording, frame by frame
(`ReplaySource`: only the region in view is read, and a file still being written is followed)."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import numpy as np

from nca_world.agents.errors import NcaWorldError
from nca_world.agents.spec import Rule
from nca_world.sim.census import cell_counts
from nca_world.sim.recorder import Recorder
from nca_world.sim.recorder_settings import recorded_channels
from nca_world.sim.recording import Recording
from nca_world.sim.render import Layers, crop, layers_from_frame
from nca_world.sim.runner import Run
from nca_world.sim.scenario_events import AddSpecies


class LiveSource:
    """A running world; interactive events go through the run, so a recording logs them."""

    def __init__(self, run: Run, record_to: Path | None = None) -> None:
        self.run, self.record_to = run, record_to
        self.spawned = 0
        self._counts: tuple[tuple[int, int, int], np.ndarray] | None = None

    @property
    def world(self):
        return self.run.world

    @property
    def step(self) -> int:
        return self.world.step_count

    def layers(self, region: tuple[int, int, int, int] | None = None) -> Layers:
        """The world's layers (views of its state), or those of `region` ``(y0, y1, x0, x1)``."""
        layers = self.world.layers()
        return layers if region is None else crop(layers, slice(*region[:2]), slice(*region[2:]))

    @property
    def version(self) -> tuple[int, int, int]:
        """Changes whenever the owner map may have: a step, an event applied, a new organism (a
        paused viewer draws the same map again and again; its counts need not be redone)."""
        return self.world.step_count, self.run.applied_this_step, len(self.world.organisms)

    def organisms(self) -> list[tuple[int, str, int]]:
        if self._counts is None or self._counts[0] != self.version:
            self._counts = (self.version, cell_counts(self.world.owner, len(self.world.organisms)))
        counts = self._counts[1]
        return [(o.index, o.name, int(counts[o.index])) for o in self.world.organisms]

    def species(self) -> list[str]:
        return list(self.world.rules)

    def advance(self, steps: int) -> None:
        for _ in range(steps):
            self.run.advance()

    def apply(self, event: Any) -> None:
        self.run.apply(event, "viewer")

    def add_species(self, name: str, rule: Rule) -> str:
        """The world's species that runs `rule`: one with the same spec and weights, else a new one
        called `name` (made unique) added now by a logged `AddSpecies` (the model is embedded)."""
        weights = rule.weights()
        for species, existing in self.world.rules.items():
            if existing.spec == rule.spec and all(np.array_equal(a, weights[k]) for k, a in existing.weights().items()):
                return species
        species, number = name, 1
        while species in self.world.rules:
            number += 1
            species = f"{name}-{number}"
        self.run.models[species] = rule
        self.apply(AddSpecies(kind="add_species", step=self.step, name=species, model=name))
        return species

    @property
    def recording(self) -> bool:
        return self.run.recorder is not None

    def toggle_recording(self) -> str:
        """Start recording (a keyframe now, then every step) or stop and close the file."""
        if self.run.recorder is not None:
            self.run.observe()  # the state at the moment recording stops is the last frame
            self.run.recorder.close(complete=True)
            path, self.run.recorder = self.run.recorder.path, None
            return f"saved {path}"
        record = self.run.scenario.file.record
        path = self.record_to or Path("recordings") / f"live-{time.strftime('%Y%m%d-%H%M%S')}.h5"
        try:
            self.run.recorder = Recorder(path, self.world, scenario_text=self.run.scenario.text,
                                         channels=recorded_channels(record.channels, self.world), dtype=record.dtype,
                                         compression=record.compression, every=1, keyframe_every=record.keyframe_every,
                                         flush_every=record.flush_every, overwrite="never")
            for name, rule in self.run.models.items():  # species the scenario adds later, for forks
                self.run.recorder.embed(name, rule)
            self.run.recorder.keyframe(self.world)
        except NcaWorldError as error:  # an existing file, a full disk: say so in the status line, keep viewing
            self.run.recorder = None
            return f"cannot record: {error}"
        return f"recording to {path}"

    def close(self) -> None:
        if self.run.recorder is not None:
            self.toggle_recording()


class ReplaySource:
    """A recording, frame by frame; follows a file that is still being written."""

    def __init__(self, recording: Recording) -> None:
        self.recording_file = recording
        self.index = 0
        models = recording.models
        self.state_channels = next(iter(models.values())).spec.channels
        self.identity_channels = max(rule.spec.identity_channels for rule in models.values())
        self._names = {o["index"]: o["name"] for o in recording.organisms_at_end()}
        self._without_identity = frozenset(o["index"] for o in recording.organisms_at_end()
                                           if not models[o["species"]].spec.identity_channels)
        self.event_steps = sorted({r["step"] for r in recording.events})
        self._layers: tuple[tuple[int, Any], Layers] | None = None  # the last read, kept while paused
        self._counts: tuple[int, np.ndarray] | None = None  # cells of each organism in a frame

    @property
    def step(self) -> int:
        return int(self.recording_file.steps[self.index])

    @property
    def version(self) -> int:
        """Changes whenever the frame shown does."""
        return self.index

    def __len__(self) -> int:
        return len(self.recording_file)

    def layers(self, region: tuple[int, int, int, int] | None = None) -> Layers:
        """The layers of the current frame, or of its `region` ``(y0, y1, x0, x1)`` (only that is read)."""
        key = (self.index, region)
        if self._layers is not None and self._layers[0] == key:
            return self._layers[1]
        recording = self.recording_file
        layers = layers_from_frame(recording.frame(self.index, region), recording.channels,
                                   recording.owner(self.index, region), self.state_channels, self.identity_channels)
        walls = recording.walls(self.index)
        if region is not None:
            walls = walls[region[0] : region[1], region[2] : region[3]]
        layers = dataclasses.replace(layers, without_identity=self._without_identity,
                                     walls=walls if walls.any() else None)
        self._layers = (key, layers)
        return layers

    def organisms(self) -> list[tuple[int, str, int]]:
        if self._counts is None or self._counts[0] != self.index:
            owner = self.recording_file.owner(self.index)
            self._counts = (self.index, cell_counts(owner, max(self._names, default=0)))
        counts = self._counts[1]
        return [(k, name, int(counts[k])) for k, name in sorted(self._names.items())]

    def species(self) -> list[str]:
        return []

    def advance(self, steps: int) -> None:
        if self.index + steps >= len(self):
            self.recording_file.refresh()
        self.index = min(len(self) - 1, self.index + steps)

    def seek(self, fraction: float) -> None:
        self.recording_file.refresh()
        self.index = round(min(max(fraction, 0.0), 1.0) * (len(self) - 1))

    def back(self) -> None:
        self.index = max(0, self.index - 1)

    def close(self) -> None:
        self.recording_file.close()
