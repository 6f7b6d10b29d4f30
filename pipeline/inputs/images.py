"""Images a user gives as maps: a density of sites (``emitters.density_file``), a background map
(``background.map_file``), an illumination profile (``illumination.file``).

TIFF (one 2-D page) or PNG (grey, or RGB(A): the mean of the colour channels, alpha ignored). Values
must be finite and non-negative, and not all zero.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from ..errors import InputFileError
from .files import TIFF_SIGNATURES, read_head

_EXPECTED = "a TIFF (one 2-D page) or PNG image of finite, non-negative values, not all zero"
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def load_image(path) -> np.ndarray:
    """The image as float64 (rows = y, columns = x), read-only; read once per path in a process."""
    return _load(str(path))


@lru_cache(maxsize=8)
def _load(p: str) -> np.ndarray:
    head = read_head(p, _EXPECTED)
    try:
        if head.startswith(TIFF_SIGNATURES):
            import tifffile

            with tifffile.TiffFile(p) as tif:
                if len(tif.pages) != 1:
                    raise InputFileError(p, f"a TIFF of {len(tif.pages)} pages", _EXPECTED)
                page = tif.pages[0]
                image = page.asarray()
                if page.photometric == tifffile.PHOTOMETRIC.PALETTE:  # indices into a colour map: its colours
                    image = np.moveaxis(np.asarray(page.colormap)[:, image], 0, -1)
        elif head.startswith(_PNG_SIGNATURE):
            from PIL import Image

            with Image.open(p) as png:
                # a palette image holds indices into its colour table: use the colours (then their mean, as RGB)
                image = np.asarray(png.convert("RGBA") if png.mode in ("P", "PA") else png)
        else:
            raise InputFileError(p, "neither a TIFF nor a PNG file", _EXPECTED)
    except InputFileError:
        raise
    except Exception as e:  # noqa: BLE001 - any decoder failure is a bad file
        raise InputFileError(p, f"an unreadable image ({e})", _EXPECTED) from None
    if np.iscomplexobj(image):
        raise InputFileError(p, "an image of complex numbers", _EXPECTED)
    image = np.asarray(image, dtype=np.float64)
    if image.ndim == 3 and image.shape[-1] in (3, 4):
        image = image[..., :3].mean(axis=-1)
    if image.ndim != 2:
        raise InputFileError(p, f"an image of shape {image.shape}", _EXPECTED)
    if not np.all(np.isfinite(image)) or image.min() < 0 or not image.any():
        raise InputFileError(p, "negative, non-finite or only zero values", _EXPECTED)
    image.flags.writeable = False
    return image
