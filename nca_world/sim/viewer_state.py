"""The viewer's state: everything its keys and mouse change (`ViewState`, pure data, so input
handling is tested without a screen) and the choices they step through."""

from __future__ import annotations

import time
from dataclasses import dataclass

# steps per displayed frame: one step every 8 frames ... as fast as the frame budget allows
SPEEDS = (1 / 8, 1 / 4, 1 / 2, 1, 2, 4, 8, 16, 64, float("inf"))
IDENTITY_CHOICES = (1.0, 0.5, 0.0)
BRUSH_MODES = ("cut", "wall", "erase-wall")  # what a left-drag does in a live world


@dataclass
class ViewState:
    """Everything the keys and the mouse change (pure data, so `handle` is easy to test)."""

    paused: bool = False
    speed: int = SPEEDS.index(1)
    view: str = "rgb"
    hidden_channel: int = 4
    brush: float = 5.0
    brush_mode: int = 0  # index in BRUSH_MODES
    species: int = 0
    identity: int = 0
    help: bool = False
    labels: bool = True  # organism names at their centroids
    cutting: bool = False
    moving: str | None = None
    move_anchor: tuple[int, int] = (0, 0)
    seeking: bool = False
    message: str = ""
    message_until: float = 0.0
    last_cut: tuple[int, int, float, float] | None = None  # y, x, radius, until
    frame_debt: float = 0.0
    cursor: tuple[int, int] = (0, 0)
    picking: bool = False  # the model picker's panel is open
    pointer: tuple[int, int] = (0, 0)  # the mouse's last window position (x, y)
    panning: tuple[int, int] | None = None  # a middle-drag's last window position

    def say(self, message: str) -> None:
        """Show `message` in the status line for a few seconds."""
        self.message, self.message_until = message, time.perf_counter() + 3.0
