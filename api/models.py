"""Request and response bodies of the HTTP API (pydantic), with examples for /docs."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

PHONE = Field(min_length=1, max_length=40, examples=["808-555-0101"])


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class VerificationIn(Strict):
    phone: str = PHONE


class VerificationOut(BaseModel):
    sent_to: str = Field(examples=["+1 808 •••-0101"])
    expires_at: datetime


class CustomerIn(Strict):
    phone: str = PHONE
    code: str = Field(pattern=r"^[0-9]{6}$", examples=["492817"])
    email: str | None = Field(default=None, max_length=254, examples=["ana@example.com"])


class CustomerOut(BaseModel):
    customer_id: UUID
    queue_entry_id: UUID
    customer_token: str = Field(description="Shown once; send it as `Authorization: Bearer`.")


class WindowsIn(Strict):
    horizon: str = Field(max_length=64, examples=["w4"])
    blocks: list[str] = Field(min_length=1, max_length=20, examples=[["early", "afternoon"]])
    weekdays: Literal["any"] | list[int] = Field(default="any", examples=["any", [1, 3, 5]])
    timezone: str | None = Field(default=None, max_length=64, examples=["Pacific/Honolulu"])


class LocationsIn(Strict):
    location_ids: list[str] = Field(min_length=1, max_length=50, description=(
        "Location ids or names (case-insensitive)."), examples=[["Kapolei", "Kaneohe"]])


class EntryOut(BaseModel):
    queue_entry_id: UUID
    customer_id: UUID
    status: str
    deposit_status: str
    rank: int | None = None
    deposit_due: datetime | None = None
    deposit_due_local: str | None = None


class Preset(BaseModel):
    preset_type: str
    key: str
    label: str
    rules: dict[str, object]


class Location(BaseModel):
    id: UUID
    name: str
