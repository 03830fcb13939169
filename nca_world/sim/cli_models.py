"""The model-file commands of `nca-world`: `models` (list the library, describe and check model
files, draw a contact sheet) and `import` / `export` (published formats)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from nca_world.agents.errors import NcaWorldError


def models(args: argparse.Namespace) -> int:
    """`nca-world models`: list the library, describe model files, draw a contact sheet or check stability;
    1 when a model fails `--stability`, else 0."""
    from nca_world.agents import library
    from nca_world.agents.modelfile import load_rule

    if args.sheet is not None:
        _sheet(args)
        return 0
    if not args.paths:
        _list_library()
        return 0
    paths = [library.locate(given, Path.cwd()) for given in args.paths]  # a file or a library name
    rules = [(path, load_rule(path)) for path in paths]  # every file checked before any work
    for path, rule in rules:
        spec = rule.spec
        print(f"{path}: C={spec.channels} hidden={spec.hidden} identity={spec.identity_channels} "
              f"({spec.identity_mode}) fire_rate={spec.fire_rate} boundary={spec.boundary} "
              f"target={None if rule.target is None else rule.target.shape}")
    if args.stability:
        args.steps = 2000 if args.steps is None else args.steps
        return _stability(args, rules)
    return 0


def _sheet(args: argparse.Namespace) -> None:
    """Draw the contact sheet of the named models (each refused with its reason when unreadable),
    or of the whole library (an unreadable model skipped with a note)."""
    from nca_world.agents import library
    from nca_world.agents.errors import ModelFileError
    from nca_world.agents.modelfile import load_rule
    from nca_world.sim.contact_sheet import check_output, contact_sheet

    check_output(args.sheet, args.overwrite)  # before any model is grown
    chosen = []
    if args.paths:
        for given in args.paths:
            path = library.locate(given, Path.cwd())
            if not path.exists():
                raise NcaWorldError(f"{given}: expected a model file or a library name, got neither")
            chosen.append((path.stem, load_rule(path)))
    else:
        for name, path in library.models().items():
            try:
                chosen.append((name, load_rule(path)))
            except ModelFileError as error:
                print(f"nca-world: warning: {name}: skipped ({error})", file=sys.stderr)
    steps = 200 if args.steps is None else args.steps
    print(f"{contact_sheet(chosen, args.sheet, steps=steps, overwrite=args.overwrite)}: {len(chosen)} model(s) "
          f"grown {steps} steps")


def _list_library() -> None:
    from nca_world.agents import library
    from nca_world.agents.errors import ModelFileError
    from nca_world.agents.modelfile import load_rule

    print(f"{'name':24} {'C':>3} {'identity':>9}  {'stability':9}  source")
    for name, path in library.models().items():
        try:
            rule = load_rule(path)
        except ModelFileError as error:
            print(f"{name:24} unreadable: {error}")
            continue
        card = path.with_suffix(".md")
        text = card.read_text(encoding="utf-8") if card.is_file() else ""
        verdict = next((w for w in ("PASS", "FAIL") if f"## Stability check: {w}" in text), "-")
        identity = f"{rule.spec.identity_channels} {rule.spec.identity_mode}" if rule.spec.identity_channels else "-"
        print(f"{name:24} {rule.spec.channels:3d} {identity:>9}  {verdict:9}  {path}")
    print(f"folders (searched in this order): {', '.join(str(f) for f in library.folders())}")


def _stability(args: argparse.Namespace, rules: list) -> int:
    """Check each model; 1 when any fails (usable as a gate in scripts and CI), else 0."""
    from nca_world.sim import stability

    for path, rule in rules:
        if rule.target is None:
            raise NcaWorldError(f"{path}: --stability: expected a model file that stores its target, got none")
    gates = stability.Gates()
    failed = []
    for path, rule in rules:
        growths = stability.check_model(rule, steps=args.steps, seeds=tuple(range(args.seeds)), gates=gates)
        print(stability.table(path.stem, growths))
        for growth in growths:
            for failure in growth.failures[:3]:
                print(f"  FAIL identity {growth.identity}: {failure}")
            if len(growth.failures) > 3:
                print(f"  ... and {len(growth.failures) - 3} more for identity {growth.identity}")
        failed += [path] if not all(g.passed for g in growths) else []
        if args.card:
            card = path.with_suffix(".md")
            section = stability.card_section(path.stem, growths, args.steps, args.seeds, 2, gates)
            text = card.read_text(encoding="utf-8") if card.is_file() else f"# {path.stem}\n"
            card.write_text(stability.replace_section(text, section), encoding="utf-8")
            print(f"card: {card}")
    print(f"stability: {len(rules) - len(failed)} of {len(rules)} model(s) pass"
          + (f"; failing: {', '.join(str(p) for p in failed)}" if failed else ""))
    return 1 if failed else 0


def import_models(args: argparse.Namespace) -> None:
    """`nca-world import`: convert published model files (Growing NCA demo JSON) into the library, never overwriting."""
    from nca_world.agents import library
    from nca_world.agents.demo_format import read_demo_model
    from nca_world.agents.modelfile import save_rule

    folder = args.out or library.user_folder()
    rules = [(path, read_demo_model(path, licence=args.licence)) for path in args.paths]  # all checked first
    targets = [folder / f"{path.stem}.h5" for path, _ in rules]
    taken = [str(t) for t in targets if t.exists()]
    if taken:
        raise NcaWorldError(f"{taken[0]}: already exists (import never overwrites; remove it or choose --out)")
    if len(set(targets)) != len(targets):
        raise NcaWorldError(f"import: two files would both become {targets[0].name}: import them separately")
    for (path, rule), target in zip(rules, targets, strict=True):
        save_rule(rule, target)
        card = rule.provenance["imported"]
        target.with_suffix(".md").write_text(
            f"# {target.stem}\n\nImported from `{card['source']}` (sha256 {card['sha256']}) on {card['imported']}, "
            f"format {card['format']}; licence: {card['licence']}.\n\n- **Rule**: {rule.spec.channels} channels, "
            f"hidden {rule.spec.hidden}, no identity channel, fire rate {rule.spec.fire_rate}.\n", encoding="utf-8")
        print(f"{path} -> {target} (library name {target.stem!r})")


def export_model(args: argparse.Namespace) -> None:
    """`nca-world export`: write a model as demo JSON and report what the 8-bit weights change."""
    import numpy as np

    from nca_world.agents.demo_format import demo_json, read_demo_model
    from nca_world.agents.modelfile import load_rule
    from nca_world.sim.world import World

    rule = load_rule(args.model)
    out = args.out or args.model.with_suffix(".json")
    if out.exists():
        raise NcaWorldError(f"{out}: already exists (export never overwrites; remove it or choose --out)")
    try:
        text, error = demo_json(rule)
    except NcaWorldError as problem:
        raise NcaWorldError(f"{args.model}: cannot be written as {args.format}: {problem}") from problem
    out.write_text(text, encoding="utf-8")
    side = rule.target.shape[-2] if rule.target is not None else 72
    grown = []
    for candidate in (rule, read_demo_model(out)):
        world = World(side, side, species={"m": candidate}, seed=0)
        world.spawn("o", "m", (side // 2, side // 2))
        world.step(args.grow_steps)
        grown.append(np.clip(world.rgba, 0.0, 1.0))
    drift = float(np.mean((grown[0] - grown[1]) ** 2))
    print(f"{out}: 8-bit weights, max error {error.max_error:.2e}, RMS {error.rms_error:.2e}; grown "
          f"{args.grow_steps} steps from a seed, RGBA MSE against the unquantised model {drift:.2e}")
