"""Who came from whom: the lineage of fissions and each organism's share of a body taken over.

- ``lineage`` (from the ``split`` events of the log, `sim.fission`): one row per child: the step
  of the split, the child and its parent (names and numbers) and the cells it started with.
- ``body_shares`` (per ``convert`` event, `sim.events.convert`): the original body is the cells
  owned by the organism converted from or by the organisms its ``convert`` events of that step
  made, in the first frame at or after that step (``body_step``; the convert step itself when
  frames are recorded there). For that frame and every later one, one row per owner of body cells
  (``nobody`` for dead cells): how many body cells it owns and their share of the body.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

LINEAGE_COLUMNS = {"step": "int64", "child": "object", "child_index": "int64", "parent": "object",
                   "parent_index": "int64", "cells": "int64"}
SHARE_COLUMNS = {"convert_step": "int64", "source": "object", "body_step": "int64", "body_cells": "int64",
                 "step": "int64", "organism": "int64", "name": "object", "cells": "int64", "share": "float64"}
NOBODY = "nobody"


def lineage_table(events: list[dict[str, Any]], names: dict[int, str]) -> pd.DataFrame:
    """The ``lineage`` table of a recording's event log (`names`: organism names by number)."""
    rows = []
    for record in events:
        if record["event"]["kind"] != "split":
            continue
        parent = int(record["effect"]["parent"])
        for child in record["effect"]["children"]:
            rows.append((int(record["step"]), child["name"], int(child["index"]),
                         names.get(parent, record["event"]["organism"]), parent, int(child["cells"])))
    frame = pd.DataFrame(rows, columns=list(LINEAGE_COLUMNS)) if rows else pd.DataFrame(
        {c: [] for c in LINEAGE_COLUMNS})
    return frame.astype(LINEAGE_COLUMNS)


class BodyShares:
    """Collects the ``body_shares`` table frame by frame (`frame`, in step order), then `table`."""

    def __init__(self, events: list[dict[str, Any]], names: dict[int, str]) -> None:
        self.names = names
        by_name = {name: index for index, name in names.items()}
        groups: dict[tuple[int, str], list[int]] = {}  # (step, source) -> the organisms made from it
        for record in events:
            if record["event"]["kind"] == "convert":
                key = (int(record["step"]), record["event"]["organism"])
                groups.setdefault(key, []).append(int(record["effect"]["index"]))
                by_name.setdefault(record["event"]["name"], int(record["effect"]["index"]))
        self.takeovers = [(step, source, [by_name.get(source, -1), *made]) for (step, source), made in groups.items()]
        self.bodies: list[tuple[int, np.ndarray] | None] = [None] * len(self.takeovers)
        self.rows: list[tuple] = []

    def frame(self, step: int, owner: np.ndarray) -> None:
        """Take one frame's owner map ``(H, W)`` into the table."""
        for i, (convert_step, source, owners) in enumerate(self.takeovers):
            if step < convert_step:
                continue
            if self.bodies[i] is None:
                self.bodies[i] = (step, np.isin(owner, owners))
            body_step, body = self.bodies[i]  # type: ignore[misc]
            total = int(body.sum())
            counts = np.bincount(owner[body].ravel())
            for k in np.nonzero(counts)[0]:
                name = NOBODY if k == 0 else self.names.get(int(k), str(k))
                self.rows.append((convert_step, source, body_step, total, step, int(k), name, int(counts[k]),
                                  counts[k] / total))

    def table(self) -> pd.DataFrame:
        """The ``body_shares`` table (see the module docstring)."""
        if not self.rows:
            return pd.DataFrame({c: [] for c in SHARE_COLUMNS}).astype(SHARE_COLUMNS)
        return pd.DataFrame(self.rows, columns=list(SHARE_COLUMNS)).astype(SHARE_COLUMNS)
