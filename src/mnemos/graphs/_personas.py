"""Personas for a brainstorm: who takes part, how they think, and what they tend to bring.

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

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from mnemos.exceptions import ConfigurationError

__all__ = ["BUILTIN_PERSONAS", "Persona", "PersonaSet", "load_personas"]

BUILTIN_PERSONAS = ("business",)


class Persona(BaseModel):
    """One participant: a name, a role, instructions, and the leanings that seed its moves."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    role: str = ""
    instructions: str = ""
    moderator: bool = False
    angles: tuple[str, ...] = ()
    """Ideas this persona tends to bring (offered to it as suggestions, one per turn)."""
    concerns: tuple[str, ...] = ()
    """Questions it tends to raise about others' ideas."""
    likes: tuple[str, ...] = ()
    """Words that make it inclined to vote for an idea."""
    dislikes: tuple[str, ...] = ()
    """Words that make it inclined to vote against."""
    default_vote: int = Field(default=1, ge=-1, le=1)
    budget: int = Field(default=1500, ge=64)
    """The token budget of its view of the transcript."""
    window: int = Field(default=8, ge=1)
    """How many recent messages it sees verbatim (older ones are summarized)."""

    @field_validator("angles", "concerns", "likes", "dislikes", mode="before")
    @classmethod
    def _strings(cls, value: Any) -> Any:
        return (value,) if isinstance(value, str) else value


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
