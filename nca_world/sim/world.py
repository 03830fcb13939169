"""A world: one grid, many organisms of one or more species, stepped by `sim.core`.

The state is stored channel-planar with a ring (see `sim.core`); `World.state` is an
``(H, W, C)`` view of the current buffer, valid until the next `step`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from nca_world.agents.errors import WorldError
from nca_world.agents.firing import fire_threshold
from nca_world.agents.spec import BOUNDARIES, Rule, seed_state
from nca_world.sim import core
from nca_world.sim.meeting import CONTESTS, SENSES, sensed_matrix
from nca_world.sim.threads import ThreadTuner, check_threads

if TYPE_CHECKING:
    from nca_world.sim.render import Layers

MAX_SEED = 2**63 - 1
MEMORY_FLOOR = 64 << 20  # a world needing less always starts: the kernel finds that much by reclaiming


def available_memory() -> int | None:
    """Bytes this machine can still give (``MemAvailable`` of /proc/meminfo), None where unknown."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def memory_needed(height: int, width: int, channels: int, hidden: int, species: int) -> int:
    """Bytes a world allocates: two padded state buffers, the owner map and the step's scratch
    (`sim.core.make_scratch`, one band per numba thread)."""
    import numba

    buffers = 2 * 4 * int(np.prod(core.padded_shape(channels, height, width)))
    planes = (2 * (height + 2 * core.RING) + 2 * height) * width + 4 * height * width  # near1/2, pre, owner
    rule = 4 * height * width + 2 * height * width + height * -(-width // core.LANES)  # rule, walls, barred, halo
    chunks = -(-width // core.LANES)
    capacity = core.ROW_BLOCK * chunks * core.LANES + core.BATCH
    bands = numba.config.NUMBA_NUM_THREADS
    tiles = bands * species * 4 * capacity * 4 * channels  # tiles (3C) and outs (C)
    masks = bands * 2 * 8 * core.ROW_BLOCK * chunks * species + bands * 4 * hidden * core.BATCH
    return buffers + planes + rule + tiles + masks


def check_memory(needed: int, what: str, limit: int | None = None) -> None:
    """Refuse `needed` bytes when more than `limit` (default: `available_memory`) and more than
    `MEMORY_FLOOR`; `what` names the request in the message."""
    limit = available_memory() if limit is None else limit
    if limit is not None and needed > max(limit, MEMORY_FLOOR):
        raise WorldError(f"{what}: expected at most {limit / 2**30:.2f} GiB (the memory available), "
                         f"got {needed / 2**30:.2f} GiB needed")


@dataclass(frozen=True)
class Organism:
    """One organism: its index in the owner map (from 1), species and identity values; a child of
    a fission (`World.split`) has its parent's index as `parent` (0: none)."""

    index: int
    name: str
    species: str
    identity: tuple[float, ...]
    seed_cell: tuple[int, int]
    spawn_step: int
    parent: int = 0


class World:
    """A grid hosting organisms; every alive cell is updated by the rule of its owner.

    A world whose buffers (`memory_needed`) exceed `memory_limit` bytes (default: the memory
    available) is refused before anything is allocated. How organisms meet (`sim.meeting`):
    `senses` (the default level), `interactions` (levels per pair of species) and `contest`;
    walls are set with `set_walls`. `threads`: see the property.
    """

    def __init__(self, height: int, width: int, *, species: Mapping[str, Rule],
                 boundary: str = "zero", seed: int = 0, memory_limit: int | None = None,
                 senses: str = "all", interactions: Mapping[tuple[str, str], str] | None = None,
                 contest: str = "strongest", threads: int | None = None) -> None:
        if not (isinstance(height, int) and isinstance(width, int) and height > 0 and width > 0):
            raise WorldError(f"world size: expected positive integers, got {height!r} x {width!r}")
        if boundary not in BOUNDARIES:
            raise WorldError(f"boundary: expected one of {BOUNDARIES}, got {boundary!r}")
        if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed <= MAX_SEED:
            raise WorldError(f"seed: expected an integer in [0, 2**63), got {seed!r}")
        if not species:
            raise WorldError("species: expected at least one species")
        rules = list(species.values())
        first = rules[0].spec
        for name, rule in species.items():
            if rule.spec.channels != first.channels:
                raise WorldError(
                    f"species {name!r}: expected {first.channels} channels like "
                    f"{next(iter(species))!r}, got {rule.spec.channels}")
            if rule.spec.alive_threshold != first.alive_threshold:
                raise WorldError(
                    f"species {name!r}: expected alive_threshold {first.alive_threshold}, "
                    f"got {rule.spec.alive_threshold}")
        hidden = max(rule.spec.hidden for rule in rules)
        check_memory(memory_needed(height, width, first.channels, hidden, len(rules)),
                     f"world size: a {height}x{width} world of {first.channels} channels", memory_limit)
        self.height, self.width, self.boundary, self.seed = height, width, boundary, seed
        self.channels = first.channels
        self.alive_threshold = first.alive_threshold
        self.rules: dict[str, Rule] = dict(species)
        self._species_names = list(species)
        self._tables = _stack_species(rules)
        shape = core.padded_shape(self.channels, height, width)
        self._buffers = [core.aligned_zeros(shape), core.aligned_zeros(shape)]
        # per buffer, the 16-cell chunks of each row that may hold non-zero values (lets a step
        # skip empty space)
        self._nonzero_chunks = [np.ones(core.chunk_shape(height, width), np.uint8) for _ in range(2)]
        self.owner = np.zeros((height, width), np.int32)
        self.organisms: list[Organism] = []
        self._species_of = np.zeros(1, np.int64)
        self._identity_of = np.zeros((1, self.channels), np.float32)
        self._scratch = core.make_scratch(self.channels, hidden, len(rules), height, width)
        self.step_count = 0
        self._walls = np.zeros((height, width), np.uint8)
        self._has_walls = False
        self._state_written = True  # since the last step: wall cells of the state may be non-zero
        self._sensed: np.ndarray | None = None  # rebuilt when the organisms change
        self.set_meeting(senses=senses, interactions=interactions or {}, contest=contest)
        self.threads = threads

    @property
    def threads(self) -> int | None:
        """numba threads that `step` uses: a fixed count (1 .. NUMBA_NUM_THREADS), or None (the
        default) to choose it by measurement as the machine's load changes (`sim.threads`: on a
        busy machine two threads can step 10x slower than one). Results never depend on it."""
        return self._threads

    @threads.setter
    def threads(self, threads: int | None) -> None:
        check_threads(threads)
        self._threads = threads
        self._tuner: ThreadTuner | None = None  # made at the next step

    # ------------------------------------------------------------------ views

    @property
    def state(self) -> np.ndarray:
        """The state as an ``(H, W, C)`` float32 view (writable; stale after `step`)."""
        self._nonzero_chunks[0][:] = 1  # the caller may write anywhere
        self._state_written = True  # into wall cells too
        return self.state_view()

    def state_view(self) -> np.ndarray:
        """The same ``(H, W, C)`` view, for reading only (writes through it may be lost)."""
        return self.planes().transpose(1, 2, 0)

    def planes(self) -> np.ndarray:
        """The state as a ``(C, H, W)`` view of the core's channel planes, for reading only."""
        return self._buffers[0][:, core.RING : core.RING + self.height, core.PAD : core.PAD + self.width]

    def rows_in_use(self) -> np.ndarray:
        """A copy of the flags of the rows of the current state that may hold non-zero values
        (every other row is zero, and owned by nobody)."""
        return self._nonzero_chunks[0].any(axis=1).astype(np.uint8)

    def padded(self) -> np.ndarray:
        """The current state's padded buffer (layout of `sim.core`), for kernels that read it in
        place (the recorder's); do not write to it."""
        return self._buffers[0]

    @property
    def rgba(self) -> np.ndarray:
        """Premultiplied RGBA, ``(H, W, 4)`` copy."""
        return np.ascontiguousarray(self.state_view()[:, :, :4])

    @property
    def alpha(self) -> np.ndarray:
        """Alpha channel, ``(H, W)`` copy."""
        return self.state_view()[:, :, 3].copy()

    def organism(self, name: str) -> Organism:
        """The organism called `name`."""
        for organism in self.organisms:
            if organism.name == name:
                return organism
        raise WorldError(f"organism: no organism named {name!r} (have {[o.name for o in self.organisms]})")

    def mask(self, name: str) -> np.ndarray:
        """Bool ``(H, W)``: the cells that organism `name` owns."""
        return self.owner == self.organism(name).index

    @property
    def walls(self) -> np.ndarray:
        """Bool ``(H, W)`` copy of the wall map (change it with `set_walls`)."""
        return self._walls.astype(bool)

    # ------------------------------------------------------------------ meeting

    def set_meeting(self, *, senses: str | None = None, interactions: Mapping[tuple[str, str], str] | None = None,
                    contest: str | None = None) -> None:
        """Set who senses whom (`senses`: the default level; `interactions`: levels by pair of
        species, replacing those set before; a pair may name a species that joins later) and the
        `contest` rule (`sim.meeting`); None keeps a setting."""
        if senses is not None:
            if senses not in SENSES:
                raise WorldError(f"senses: expected one of {SENSES}, got {senses!r}")
            self.senses = senses
        if interactions is not None:
            pairs = {}
            for pair, level in interactions.items():
                if len(pair) != 2 or not all(isinstance(name, str) for name in pair):
                    raise WorldError(f"interactions: expected a pair of species names, got {pair!r}")
                if level not in SENSES:
                    raise WorldError(f"interactions {pair!r}: senses: expected one of {SENSES}, got {level!r}")
                pairs[frozenset(pair)] = level
            self._pairs = pairs
        if contest is not None:
            if contest not in CONTESTS:
                raise WorldError(f"contest: expected one of {CONTESTS}, got {contest!r}")
            self.contest = contest
        self._sensed = None

    def sensed(self) -> np.ndarray:
        """uint8 ``(N + 1, N + 1)``: ``[k, j] = 1`` when organism k's cells read organism j's."""
        if self._sensed is None:
            self._sensed = sensed_matrix([o.species for o in self.organisms], self.senses, self._pairs)
        return self._sensed

    def set_walls(self, cells: np.ndarray, wall: bool = True) -> int:
        """Make `cells` ``(H, W)`` walls (their cells are killed: zero state, no owner), or with
        ``wall=False`` floor again; returns how many cells changed."""
        cells = np.asarray(cells, bool)
        if cells.shape != (self.height, self.width):
            raise WorldError(f"walls: expected a {self.height}x{self.width} mask, got {cells.shape}")
        changed = int((cells & (self._walls.astype(bool) != wall)).sum())
        self._walls[cells] = wall
        if wall and cells.any():
            self.state[cells] = 0.0
            self.owner[cells] = 0
        self._has_walls = bool(self._walls.any())
        return changed

    def _meeting(self) -> core.Meeting:
        sensed = self.sensed()
        return core.Meeting(self._walls, self._has_walls, sensed, not bool(sensed.all()), self.contest == "buffer")

    # ------------------------------------------------------------------ changes

    def spawn(self, name: str, species: str, at: Sequence[int],
              identity: Sequence[float] | float | None = None) -> Organism:
        """Plant a seed cell of `species` at ``at = (y, x)`` and return the new organism.

        `identity` holds the ``K`` identity values (a number is repeated; default ones).
        """
        if any(o.name == name for o in self.organisms):
            raise WorldError(f"organism {name!r}: the name is already taken")
        if species not in self.rules:
            raise WorldError(f"organism {name!r}: unknown species {species!r} (have {self._species_names})")
        y, x = self._position(name, at)
        if self._walls[y, x]:
            raise WorldError(f"organism {name!r}: position: expected a cell that is not a wall, got ({y}, {x})")
        spec = self.rules[species].spec
        values = _identity_values(name, identity, spec.identity_channels)
        organism = Organism(len(self.organisms) + 1, name, species, tuple(float(v) for v in values),
                            (y, x), self.step_count)
        self._register(organism)
        self.state[y, x] = seed_state(spec, values)
        self.owner[y, x] = organism.index
        return organism

    def convert(self, source: str, name: str, species: str, cells: np.ndarray,
                identity: Sequence[float] | float | None = None) -> tuple[Organism, int]:
        """Takeover: `source`'s cells where `cells` ``(H, W)`` is true become the new organism
        `name` of `species`, keeping their state (a frozen identity is written into them). The new
        organism exists even when no cell is converted. Returns it and the cells converted."""
        if any(o.name == name for o in self.organisms):
            raise WorldError(f"organism {name!r}: the name is already taken")
        if species not in self.rules:
            raise WorldError(f"organism {name!r}: unknown species {species!r} (have {self._species_names})")
        taken = cells & (self.owner == self.organism(source).index) & (self._walls == 0)
        spec = self.rules[species].spec
        values = _identity_values(name, identity, spec.identity_channels)
        ys, xs = np.nonzero(taken)
        where = (int(ys.mean()), int(xs.mean())) if len(ys) else self.organism(source).seed_cell
        organism = Organism(len(self.organisms) + 1, name, species, tuple(float(v) for v in values), where,
                            self.step_count)
        self._register(organism)
        self.owner[taken] = organism.index
        if spec.identity_mode == "frozen" and spec.identity_channels:
            self.state[taken, spec.identity_slice] = values
        return organism, len(ys)

    def split(self, name: str, parts: Sequence[np.ndarray]) -> list[Organism]:
        """Fission: each of `parts` (bool ``(H, W)``, cells of organism `name`) becomes a child
        organism of its species and identity, called ``name.1``, ``name.2``, ... (the next numbers
        no organism has), with `parent` the organism's index and `seed_cell` the part's first cell
        in raster order; the cells keep their state. The parent keeps its number and the cells of
        no part. Returns the children, in the order of `parts`."""
        parent = self.organism(name)
        children, number = [], 1
        taken = {o.name for o in self.organisms}
        for part in parts:
            cells = np.asarray(part, bool) & (self.owner == parent.index)
            while f"{name}.{number}" in taken:
                number += 1
            ys, xs = np.nonzero(cells)
            first = (int(ys[0]), int(xs[0])) if len(ys) else parent.seed_cell
            child = Organism(len(self.organisms) + 1, f"{name}.{number}", parent.species, parent.identity, first,
                             self.step_count, parent.index)
            taken.add(child.name)
            self._register(child)
            self.owner[cells] = child.index
            children.append(child)
        return children

    def add_species(self, name: str, rule: Rule) -> None:
        """Let organisms of a new species `name` live in this world from now on; its rule must
        have the world's channel count and alive threshold. Species added in the same order at the
        same steps give the same numbers (the core's tables and scratch are rebuilt here)."""
        if name in self.rules:
            raise WorldError(f"species {name!r}: the name is already taken (have {self._species_names})")
        spec = rule.spec
        if spec.channels != self.channels:
            raise WorldError(f"species {name!r}: expected {self.channels} channels like the world's species, "
                             f"got {spec.channels}")
        if spec.alive_threshold != self.alive_threshold:
            raise WorldError(f"species {name!r}: expected alive_threshold {self.alive_threshold}, "
                             f"got {spec.alive_threshold}")
        rules = [*self.rules.values(), rule]
        hidden = max(r.spec.hidden for r in rules)
        check_memory(memory_needed(self.height, self.width, self.channels, hidden, len(rules)),
                     f"species {name!r}: a {self.height}x{self.width} world of {len(rules)} species")
        self.rules[name] = rule
        self._species_names.append(name)
        self._tables = _stack_species(rules)
        self._scratch = core.make_scratch(self.channels, hidden, len(rules), self.height, self.width)

    def _register(self, organism: Organism) -> None:
        """Append `organism` to the organism table and the core's per-organism arrays."""
        spec = self.rules[organism.species].spec
        row = np.zeros((1, self.channels), np.float32)
        row[0, spec.identity_slice] = organism.identity
        self.organisms.append(organism)
        self._species_of = np.append(self._species_of, self._species_names.index(organism.species))
        self._identity_of = np.concatenate([self._identity_of, row])
        self._sensed = None

    def set_identity(self, name: str, identity: Sequence[float] | float) -> Organism:
        """Give organism `name` new identity values: written into its cells' identity channels
        (and, for a frozen-identity species, held by every cell it grows from now on)."""
        organism = self.organism(name)
        spec = self.rules[organism.species].spec
        values = _identity_values(name, identity, spec.identity_channels)
        self._identity_of[organism.index, spec.identity_slice] = values
        mask = self.owner == organism.index
        self.state[mask, spec.identity_slice] = values
        updated = dataclasses.replace(organism, identity=tuple(float(v) for v in values))
        self.organisms[organism.index - 1] = updated
        return updated

    def restore(self, step: int, state: np.ndarray, owner: np.ndarray, organisms: Sequence[Organism],
                walls: np.ndarray | None = None) -> None:
        """Put the world back at `step` with this state, owner map and organism table (a keyframe),
        and this wall map (None keeps the world's)."""
        if state.shape != (self.height, self.width, self.channels) or owner.shape != (self.height, self.width):
            raise WorldError(f"restore: expected a {self.height}x{self.width}x{self.channels} state, got {state.shape}")
        self.organisms = []
        self._species_of = np.zeros(1, np.int64)
        self._identity_of = np.zeros((1, self.channels), np.float32)
        self._sensed = None
        for organism in organisms:
            if organism.species not in self.rules:
                raise WorldError(f"restore: organism {organism.name!r} has unknown species {organism.species!r}")
            self._register(organism)
        if walls is not None:
            self._walls[:] = 0
            self.set_walls(walls)
        self.state[:] = state
        self.owner[:] = owner
        self._nonzero_chunks[1][:] = 1
        self.step_count = step

    def step(self, n: int = 1) -> None:
        """Advance the world `n` steps."""
        organisms = core.Organisms(self._species_of, self._identity_of)
        meeting = self._meeting()
        if self._tuner is None:
            self._tuner = ThreadTuner(self._threads)
        self._tuner.use()
        for _ in range(n):
            cur, nxt = self._buffers
            try:
                core.step(cur, nxt, self.owner, self._tables, organisms, self._scratch,
                          threshold=self.alive_threshold, wrap=self.boundary == "wrap",
                          seed=self.seed, step_index=self.step_count, nonzero_chunks=self._nonzero_chunks[1],
                          meeting=meeting, clear_wall_state=self._state_written)
            except ValueError as error:
                raise WorldError(f"step {self.step_count}: {error}") from error
            self._buffers.reverse()
            self._nonzero_chunks.reverse()
            self._state_written = False
            self.step_count += 1
            self._tuner.tick()

    def apply(self, event: Any, number: int = 0) -> dict[str, Any]:
        """Apply a scenario event (`sim.scenario_events`: `CutCircle`, `Move`, ...) now; returns its effect.

        `number` tells apart the random draws (noise, kill fractions) of events of one step.
        """
        from nca_world.sim.events import apply  # events act on worlds: imported here, not at module level

        return apply(self, event, number)

    def cut(self, center: Sequence[int], radius: float, organism: str | None = None) -> int:
        """Kill every cell of a disc (only `organism`'s, if given); returns the cells killed."""
        from nca_world.sim.scenario_events import CutCircle

        return self.apply(CutCircle(center=tuple(center), radius=radius, organism=organism))["killed"]

    def move(self, organism: str, by: Sequence[int] | None = None, to: Sequence[int] | None = None) -> int:
        """Translate an organism's cells by ``(dy, dx)`` or so its centroid lands at `to`; returns
        the cells moved."""
        from nca_world.sim.scenario_events import Move

        return self.apply(Move(organism=organism, by=None if by is None else tuple(by),
                               to=None if to is None else tuple(to)))["moved"]

    def layers(self) -> Layers:
        """What pictures of the world are made from (`sim.render`), species without identity marked."""
        from nca_world.sim.render import layers_from_state

        identity = max(rule.spec.identity_channels for rule in self.rules.values())
        without = frozenset(o.index for o in self.organisms if not self.rules[o.species].spec.identity_channels)
        return dataclasses.replace(layers_from_state(self.state_view(), self.owner, identity),
                                   without_identity=without, walls=self.walls if self._has_walls else None)

    def render(self, view: str = "rgb", zoom: int = 1) -> np.ndarray:
        """The world as an ``(H * zoom, W * zoom, 3)`` uint8 image in a `sim.render` view."""
        from nca_world.sim.render import render

        image = render(self.layers(), view)
        return np.repeat(np.repeat(image, zoom, axis=0), zoom, axis=1)

    def _repr_png_(self) -> bytes:
        """The RGB view as PNG: a world shows itself in Jupyter."""
        import io

        from PIL import Image

        buffer = io.BytesIO()
        Image.fromarray(self.render(zoom=max(1, 256 // max(self.height, self.width)))).save(buffer, "PNG")
        return buffer.getvalue()

    def _position(self, name: str, at: Sequence[int]) -> tuple[int, int]:
        try:
            y, x = (int(v) for v in at)
        except (TypeError, ValueError) as error:
            raise WorldError(f"organism {name!r}: position: expected (y, x), got {at!r}") from error
        if not (0 <= y < self.height and 0 <= x < self.width):
            raise WorldError(f"organism {name!r}: position: expected inside the "
                             f"{self.height}x{self.width} grid, got ({y}, {x})")
        return y, x


def _identity_values(name: str, identity: Sequence[float] | float | None, count: int) -> np.ndarray:
    if identity is None:
        return np.ones(count, np.float32)
    values = np.atleast_1d(np.asarray(identity, dtype=np.float32))
    if values.size == 1 and count > 1:
        values = np.repeat(values, count)
    if values.shape != (count,) or not np.isfinite(values).all():
        raise WorldError(f"organism {name!r}: identity: expected {count} finite values, got {identity!r}")
    return values


def _stack_species(rules: list[Rule]) -> core.Species:
    """Stack rules of possibly different hidden widths; narrower ones are zero-padded."""
    hidden = max(rule.spec.hidden for rule in rules)
    channels = rules[0].spec.channels
    n = len(rules)
    w1 = np.zeros((n, 3 * channels, hidden), np.float32)
    b1 = np.zeros((n, hidden), np.float32)
    w2 = np.zeros((n, hidden, channels), np.float32)
    b2 = np.zeros((n, channels), np.float32)
    for s, rule in enumerate(rules):
        h = rule.spec.hidden
        w1[s, :, :h], b1[s, :h], w2[s, :h], b2[s] = rule.w1, rule.b1, rule.w2, rule.b2
    return core.Species(
        w1, b1, w2, b2,
        fire_threshold=np.array([fire_threshold(r.spec.fire_rate) for r in rules], np.int64),
        updated=np.array([r.spec.updated_channels for r in rules], np.int64),
    )
