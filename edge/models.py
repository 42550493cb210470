"""Where the runtime finds its model: an explicit bundle, else the model store's active
version (see :mod:`edge.flash`), else the bundle shipped in the repository."""

from __future__ import annotations

import logging
from pathlib import Path

logger = logging.getLogger(__name__)

SHIPPED_BUNDLE = Path(__file__).resolve().parent.parent / "models" / "digitcam-int8"


def active_in_store(store: str | Path) -> Path | None:
    current = Path(store).expanduser() / "current"
    if current.exists():
        return current.resolve()
    return None


def resolve_bundle(bundle: str | Path | None, store: str | Path | None = None) -> Path:
    if bundle:
        return Path(bundle).expanduser()
    if store is not None:
        active = active_in_store(store)
        if active is not None:
            return active
    return SHIPPED_BUNDLE
