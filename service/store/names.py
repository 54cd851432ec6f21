"""Model names: what the store accepts as a folder name, so that no name reaches outside the
store root and a store can move between filesystems."""

from __future__ import annotations

import re

MODEL_NAME_PATTERN = r"^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,63}$"
# Device names some filesystems reserve, whatever the extension: refused so a store can move.
_RESERVED = re.compile(r"(?i)(con|prn|aux|nul|com[0-9]|lpt[0-9])(\..*)?")


def check_model_name(name: str) -> str:
    """The pattern (ASCII letters, digits, `_.-`, not starting with `.`) and no reserved name."""
    if not re.fullmatch(MODEL_NAME_PATTERN, name) or _RESERVED.fullmatch(name):
        raise ValueError(
            f"model name {name!r} is not allowed: use 1-64 letters, digits, `_`, "
            "`.` or `-`, not starting with `.`, and not a reserved device name"
        )
    return name
