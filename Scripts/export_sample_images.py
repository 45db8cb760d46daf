#!/usr/bin/env python3
"""Writes small colour sample photos for the examples into Examples/images/.

The photos come from scikit-image's bundled data (skimage.data); only ones whose docstrings
state public domain or CC0 are used (see Examples/images/README.md). Each is downsized with
Pillow's Lanczos filter to SHORT_SIDE pixels on its short side and written as an 8-bit RGB PNG
with no metadata, so running the script again gives byte-identical files.

Usage: python3 Scripts/export_sample_images.py [output directory]
"""
import os
import sys

import numpy as np
from PIL import Image
import skimage
import skimage.data

SHORT_SIDE = 128

# name -> licence as stated in the skimage.data docstring (scikit-image 0.26).
PHOTOS = {
    "astronaut": "public domain (NASA; 'No known copyright restrictions, released into the public domain')",
    "coffee": "CC0 (photographer Rachel Michetti, courtesy of Pikolo Espresso Bar)",
    "chelsea": "CC0 (photographer Stefan van der Walt)",
    "rocket": "public domain (SpaceX launch photo of DSCOVR on Falcon 9)",
}


def downsized(pixels):
    image = Image.fromarray(np.asarray(pixels, dtype=np.uint8), mode="RGB")
    width, height = image.size
    scale = SHORT_SIDE / min(width, height)
    size = (max(SHORT_SIDE, round(width * scale)), max(SHORT_SIDE, round(height * scale)))
    return image.resize(size, Image.LANCZOS)


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "Examples", "images")
    os.makedirs(out, exist_ok=True)
    for name in PHOTOS:
        image = downsized(getattr(skimage.data, name)())
        path = os.path.join(out, name + ".png")
        tmp = path + ".tmp"
        image.save(tmp, format="PNG", optimize=True)
        os.replace(tmp, path)
        print(f"wrote {path}: {image.size[0]}x{image.size[1]}, {os.path.getsize(path)} bytes "
              f"(scikit-image {skimage.__version__})")


if __name__ == "__main__":
    main()
