"""Personas for a brainstorm: who takes part, how they think, and how they lean when they vote.

A persona holds a role, instructions and voting leanings, never ready-made
ideas or critiques: those come from the model, about the topic of the session.

A persona file (TOML, JSON, or YAML when PyYAML is installed) holds a team
name and a list of personas; ``builtin`` (or ``builtin:business``) names the
files shipped in ``mnemos/graphs/personas/``. See ``docs/brainstorm.md``.
"""

from __future__ import annotations

import json
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from mnemos.exceptions import ConfigurationError

__all__ = ["BUILTIN_PERSONAS", "Persona", "PersonaSet", "load_personas"]

BUILTIN_PERSONAS = ("business",)


_IDEA_FIELDS = ("angles", "concerns", "ideas", "critiques")


class Persona(BaseModel):
    """One participant: a name, a role, instructions, and voting leanings."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    role: str = ""
    instructions: str = ""
    moderator: bool = False
    likes: tuple[str, ...] = ()
    """What makes it inclined to vote for an idea (told to its model as a leaning)."""
    dislikes: tuple[str, ...] = ()
    """What makes it inclined to vote against."""
    default_vote: int = Field(default=1, ge=-1, le=1)
    """Its vote when it cannot tell: 1 for, -1 against, 0 none."""
    budget: int = Field(default=1500, ge=64)
    """The token budget of its view of the transcript."""
    window: int = Field(default=8, ge=1)
    """How many recent messages it sees verbatim (older ones are summarized)."""

    @model_validator(mode="before")
    @classmethod
    def _no_ready_made_ideas(cls, data: Any) -> Any:
        if isinstance(data, dict):
            found = [k for k in _IDEA_FIELDS if k in data]
            if found:
                raise ValueError(
                    f"{', '.join(found)}: a persona holds a role, instructions and voting leanings "
                    "(likes, dislikes, default_vote), not ready-made ideas; ideas come from the model"
                )
        return data

    @field_validator("likes", "dislikes", mode="before")
    @classmethod
    def _strings(cls, value: Any) -> Any:
        return (value,) if isinstance(value, str) else value

    def leanings(self) -> str:
        """The voting leanings as one sentence for a prompt ('' when it has none)."""
        parts = []
        if self.likes:
            parts.append("you favour ideas that are " + ", ".join(self.likes))
        if self.dislikes:
            parts.append("you oppose ideas that are " + ", ".join(self.dislikes))
        if self.default_vote:
            parts.append("when unsure you vote " + ("for" if self.default_vote > 0 else "against"))
        return ("When you vote: " + "; ".join(parts) + ".") if parts else ""


class PersonaSet(BaseModel):
    """A team of personas."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    team: str = Field(default="default", pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    description: str = ""
    personas: tuple[Persona, ...] = Field(min_length=1)

    @field_validator("personas")
    @classmethod
    def _unique(cls, value: tuple[Persona, ...]) -> tuple[Persona, ...]:
        names = [p.name for p in value]
        if len(set(names)) != len(names):
            raise ValueError(f"persona names repeat: {names}")
        if sum(p.moderator for p in value) > 1:
            raise ValueError("at most one persona is the moderator")
        if all(p.moderator for p in value):
            raise ValueError("a brainstorm needs at least one persona besides the moderator")
        return value


def load_personas(source: str | Path = "builtin") -> PersonaSet:
    """A persona set from a file, or ``"builtin"`` / ``"builtin:NAME"``."""
    text = str(source)
    if text == "builtin" or text.startswith("builtin:"):
        name = text.partition(":")[2] or BUILTIN_PERSONAS[0]
        if name not in BUILTIN_PERSONAS:
            raise ConfigurationError(f"no built-in personas {name!r}; built in: {', '.join(BUILTIN_PERSONAS)}")
        data = tomllib.loads(resources.files("mnemos.graphs.personas").joinpath(f"{name}.toml").read_text("utf-8"))
        return _validate(data, text)
    path = Path(text).expanduser()
    if not path.is_file():
        raise ConfigurationError(f"no persona file {path}; give a .toml, .json or .yaml file, or 'builtin'")
    raw = path.read_text("utf-8")
    try:
        if path.suffix == ".json":
            data = json.loads(raw)
        elif path.suffix in (".yaml", ".yml"):
            try:
                import yaml
            except ImportError:
                raise ConfigurationError("YAML persona files need PyYAML: pip install pyyaml") from None
            data = yaml.safe_load(raw)
        else:
            data = tomllib.loads(raw)
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        raise ConfigurationError(f"cannot read persona file {path}: {exc}") from None
    return _validate(data, str(path))


def _validate(data: Any, where: str) -> PersonaSet:
    try:
        return PersonaSet.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'file'}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigurationError(f"invalid personas in {where}: {problems}") from None
