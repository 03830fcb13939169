"""Target images: what a rule learns to grow. All are premultiplied RGBA float32 ``(S, S, 4)``
with ``S = size + 2 * padding``; the shape is scaled so that its longer side is `size` pixels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont, UnidentifiedImageError

from nca_world.agents.errors import ConfigError

EMOJI_FONT_PACKAGE = "fonts-noto-color-emoji"
EMOJI_FONT_PATHS = (
    Path("/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf"),
    Path("/usr/share/fonts/noto/NotoColorEmoji.ttf"),
)
EMOJI_BITMAP_SIZE = 109  # the one size Noto Color Emoji's bitmaps come in
SHAPES = ("disc", "ring", "square", "cross", "triangle")


def premultiplied(image: Image.Image, size: int, padding: int) -> np.ndarray:
    """An RGBA image cropped to its content, fitted into ``size`` px, padded, premultiplied."""
    image = image.convert("RGBA")
    box = image.getchannel("A").getbbox()
    if box is None:
        raise ConfigError("target: the image is fully transparent")
    image = image.crop(box)
    scale = size / max(image.size)
    fitted = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))),
                          Image.Resampling.LANCZOS)
    canvas = Image.new("RGBA", (size + 2 * padding, size + 2 * padding))
    canvas.paste(fitted, (padding + (size - fitted.width) // 2, padding + (size - fitted.height) // 2))
    rgba = np.asarray(canvas, np.float32) / 255.0
    rgba[..., :3] *= rgba[..., 3:4]
    return rgba


def from_png(path: Path, size: int, padding: int) -> np.ndarray:
    """A target from an image file with an alpha channel."""
    try:
        with Image.open(path) as image:
            image.load()
            return premultiplied(image, size, padding)
    except FileNotFoundError as error:
        raise ConfigError(f"{path}: target image not found") from error
    except (UnidentifiedImageError, OSError) as error:
        raise ConfigError(f"{path}: not a readable image ({error})") from error


def emoji_font_path() -> Path:
    """Where the Noto Color Emoji font is; a clear error naming the package when it is missing."""
    for path in EMOJI_FONT_PATHS:
        if path.is_file():
            return path
    raise ConfigError(f"target: emoji targets need the Noto Color Emoji font; install the Debian "
                      f"package {EMOJI_FONT_PACKAGE} (apt-get install {EMOJI_FONT_PACKAGE})")


def from_emoji(emoji: str, size: int, padding: int) -> np.ndarray:
    """A target rendered from one emoji of the Noto Color Emoji font."""
    font = ImageFont.truetype(str(emoji_font_path()), EMOJI_BITMAP_SIZE)
    canvas = Image.new("RGBA", (4 * EMOJI_BITMAP_SIZE, 2 * EMOJI_BITMAP_SIZE))
    ImageDraw.Draw(canvas).text((EMOJI_BITMAP_SIZE // 2, EMOJI_BITMAP_SIZE // 4), emoji, font=font,
                                embedded_color=True)
    return premultiplied(canvas, size, padding)


def from_shape(shape: str, colour: tuple[float, float, float], size: int, padding: int) -> np.ndarray:
    """A flat-coloured procedural shape: one of `SHAPES`."""
    if shape not in SHAPES:
        raise ConfigError(f"target: shape: expected one of {SHAPES}, got {shape!r}")
    n = 4 * size  # draw large, then downsample for smooth edges
    image = Image.new("RGBA", (n, n))
    draw = ImageDraw.Draw(image)
    fill = (*tuple(round(255 * c) for c in colour), 255)
    if shape == "disc":
        draw.ellipse((0, 0, n - 1, n - 1), fill=fill)
    elif shape == "ring":
        draw.ellipse((0, 0, n - 1, n - 1), fill=fill)
        draw.ellipse((n // 4, n // 4, 3 * n // 4, 3 * n // 4), fill=(0, 0, 0, 0))
    elif shape == "square":
        draw.rectangle((0, 0, n - 1, n - 1), fill=fill)
    elif shape == "cross":
        draw.rectangle((n // 3, 0, 2 * n // 3, n - 1), fill=fill)
        draw.rectangle((0, n // 3, n - 1, 2 * n // 3), fill=fill)
    else:
        draw.polygon([(n // 2, 0), (n - 1, n - 1), (0, n - 1)], fill=fill)
    return premultiplied(image, size, padding)


def from_digits(classes: list[int], colour: tuple[float, float, float], size: int, padding: int) -> np.ndarray:
    """One target per digit class, from the 8x8 digits scikit-learn ships: ``(n, S, S, 4)``.

    Each class uses its first sample; intensity becomes alpha.
    """
    from sklearn.datasets import load_digits

    digits = load_digits()
    out = []
    for digit in classes:
        if digit not in range(10):
            raise ConfigError(f"target: classes: expected digits 0-9, got {digit!r}")
        first = digits.images[np.flatnonzero(digits.target == digit)[0]] / 16.0
        alpha = Image.fromarray(np.uint8(255 * first)).resize((size, size), Image.Resampling.NEAREST)
        canvas = Image.new("RGBA", (size, size), (*tuple(round(255 * c) for c in colour), 0))
        canvas.putalpha(alpha)
        out.append(premultiplied_exact(canvas, padding))
    return np.stack(out)


def premultiplied_exact(image: Image.Image, padding: int) -> np.ndarray:
    """Pad without rescaling (for targets already at their size), premultiplied."""
    rgba = np.asarray(image.convert("RGBA"), np.float32) / 255.0
    rgba = np.pad(rgba, ((padding, padding), (padding, padding), (0, 0)))
    rgba[..., :3] *= rgba[..., 3:4]
    return rgba


def silhouette(target: np.ndarray, threshold: float = 0.1) -> np.ndarray:
    """The 1-pixel dilation of a target's body: ``maxpool3x3(alpha) > threshold`` (Stovold 2025).

    `target` is ``(..., S, S, 4)``; returns bool ``(..., S, S)``.
    """
    body = target[..., 3] > threshold
    padded = np.pad(body, [(0, 0)] * (body.ndim - 2) + [(1, 1), (1, 1)])
    out = np.zeros_like(body)
    h, w = body.shape[-2:]
    for dy in range(3):
        for dx in range(3):
            out |= padded[..., dy : dy + h, dx : dx + w]
    return out
