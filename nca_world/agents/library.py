"""The model library: model files found by name.

Folders, searched in this order (the first file named ``<name>.h5`` wins):

1. the folders in ``$NCA_WORLD_MODEL_PATH`` (separated like ``PATH``), added by the user;
2. the user's library, ``$NCA_WORLD_MODELS`` or ``~/.local/share/nca-world/models`` (where
   ``nca-world import`` writes);
3. the bundled zoo (``nca_world/agents/zoo``).
"""

from __future__ import annotations

import os
from pathlib import Path

ZOO = Path(__file__).resolve().parent / "zoo"


def user_folder() -> Path:
    """Where imported models go: ``$NCA_WORLD_MODELS`` or ``~/.local/share/nca-world/models``."""
    configured = os.environ.get("NCA_WORLD_MODELS")
    return Path(configured).expanduser() if configured else Path.home() / ".local" / "share" / "nca-world" / "models"


def folders() -> list[Path]:
    """The library's folders, in search order."""
    added = [Path(p).expanduser() for p in os.environ.get("NCA_WORLD_MODEL_PATH", "").split(os.pathsep) if p]
    return [*added, user_folder(), ZOO]


def is_library_name(text: str) -> bool:
    """Whether `text` reads as a model name rather than a path (no folder, no suffix)."""
    return bool(text) and "/" not in text and "\\" not in text and not Path(text).suffix


def find(name: str) -> Path | None:
    """The model file called `name` in the library, or None."""
    for folder in folders():
        candidate = folder / f"{name}.h5"
        if candidate.is_file():
            return candidate
    return None


def locate(model: str | Path, folder: Path) -> Path:
    """A scenario's model entry as a file: a path relative to `folder` (the scenario's), or else a
    library name found in the library; a missing file is returned as the relative path."""
    path = Path(model).expanduser()
    path = path if path.is_absolute() else folder / path
    if not path.exists() and is_library_name(str(model)):
        return find(str(model)) or path
    return path


def models() -> dict[str, Path]:
    """Every model of the library by name (a name found in several folders: the first one)."""
    found: dict[str, Path] = {}
    for folder in folders():
        if folder.is_dir():
            for path in sorted(folder.glob("*.h5")):
                if not path.name.endswith((".ckpt.h5", ".resume.h5")):
                    found.setdefault(path.stem, path)
    return found
