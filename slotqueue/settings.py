"""Configuration from the environment (and `.env`), validated at start-up."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import platformdirs
import psycopg
from psycopg.conninfo import conninfo_to_dict
from pydantic import AliasChoices, Field, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from slotqueue.redact import redact


class ConfigError(Exception):
    """One line per bad setting, each naming the variable and the value."""


def _duration(default: float, low: float, high: float) -> Any:
    """A finite number of seconds or minutes, fractions allowed, within [low, high]."""
    return Field(default=default, ge=low, le=high, allow_inf_nan=False)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="SLOTQUEUE_", env_file=".env", extra="ignore", frozen=True
    )

    database_url: str | None = Field(  # repr=False: a password never reaches a repr or a log
        default=None, validation_alias=AliasChoices("DATABASE_URL", "SLOTQUEUE_DATABASE_URL"),
        repr=False,
    )
    data_dir: Path = Field(
        default_factory=lambda: Path(platformdirs.user_data_dir("slotqueue")),
    )
    # Bounds (docs/decisions.md, "Settings"): what an operator could mean, and what
    # PostgreSQL, timedelta and the scheduler accept.
    deposit_rank_threshold: int = Field(default=10, ge=1, le=10_000)
    opportunity_rank_threshold: int = Field(default=20, ge=1, le=10_000)
    deposit_grace_minutes: float = _duration(120.0, 0.01, 43_200)  # 0.6 s .. 30 days
    lock_ttl_seconds: float = _duration(120.0, 0.1, 3_600)
    dispatch_lookback_minutes: float = _duration(3.0, 0.01, 1_440)
    dispatch_interval_seconds: float = _duration(0.2, 0.01, 3_600)
    slot_safety_margin_minutes: float = _duration(10.0, 0.0, 1_440)
    run_timeout_seconds: float = _duration(60.0, 0.1, 86_400)
    connect_timeout_seconds: float = _duration(5.0, 2.0, 300)  # libpq: whole seconds, ≥ 2
    statement_timeout_seconds: float = _duration(30.0, 0.1, 86_400)
    timezone: str = "Pacific/Honolulu"
    booker: Literal["stub", "off", "sim", "http"] = "stub"
    # The operator's booking worker (SLOTQUEUE_BOOKER=http): required then, ignored otherwise.
    booker_url: str | None = Field(default=None, validate_default=True, max_length=500)
    booker_secret: str | None = Field(default=None, validate_default=True, repr=False)
    booker_timeout_seconds: float = _duration(10.0, 0.1, 300)
    log_format: Literal["auto", "json", "console"] = "auto"
    brand_name: str = Field(default="DMV Queue", min_length=1, max_length=40)
    payment_link_url: str | None = None  # a Stripe Payment Link; client_reference_id is added
    # Unset: POST /v1/webhooks/stripe refuses every delivery (503), recording nothing.
    stripe_webhook_secret: str | None = Field(default=None, repr=False)
    http_host: str = Field(default="127.0.0.1", min_length=1, max_length=255)
    http_port: int = Field(default=8000, ge=1, le=65_535)
    public_url: str = Field(default="http://127.0.0.1:8000", max_length=500)
    rate_limit_per_ip: str = "120/minute"
    rate_limit_per_phone: str = "10/10 minutes"
    # Messages (spec service §3): providers, their credentials, retries and quiet hours.
    sms_provider: Literal["console", "twilio"] = "console"
    email_provider: Literal["console", "smtp"] = "console"
    twilio_account_sid: str | None = Field(default=None, validate_default=True, max_length=64)
    twilio_auth_token: str | None = Field(default=None, validate_default=True, repr=False,
                                          max_length=128)
    twilio_from: str | None = Field(default=None, validate_default=True, max_length=64)
    twilio_api_base: str = Field(default="https://api.twilio.com", max_length=500)
    smtp_url: str | None = Field(default=None, validate_default=True, repr=False,
                                 max_length=500)
    email_from: str | None = Field(default=None, validate_default=True, max_length=254)
    delivery_max_attempts: int = Field(default=5, ge=1, le=50)
    delivery_timeout_seconds: float = _duration(10.0, 0.5, 120)
    delivery_concurrency: int = Field(default=4, ge=1, le=32)
    delivery_worker: bool = True  # off: `serve` and `run` leave sending to `slotqueue deliver`
    quiet_hours: str = "21:00-08:00"
    # Offers (spec service §4.2, §4.3): the deployment's booking mode, an offer's life, the
    # priority window and the broadcast after it.
    booking_mode: Literal["auto", "offer"] = "auto"
    offer_minutes: float = _duration(30.0, 0.01, 10_080)  # 0.6 s .. 7 days
    offer_reminder_minutes: float = _duration(10.0, 0.01, 10_080)
    offer_cooldown_minutes: float = _duration(60.0, 0.01, 43_200)
    priority_window: Literal["off", "on"] = "off"
    priority_window_minutes: float = _duration(10.0, 0.01, 10_080)
    broadcast_size: int = Field(default=5, ge=1, le=100)
    # The dashboard (spec service §5): how often a page refreshes itself besides its live
    # stream, and how long a sign-in lasts.
    dashboard_poll_seconds: float = _duration(60.0, 0.5, 3_600)
    dashboard_session_minutes: float = _duration(720.0, 0.1, 43_200)

    @field_validator("booker_url", "booker_secret")
    @classmethod
    def _booker_target(cls, value: str | None, info: ValidationInfo) -> str | None:
        value = value.strip() if isinstance(value, str) else value
        if not value and info.data.get("booker") == "http":
            raise ValueError("required when SLOTQUEUE_BOOKER=http")
        return value or None

    @field_validator("booker_timeout_seconds")
    @classmethod
    def _booker_fits(cls, value: float, info: ValidationInfo) -> float:
        """Every try of one attempt ends before its lock, and before `run` starts a new run
        beside this one: else a second attempt at the slot could overlap the first."""
        from slotqueue.adapters.http_booker import TRIES, worst_case_seconds  # noqa: PLC0415

        limit = min(info.data.get("lock_ttl_seconds", 120.0),
                    info.data.get("run_timeout_seconds", 60.0))
        if info.data.get("booker") == "http" and worst_case_seconds(value) >= limit:
            raise ValueError(f"{TRIES} tries must end within SLOTQUEUE_LOCK_TTL_SECONDS and "
                             f"SLOTQUEUE_RUN_TIMEOUT_SECONDS ({limit:g} s): less than "
                             f"{(limit - worst_case_seconds(0)) / TRIES:.2f}")
        return value

    @field_validator("twilio_account_sid", "twilio_auth_token", "twilio_from")
    @classmethod
    def _twilio(cls, value: str | None, info: ValidationInfo) -> str | None:
        value = value.strip() if isinstance(value, str) else value
        if not value and info.data.get("sms_provider") == "twilio":
            raise ValueError("required when SLOTQUEUE_SMS_PROVIDER=twilio")
        return value or None

    @field_validator("smtp_url", "email_from")
    @classmethod
    def _smtp(cls, value: str | None, info: ValidationInfo) -> str | None:
        value = value.strip() if isinstance(value, str) else value
        if not value:
            if info.data.get("email_provider") == "smtp":
                raise ValueError("required when SLOTQUEUE_EMAIL_PROVIDER=smtp")
            return None
        if info.field_name == "smtp_url":
            parts = urlsplit(value)
            if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
                raise ValueError("not an address like smtp://user:pass@host:587")
            try:
                parts.port  # noqa: B018 - raises on a port that is not a number
            except ValueError:
                raise ValueError("the port is not a number") from None
            return value
        from slotqueue.aggregates.contact import normalise_email  # noqa: PLC0415

        try:
            return normalise_email(value)
        except Exception:
            raise ValueError("not an email address") from None

    @field_validator("quiet_hours")
    @classmethod
    def _quiet(cls, value: str) -> str:
        from slotqueue.aggregates.delivery_policy import QuietHours  # noqa: PLC0415
        from slotqueue.aggregates.errors import InvalidInput  # noqa: PLC0415

        try:
            return str(QuietHours.parse(value))
        except InvalidInput:
            raise ValueError("expected HH:MM-HH:MM, like 21:00-08:00 (start and end differ)"
                             ) from None

    @field_validator("stripe_webhook_secret")
    @classmethod
    def _secret(cls, value: str | None) -> str | None:
        return (value.strip() or None) if isinstance(value, str) else value

    @field_validator("payment_link_url", "public_url", "booker_url", "twilio_api_base")
    @classmethod
    def _web_address(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None if value is None else value
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.netloc or any(
                c.isspace() for c in value.strip()) or len(value) > 500:
            raise ValueError("not an http(s) address")
        return value.strip()

    @field_validator("brand_name", "payment_link_url", "public_url")
    @classmethod
    def _fits_sms(cls, value: str | None, info: ValidationInfo) -> str | None:
        """Texts go by SMS in 2 segments at most (spec service §3): the brand and the link are
        GSM-7 (one other character halves what a text holds) and short enough together."""
        from slotqueue.projections.messages import (  # noqa: PLC0415
            BRAND_AND_LINK,
            BRAND_AND_PUBLIC_URL,
        )
        from slotqueue.projections.sms_segments import measure, not_gsm7  # noqa: PLC0415

        if not value:
            return value
        odd = "".join(sorted(not_gsm7(value)))
        if odd:
            raise ValueError(f"{odd!r} is not in the SMS (GSM-7) alphabet; it would halve what "
                             "a text can hold")
        if info.field_name == "brand_name":
            if measure(value).units > 40:
                raise ValueError("longer than 40 SMS characters (€[]{}~^|\\ count as two)")
            return value
        both = measure(info.data.get("brand_name") or "").units + measure(value).units
        limit, text = ((BRAND_AND_PUBLIC_URL, "an offer's text") if info.field_name == "public_url"
                       else (BRAND_AND_LINK, "the deposit text"))
        if both > limit:
            raise ValueError(f"too long for {text} to fit 2 SMS: it and SLOTQUEUE_BRAND_NAME "
                             f"come to {both} characters, at most {limit}")
        return value

    @field_validator("rate_limit_per_ip", "rate_limit_per_phone")
    @classmethod
    def _rate(cls, value: str) -> str:
        from limits import parse  # noqa: PLC0415 - only what reads it needs the library

        try:
            parse(value)
        except ValueError:
            raise ValueError("not a rate like '120/minute' or '10/10 minutes'") from None
        return value

    @field_validator("*", mode="before")
    @classmethod
    def _utf8_text(cls, value: Any) -> Any:
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise ValueError("not valid UTF-8 text") from None
        return value

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


SECRETS = frozenset({"booker_secret", "stripe_webhook_secret", "twilio_auth_token", "smtp_url"})


def _shown(err: Any) -> str:
    """The refused value as the line shows it: a secret only as whether it was given."""
    value = err.get("input")
    if err["loc"] and str(err["loc"][0]) in SECRETS and value:
        return "'***'"
    return repr(value)


def load_settings(**overrides: object) -> Settings:
    """Reads and validates the settings; raises ConfigError with one line per bad value."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        lines = [
            redact(f"{_variable_name(err['loc'])}={_shown(err)}: ")
            + err["msg"].removeprefix("Value error, ")
            for err in exc.errors()
        ]
        raise ConfigError("\n".join(lines)) from None
    except UnicodeDecodeError as exc:  # .env itself: pydantic-settings reads it as UTF-8
        raise ConfigError(f".env: not valid UTF-8 text (byte {exc.object[exc.start]:#04x} at "
                          f"offset {exc.start})") from None
    except OSError as exc:
        raise ConfigError(f".env: cannot be read ({exc.strerror or exc})") from None
