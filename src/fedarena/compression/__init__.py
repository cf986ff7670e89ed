"""Compression of client-to-server updates, with exact byte counts."""

from fedarena.compression.base import COMPRESSORS, Compressor

__all__ = ["COMPRESSORS", "Compressor"]
