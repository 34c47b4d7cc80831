"""Sample grids as PNG, written with the standard library (zlib) so no imaging package is needed."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np


def grid(samples: np.ndarray, image_shape: tuple[int, int] = (28, 28), nrow: int = 8, pad: int = 2) -> np.ndarray:
    """samples [N, H*W] in [-1, 1] -> uint8 image [rows*(H+pad)+pad, nrow*(W+pad)+pad], white on black."""
    h, w = image_shape
    n = len(samples)
    rows = -(-n // nrow)
    pixels = np.clip((np.asarray(samples, dtype=np.float64).reshape(n, h, w) + 1.0) * 127.5, 0, 255)
    out = np.zeros((rows * (h + pad) + pad, nrow * (w + pad) + pad), dtype=np.uint8)
    for i in range(n):
        r, c = divmod(i, nrow)
        out[pad + r * (h + pad):pad + r * (h + pad) + h, pad + c * (w + pad):pad + c * (w + pad) + w] = pixels[i].round()
    return out


def png_bytes(image: np.ndarray) -> bytes:
    """A uint8 grey [H, W] or RGB [H, W, 3] image encoded as PNG (what TensorBoard's image summaries hold)."""
    image = np.ascontiguousarray(image, dtype=np.uint8)
    height, width = image.shape[:2]
    colour_type = 2 if image.ndim == 3 else 0
    raw = b"".join(b"\x00" + image[y].tobytes() for y in range(height))  # filter type 0 per row

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))


def write_png(path: str | Path, image: np.ndarray) -> None:
    """Write a uint8 grey [H, W] or RGB [H, W, 3] image as PNG (atomically: temp file + rename)."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(png_bytes(image))
    tmp.replace(path)


def save_grid(path: str | Path, samples: np.ndarray, image_shape: tuple[int, int] = (28, 28), nrow: int = 8) -> None:
    write_png(path, grid(samples, image_shape, nrow))
