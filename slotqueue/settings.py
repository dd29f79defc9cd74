"""Configuration from the environment (and `.env`), validated at start-up."""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import platformdirs
import psycopg
from psycopg.conninfo import conninfo_to_dict
from pydantic import AliasChoices, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class ConfigError(Exception):
    """One line per bad setting, each naming the variable and the value."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="SLOTQUEUE_", env_file=".env", extra="ignore", frozen=True
    )

    database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("DATABASE_URL", "SLOTQUEUE_DATABASE_URL")
    )
    data_dir: Path = Field(
        default_factory=lambda: Path(platformdirs.user_data_dir("slotqueue")),
    )
    deposit_rank_threshold: int = Field(default=10, ge=1)
    opportunity_rank_threshold: int = Field(default=20, ge=1)
    deposit_grace_minutes: float = Field(default=120.0, gt=0)
    lock_ttl_seconds: int = Field(default=120, ge=1)
    dispatch_lookback_minutes: int = Field(default=3, ge=1)
    dispatch_interval_seconds: float = Field(default=0.2, gt=0)
    slot_safety_margin_minutes: float = Field(default=10.0, ge=0)
    run_timeout_seconds: float = Field(default=60.0, gt=0)
    timezone: str = "Pacific/Honolulu"
    booker: Literal["stub", "off", "sim"] = "stub"
    log_format: Literal["auto", "json", "console"] = "auto"
    brand_name: str = Field(default="DMV Queue", min_length=1, max_length=40)
    payment_link_url: str | None = None  # a Stripe Payment Link; client_reference_id is added

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown timezone {value!r}") from None
        return value

    @field_validator("database_url")
    @classmethod
    def _postgres_url(cls, value: str | None) -> str | None:
        if value is None or value.strip() == "":
            return None
        try:
            conninfo_to_dict(value)
        except psycopg.ProgrammingError:
            raise ValueError("not a PostgreSQL connection string (postgresql://…)") from None
        return value


def _variable_name(loc: tuple[int | str, ...]) -> str:
    field = str(loc[0]) if loc else "?"
    if field in ("database_url", "SLOTQUEUE_DATABASE_URL", "DATABASE_URL"):
        return "DATABASE_URL"
    return field if field.isupper() else f"SLOTQUEUE_{field.upper()}"


def load_settings(**overrides: object) -> Settings:
    """Reads and validates the settings; raises ConfigError with one line per bad value."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        lines = [
            f"{_variable_name(err['loc'])}={err.get('input')!r}: "
            + err["msg"].removeprefix("Value error, ")
            for err in exc.errors()
        ]
        raise ConfigError("\n".join(lines)) from None
