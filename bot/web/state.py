"""The state every request shares, built once by the app factory (bot/app.py)."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app
from redis import Redis
from rq import Queue

from bot.core.questionnaire import Questionnaire
from bot.infra.config import Settings
from bot.outreach.waves import RegistryCache
from bot.records.sessions import Conversation


@dataclass(frozen=True)
class AppState:
    """What every request shares: settings, the Redis client, the queue, the questionnaire."""

    settings: Settings
    redis: Redis
    queue: Queue
    questionnaire: Questionnaire
    registry: RegistryCache
    conversation: Conversation  # the same for every message: built once


def state() -> AppState:
    """The running app's shared state."""
    return current_app.extensions["surveybot"]
