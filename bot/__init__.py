"""surveybot: an SMS survey of how safe immigrant communities feel asking for help.

`create_app` is the only way to get the web app; nothing connects at import time, and
importing `bot` (as the workers do for its config and models) does not import Flask.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flask import Flask

__all__ = ["create_app"]


def create_app(overrides: dict[str, Any] | None = None) -> Flask:
    """Build the web app from the environment (and `.env`), with `overrides` on top."""
    from bot.app import create_app as _create_app

    return _create_app(overrides)
