"""The user's cache folder: ``$XDG_CACHE_HOME/reconciler``, else ``~/.cache/reconciler``.

It holds what is this machine's and no repository's: apply's locks on HubSpot
accounts and the parsed configuration files (:mod:`reconciler.config.cache`).
"""

from __future__ import annotations

import os
from pathlib import Path


def user_cache() -> Path:
    """The folder; it may not exist yet."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "reconciler"
