"""Recordings a call plays: named for a known prompt, servable, and present on disk."""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from pathlib import Path, PurePosixPath, PureWindowsPath

from bot.core.checks.findings import Finding
from bot.core.questionnaire import Questionnaire
from bot.core.voice_prompts import (
    AUDIO_SUFFIXES,
    PHONE_ONLY_FALLBACKS,
    SAY_VOICES,
    all_prompts,
    recording_path,
    recording_url_path,
)

# What a call says for a prompt with no playable recording
# (bot.core.voice_prompts.FALLBACK_VOICE).
_READ_BY_FALLBACK = "calls read it with a French voice"


def needs_recordings(q: Questionnaire) -> bool:
    """Whether any prompt of the file can be a recording."""
    return bool(q.voice.recordings) or any(lang not in SAY_VOICES for lang in q.languages)


def _audio_name_problem(name: str) -> str | None:
    """Why the app's audio route would not serve a file of this name, if it would not."""
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or "\\" in name or PureWindowsPath(name).drive:
        return f"{name} leaves the audio folder (.. or an absolute path): the app never serves it"
    if not name.endswith(AUDIO_SUFFIXES):
        return f"{name} is not a .mp3 or .wav file: the app serves only those"
    return None


def _url_name_problem(name: str) -> str | None:
    """Why a file name is fragile in a URL (a space, an ò...), if it is: calls ask for it
    percent-encoded, and a host or a copy that spells ò another way (macOS decomposes it into
    o and a combining accent) no longer matches it."""
    encoded = recording_url_path(name)
    if encoded == name:
        return None
    odd = sorted({ch for ch in name if recording_url_path(ch) != ch and ch != "/"})
    shown = " ".join("space" if ch == " " else repr(ch)[1:-1] for ch in odd)
    return (
        f"{name} has characters a URL must encode ({shown}): calls fetch it as {encoded}; "
        "rename it with ASCII letters, digits, - and _ so every host and copy serves it"
    )


def _unknown_prompt(prompt: str, prompts: list[str]) -> str:
    kind, _, key = prompt.partition(".")
    if kind == "message" and key in PHONE_ONLY_FALLBACKS:
        return "no such prompt: it is said inside each question, record it with question.<id>"
    close = difflib.get_close_matches(prompt, prompts, n=1)
    guess = f" (did you mean {close[0]}?)" if close else ""
    return f"no such prompt{guess}: calls never play this file"


def check_recordings(q: Questionnaire, audio_dir: Path | None) -> Iterator[Finding]:
    """Every prompt of a language without text-to-speech needs a recording the app can play."""
    prompts = all_prompts(q)
    for lang, files in q.voice.recordings.items():
        if lang not in q.languages:
            yield Finding(
                "warning", f"voice.recordings.{lang}", f"{lang} is not in languages: never played"
            )
        for prompt in files:
            if prompt not in prompts:
                yield Finding(
                    "warning", f"voice.recordings.{lang} {prompt}", _unknown_prompt(prompt, prompts)
                )
    for lang in q.languages:
        files = q.voice.recordings.get(lang, {})
        required = lang not in SAY_VOICES
        fallback = _READ_BY_FALLBACK if required else "calls read it with text-to-speech"
        recorded = 0
        for prompt in prompts:
            where = f"voice.recordings.{lang} {prompt}"
            name = files.get(prompt)
            if name is None:
                if required:
                    yield Finding("warning", where, f"no recording named: {fallback}")
                continue
            problem = _audio_name_problem(name)
            if problem is not None:
                yield Finding("warning", where, problem)
                continue
            fragile = _url_name_problem(name)
            if fragile is not None:
                yield Finding("warning", where, fragile)
            if audio_dir is not None and recording_path(audio_dir, name) is None:
                yield Finding(
                    "warning",
                    where,
                    f"recording {name} not found in {audio_dir}: {fallback} until it exists",
                )
            else:
                recorded += 1
        if not required:
            continue
        if audio_dir is None:
            summary = f"{recorded} of {len(prompts)} prompts name a recording (files not checked)"
        else:
            missing = "" if audio_dir.is_dir() else " (no such folder)"
            summary = f"{recorded} of {len(prompts)} prompts recorded in {audio_dir}{missing}"
        yield Finding("info", f"voice.recordings.{lang}", summary)
