"""The bundled zoo: find its models, and check one with the numba core.

The check grows a model from its seed in a world the size of its training grid, measures the
RGBA mean squared error against the target stored in the file, keeps stepping to see that the
organism neither dies nor explodes, then cuts a disc of a quarter of its body and measures the
error again after the regrowth time.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass

import numpy as np

from nca_world.agents.library import ZOO
from nca_world.agents.modelfile import load_rule
from nca_world.agents.spec import Rule
from nca_world.sim import stability
from nca_world.sim.world import World


@dataclass(frozen=True)
class Check:
    """What `check` measured for one model and identity."""

    grown_mse: float  # after `grow` steps
    late_mse: float  # after `total` steps
    alive_grown: int
    alive_late: int
    regrown_mse: float  # `regrow` steps after the cut


def entries() -> dict[str, dict[str, object]]:
    """The zoo index (`nca_world/agents/zoo/zoo.toml`): model name → its file, identities and bounds."""
    return tomllib.loads((ZOO / "zoo.toml").read_text())["models"]


def mse(world: World, target: np.ndarray) -> float:
    """RGBA mean squared error of the world against `target` (same shape)."""
    return float(np.mean((np.clip(world.rgba, 0.0, 1.0) - target) ** 2))


def cut_quarter(world: World) -> None:
    """Zero a disc of a quarter of the living area, centred on the body's centroid."""
    alive = world.alpha > world.alive_threshold
    ys, xs = np.nonzero(alive)
    radius = np.sqrt(0.25 * alive.sum() / np.pi)
    yy, xx = np.mgrid[: world.height, : world.width]
    hole = (yy - ys.mean()) ** 2 + (xx - xs.mean()) ** 2 <= radius**2
    world.state[hole] = 0.0


def check(rule: Rule, identity: list[float], target: np.ndarray, *, grow: int, total: int, regrow: int,
          seed: int = 0) -> Check:
    """Grow, keep stepping, cut and regrow one organism of `rule` (see the module docstring)."""
    size = target.shape[0]
    world = World(size, size, species={"zoo": rule}, seed=seed)
    world.spawn("o", "zoo", (size // 2, size // 2), identity=identity or None)
    world.step(grow)
    grown, alive_grown = mse(world, target), int((world.alpha > 0.1).sum())
    world.step(total - grow)
    late, alive_late = mse(world, target), int((world.alpha > 0.1).sum())
    if alive_late:
        cut_quarter(world)
    world.step(regrow)
    return Check(grown, late, alive_grown, alive_late, mse(world, target))


def check_entry(name: str) -> list[tuple[list[float], Check]]:
    """`check` for every identity listed for zoo model `name`."""
    entry = entries()[name]
    rule = load_rule(ZOO / str(entry["file"]))
    out = []
    for index, identity in enumerate(entry["identities"]):  # type: ignore[arg-type]
        target = rule.target if rule.target.ndim == 3 else rule.target[index]
        out.append((identity, check(rule, identity, target, grow=int(entry["grow_steps"]),
                                    total=int(entry["total_steps"]), regrow=int(entry["regrow_steps"]))))
    return out


def card(name: str) -> str:
    """The model card of zoo model `name`, from its file's provenance and a fresh `check_entry`."""
    entry = entries()[name]
    rule = load_rule(ZOO / str(entry["file"]))
    p, spec = rule.provenance, rule.spec
    recipe = p["config"]["train"]
    rows = "\n".join(
        f"| {identity} | {c.grown_mse:.4f} | {c.late_mse:.4f} | {c.alive_grown} to {c.alive_late} "
        f"| {c.regrown_mse:.4f} |" for identity, c in check_entry(name))
    return f"""# {name}

{entry["description"]}

- **Rule**: {spec.channels} channels ({spec.identity_channels} identity, {spec.identity_mode}), hidden {spec.hidden},
  fire rate {spec.fire_rate}, {spec.boundary} boundary; variant `{p["variant"]}`.
- **Recipe** (`{name}.toml`): pool {recipe["pool_size"]}, batch {recipe["batch"]},
  rollouts {recipe["rollout"]} steps, {recipe["reseed_worst"]} worst re-seeded and {recipe["damage_best"]} best
  damaged per iteration, Adam {recipe["learning_rate"]} times {recipe["lr_factor"]} after
  {recipe["lr_milestones"]}, {p["iterations"]} iterations, seed {p["seed"]}.
- **Training**: {p["wall_seconds"] / 60:.0f} min on this 2-core CPU; final loss {p["final_loss"]:.4f}
  (mean of the last 20 iterations).
- **Reproduce**: `cd nca_world/agents/zoo && nca-world train {name}.toml` (or `./train-all.sh` for the whole zoo).
- **Checked with the numba core** (`tests/test_zoo.py`, `python -m nca_world.sim.zoo`): grown from its seed for
  {entry["grow_steps"]} steps, then to step {entry["total_steps"]}, then a disc of 25% of the body cut and
  {entry["regrow_steps"]} steps of regrowth. Bounds: RGBA MSE ≤ {entry["mse_bound"]} grown and late, living cells
  within 0.5-2x, ≤ {entry["regrow_bound"]} after regrowth.

| identity | MSE grown | MSE late | alive cells | MSE regrown |
| --- | --- | --- | --- | --- |
{rows}

![growth and regrowth]({name}.png)
"""


def replicates() -> list[str]:
    """The zoo's training replicates (``gecko-A-s1`` ...): configs named ``*-s<seed>.toml``."""
    return sorted(path.stem for path in ZOO.glob("*-s[0-9]*.toml"))


def replicate_card(name: str) -> str:
    """The card of replicate `name`, from its config and its model file's provenance (how far its
    training got); `models --stability --card` adds the stability section."""
    rule = load_rule(ZOO / f"{name}.h5")
    p = rule.provenance
    recipe, target = p["config"]["train"], p["config"]["target"]
    planned, done, losses = recipe["iterations"], p["iterations"], p["loss_curve"]
    grid = target["size"] + 2 * target["padding"]
    status = f"**unfinished**: {done} of {planned} iterations" if done < planned else f"{done} iterations"
    if done < planned:
        go_on = f"""- **Continue it**: `nca_world/agents/zoo/train-all.sh {name}`
  (or `cd nca_world/agents/zoo && nca-world train {name}.toml --resume`): it resumes from
  `{name}.resume.h5` (weights, Adam and RNG states; the pool is regrown from the model). After more
  iterations, `nca-world train {name}.toml --snapshot` writes the model and the resume file again,
  `python -m nca_world.sim.zoo` this card, and `nca-world models --stability --card {name}` its check."""
    else:
        go_on = f"""- **Train longer**: raise `iterations` in `{name}.toml`, then
  `nca_world/agents/zoo/train-all.sh {name}` resumes from `{name}.resume.h5` (the final weights,
  Adam and RNG states; the pool is regrown); `python -m nca_world.sim.zoo` rewrites this card,
  `nca-world models --stability --card {name}` its check."""
    return f"""# {name}

The gecko emoji, identity variant {p["variant"]} (Stovold 2025), training seed {p["seed"]} of two replicates:
the identity notebook's recipe at the 0.8 spatial scale ({target["size"]} px target on a {grid}x{grid} grid).

- **Recipe** (`{name}.toml`): pool {recipe["pool_size"]}, batch {recipe["batch"]}, rollouts {recipe["rollout"]} steps,
  {recipe["reseed_worst"]} worst re-seeded, {recipe["damage_best"]} best damaged ({recipe["damage_holes"]} holes),
  Adam {recipe["learning_rate"]} x {recipe["lr_factor"]} after {recipe["lr_milestones"]}, seed {p["seed"]},
  {recipe["threads"]} thread{"s" if recipe["threads"] > 1 else ""}.
- **Training**: {status}, {p["wall_seconds"] / 3600:.1f} h of wall time on a shared 2-core CPU;
  loss of the last 20 iterations {np.mean(losses[-20:]):.4f} (first 20: {np.mean(losses[:20]):.4f}).
{go_on}
- **Sheet**: ![growth and regrowth]({name}.png)
"""


def keep_stability_section(old: str, new: str) -> str:
    """`new` with the "## Stability check" section of `old` (written by `models --stability --card`)."""
    start = old.find("## Stability check")
    if start < 0:
        return new
    end = old.find("\n## ", start + 1)
    return stability.replace_section(new, old[start: end + 1 if end >= 0 else len(old)])


if __name__ == "__main__":
    for model in [*entries(), *replicates()]:
        path = ZOO / f"{model}.md"
        text = card(model) if model in entries() else replicate_card(model)
        path.write_text(keep_stability_section(path.read_text() if path.is_file() else "", text))
        print(f"wrote {path}")
