"""Running a loaded sweep on Dask, and its result files.

Runs go to a `distributed.Client`: a `LocalCluster` with one single-threaded worker per core by
default, or an existing scheduler. Each finished run writes ``runs/<id>.json`` (and its per-step
series, `sim.study_measures`), so a rerun skips it and an interrupted sweep keeps what finished; a
changed setting gives new ids (`sim.sweep_ids`), so nothing stale is reused. ``results.csv`` holds
one row per run, ``controls.csv`` one per distinct control, ``series.h5`` every run's per-step
series and ``sweep.json`` the sweep's axes and report defaults.
"""

from __future__ import annotations

import hashlib
import json
import os
import traceback
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from nca_world.agents.errors import NcaWorldError, ScenarioError
from nca_world.sim import study_measures, sweep_ids
from nca_world.sim.sweep import Sweep
from nca_world.sim.sweep_summary import summarise

CONNECT_TIMEOUT = 5  # seconds to reach a scheduler before the sweep is refused


class SweepError(NcaWorldError):
    """A sweep cannot start: bad options (workers, scheduler) or an unreachable cluster."""


def run_one(scenario_path: str, run: dict[str, Any], out_dir: str, keep: bool, metrics: list[str]) -> dict[str, Any]:
    """One run (on a worker): the scenario with the run's fields, then its metrics and per-step
    series. Never raises: a failure becomes a row with the error."""
    import time

    import numba

    from nca_world.sim.analysis import analyze
    from nca_world.sim.recording import open_recording
    from nca_world.sim.runner import run_scenario
    from nca_world.sim.scenario import load_scenario

    threads = numba.get_num_threads()
    numba.set_num_threads(1)  # one single-threaded worker per core
    runs = Path(out_dir) / "runs"
    recording = runs / f"{run['id']}.h5"
    row: dict[str, Any] = {"id": run["id"], "seed": run["seed"], "error": ""}
    if run["kind"] == "run":
        row.update({**run["parameters"], "control": run.get("control")})
    start = time.perf_counter()
    try:
        for name, (model, digest) in run.get("models", {}).items():
            if hashlib.sha256(Path(model).read_bytes()).hexdigest() != digest:
                raise ScenarioError(f"species {name}: model file {model} changed after the sweep was loaded "
                                    "(its id would not match its result); rerun the sweep")
        scenario = load_scenario(Path(scenario_path), fields=run["fields"])
        # the sweep's own file, by run id; one thread (else the run's tuner would try all of them)
        run_scenario(scenario, out=recording, progress=False, overwrite="any", threads=1)
        with open_recording(recording) as opened:
            analysis = analyze(opened)
            series = study_measures.series_of(analysis, opened)
        summary = {**summarise(analysis), **study_measures.run_measures(series)}
        row.update({k: v for k, v in summary.items() if _kept(k, metrics)})
        study_measures.write_run_series(series, runs / f"{run['id']}.series.h5")
        row["seconds"] = round(time.perf_counter() - start, 3) if "seconds" in metrics else None
    except Exception as error:
        row["error"] = f"{type(error).__name__}: {error}"
        row["traceback"] = traceback.format_exc(limit=3)
    finally:
        numba.set_num_threads(threads)
        if not keep:
            recording.unlink(missing_ok=True)
    row = {k: v for k, v in row.items() if v is not None}
    (runs / f"{run['id']}.json").write_text(json.dumps(row, default=_plain))
    return row


def _kept(column: str, metrics: list[str]) -> bool:
    """A summary column is kept if its metric is: ``breakdown_step_first`` belongs to ``breakdown_step``
    (the longest per-organism measure its name starts with)."""
    owners = [m for m in study_measures.PER_ORGANISM if column.startswith(f"{m}_")]
    return column in metrics or (bool(owners) and max(owners, key=len) in metrics)


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else str(value)


def check_options(sweep: Sweep, scheduler: str | None, workers: int | None) -> None:
    """Refuse bad `--workers` and malformed `--scheduler` addresses before anything starts."""
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise SweepError(f"{sweep.path}: --workers: expected a positive number of local workers, got {workers!r}")
    if scheduler is not None:
        from distributed.comm.addressing import parse_address, parse_host_port

        try:
            protocol, location = parse_address(scheduler)
            if protocol in ("tcp", "tls", "ws", "wss", "ucx"):
                host, port = parse_host_port(location)
                if not host or not 0 < int(port) < 65536:
                    raise ValueError(f"expected a host and a port in 1..65535, got {location!r}")
        except (ValueError, TypeError) as error:
            raise SweepError(f"{sweep.path}: --scheduler: expected an address like tcp://HOST:8786, got "
                             f"{scheduler!r} ({error})") from error


def connect(sweep: Sweep, scheduler: str | None, workers: int | None):
    """A `distributed.Client`: to the scheduler (refused within `CONNECT_TIMEOUT` s if unreachable),
    or to a new `LocalCluster`; returns ``(client, cluster or None)``."""
    from distributed import Client, LocalCluster

    if scheduler is None:
        cluster = LocalCluster(n_workers=workers or os.cpu_count() or 1, threads_per_worker=1,
                               processes=True, dashboard_address=None)
        return Client(cluster), cluster
    try:
        return Client(scheduler, timeout=CONNECT_TIMEOUT), None
    except (OSError, TimeoutError) as error:
        raise SweepError(f"{sweep.path}: --scheduler: cannot reach {scheduler} within {CONNECT_TIMEOUT} s "
                         f"({error})") from error


def run_sweep(sweep: Sweep, out_dir: Path, *, scheduler: str | None = None, workers: int | None = None,
              progress: bool = True) -> pd.DataFrame:
    """Every run (and control) not finished yet, on Dask; returns (and writes) the results table."""
    from distributed import as_completed
    from tqdm import tqdm

    check_options(sweep, scheduler, workers)
    (out_dir / "runs").mkdir(parents=True, exist_ok=True)
    jobs = sweep.jobs()
    todo = [r for r in jobs if not (out_dir / "runs" / f"{r['id']}.json").exists()]
    arguments = (str(sweep.scenario.resolve()), str(out_dir.resolve()), sweep.file.keep_recordings,
                 sweep.file.metrics)
    if todo:
        client, cluster = connect(sweep, scheduler, workers)
        try:
            futures = [client.submit(run_one, arguments[0], job, *arguments[1:], key=f"run-{job['id']}", pure=False)
                       for job in todo]
            with tqdm(total=len(jobs), initial=len(jobs) - len(todo), disable=not progress, unit="run") as bar:
                for _ in as_completed(futures):
                    bar.update(1)
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
    return collect(sweep, out_dir)


def collect(sweep: Sweep, out_dir: Path) -> pd.DataFrame:
    """The results table of the finished runs, in grid order, written to ``results.csv``; also
    ``controls.csv``, ``series.h5`` and ``sweep.json``. With controls, each run's relative
    measures (``<measure>_vs_control``: run minus its control) are added."""
    table = _rows(sweep.runs(), out_dir)
    for column, values in sweep.file.grid.items():
        if column in table and any(isinstance(v, str) for v in values):
            table[column] = table[column].map(lambda v: sweep.file.labels.get(v, v))
    if sweep.file.control:
        controls = _rows(sweep.controls(), out_dir)
        table = study_measures.relative_to_controls(table, controls)
        controls.to_csv(out_dir / "controls.csv", index=False)
    table.to_csv(out_dir / "results.csv", index=False)
    study_measures.merge_series(out_dir / "runs", [job["id"] for job in sweep.jobs()], out_dir / "series.h5")
    (out_dir / "sweep.json").write_text(json.dumps({
        "sweep": str(sweep.path), "grid": sweep.file.grid, "seeds": sweep.file.seeds, "labels": sweep.file.labels,
        "metrics": sweep.file.metrics, "controls": bool(sweep.file.control), "report": sweep.report_defaults(),
        "software": sweep_ids.software_version(), "measures_version": sweep_ids.MEASURES_VERSION,
        "code": sweep_ids.code_version()},
        default=str))
    return table


def _rows(jobs: list[dict[str, Any]], out_dir: Path) -> pd.DataFrame:
    rows = []
    for job in jobs:
        path = out_dir / "runs" / f"{job['id']}.json"
        if path.exists():
            rows.append(json.loads(path.read_text()))
    return pd.DataFrame(rows)


def run_in_process(sweep: Sweep, out_dir: Path) -> pd.DataFrame:
    """The same runs one by one in this process (no Dask): the reference for the sweep tests."""
    (out_dir / "runs").mkdir(parents=True, exist_ok=True)
    for job in sweep.jobs():
        run_one(str(sweep.scenario.resolve()), job, str(out_dir.resolve()), sweep.file.keep_recordings,
                sweep.file.metrics)
    return collect(sweep, out_dir)
