"""Models embedded in a recording while it is written: those of species added during the run.

A SWMR writer cannot create groups, so these models go into two growable datasets created with
the file (plain arrays and JSON, never pickle):

- ``/added_models/arrays`` float32 ``(N,)``: every array of every added model, flattened and
  concatenated;
- ``/added_models/index`` strings ``(M,)``: one JSON record per model: ``species``, ``spec``
  (as in a model file), ``provenance`` and ``arrays`` (name: ``[offset, shape]``).

Species the world has when the file is created stay in ``/models/<species>``. A file without
these datasets (written before them) holds no added model.
"""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np

from nca_world.agents.errors import ModelFileError, RecordingError
from nca_world.agents.spec import PERCEPTION, Rule, RuleSpec

ARRAYS = "added_models/arrays"
INDEX = "added_models/index"


def create(file: h5py.File) -> None:
    """Create the (empty, growable) datasets in a recording being created."""
    file.create_dataset(ARRAYS, (0,), np.float32, maxshape=(None,), chunks=(16384,))
    file.create_dataset(INDEX, (0,), h5py.string_dtype(), maxshape=(None,), chunks=(16,))


def arrays_of(rule: Rule) -> dict[str, np.ndarray]:
    """The float32 arrays stored for `rule`: its weights and, if any, its target."""
    arrays = dict(rule.weights())
    if rule.target is not None:
        arrays["target"] = np.asarray(rule.target, np.float32)
    return arrays


def nbytes(rule: Rule) -> int:
    """About how many bytes `append` writes for `rule`."""
    return sum(a.nbytes for a in arrays_of(rule).values()) + 4096


def holds(file: h5py.File, species: str) -> bool:
    """Whether an open recording holds a model of `species` (in ``/models`` or added)."""
    return species in file["models"] or any(json.loads(text)["species"] == species for text in file[INDEX][()])


def append(file: h5py.File, species: str, rule: Rule) -> None:
    """Append the model of `species` to an open recording (in SWMR mode too)."""
    arrays, index = file[ARRAYS], file[INDEX]
    start = offset = arrays.shape[0]
    places, flat = {}, []
    for name, array in arrays_of(rule).items():
        places[name] = [offset, list(array.shape)]
        flat.append(array.ravel())
        offset += array.size
    record = {"species": species, "spec": {**rule.spec.to_json_dict(), "perception": PERCEPTION},
              "provenance": rule.provenance, "arrays": places}
    data = np.concatenate(flat)
    arrays.resize(start + len(data), axis=0)
    arrays[start:] = data
    index.resize(index.shape[0] + 1, axis=0)
    index[-1] = json.dumps(record)


def read(file: h5py.File, path: Path) -> dict[str, Rule]:
    """The added models of an open recording by species name; a damaged one raises
    `RecordingError` naming the file and the species."""
    if INDEX not in file:
        return {}
    flat = file[ARRAYS][()]
    rules = {}
    for number, text in enumerate(file[INDEX][()]):
        where = f"{path}: /{INDEX}[{number}]"
        try:
            record = json.loads(text)
            fields = dict(record["spec"])
            if fields.pop("perception", PERCEPTION) != PERCEPTION:
                raise ValueError(f"perception: expected {PERCEPTION!r}")
            arrays = {name: flat[offset : offset + int(np.prod(shape))].reshape(shape)
                      for name, (offset, shape) in record["arrays"].items()}
            rules[record["species"]] = Rule(RuleSpec(**fields), target=arrays.pop("target", None),
                                            provenance=record["provenance"], **arrays)
        except (KeyError, TypeError, ValueError, ModelFileError) as error:
            raise RecordingError(f"{where}: expected an added model (species, spec, provenance, arrays), "
                                 f"got a damaged one ({error})") from error
    return rules
