"""Real datasets: verified downloads into a cache, a user data directory, and offline fallbacks."""

from ..environment import cache_dir
from .fetch import DataError, data_dir, download_verified, sha256_of

__all__ = ["DataError", "cache_dir", "data_dir", "download_verified", "sha256_of"]
