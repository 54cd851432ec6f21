"""Model names: what the store accepts as a folder name, so that no name reaches outside the
store root and a store can move between filesystems."""

from __future__ import annotations

import re

# Device names some filesystems reserve, whatever the case and extension: refused so a store can
# move. Spelled without inline flags so that the pattern reads the same in Python and in the
# ECMA-262 dialect of JSON Schema: the OpenAPI document carries this very pattern.
_RESERVED = (
    r"(?:[Cc][Oo][Nn]|[Pp][Rr][Nn]|[Aa][Uu][Xx]|[Nn][Uu][Ll]|[Cc][Oo][Mm][0-9]|[Ll][Pp][Tt][0-9])"
    r"(?:\.|$)"
)
MODEL_NAME_PATTERN = rf"^(?!{_RESERVED})[A-Za-z0-9_-][A-Za-z0-9_.-]{{0,63}}$"
_NAME = re.compile(MODEL_NAME_PATTERN)
# An alias starts with a letter, so that it is never read as a version number.
ALIAS_PATTERN = r"^[A-Za-z][A-Za-z0-9_-]{0,63}$"


def check_model_name(name: str) -> str:
    """ASCII letters, digits, `_.-`, 1-64 characters, not starting with `.`, no reserved name."""
    if not _NAME.fullmatch(name):
        raise ValueError(
            f"model name {name!r} is not allowed: use 1-64 letters, digits, `_`, "
            "`.` or `-`, not starting with `.`, and not a reserved device name (con, nul, ...)"
        )
    return name
