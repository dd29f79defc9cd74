"""Settings out of any sensible range are refused at start-up, one line each; durations take
fractions; the README's configuration table and .env.example name every setting."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from slotqueue.sessions import Timeouts
from slotqueue.settings import ConfigError, Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]
DURATIONS = [name for name in Settings.model_fields if name.endswith(("_seconds", "_minutes"))]


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch, tmp_path):
    """No setting from the machine running the tests, and no .env file."""
    for name in list(os.environ):
        if name.startswith("SLOTQUEUE_") or name == "DATABASE_URL":
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def refusal(monkeypatch, **env: str) -> list[str]:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as refused:
        load_settings()
    return str(refused.value).splitlines()


@pytest.mark.parametrize(("name", "value", "says"), [
    ("SLOTQUEUE_LOCK_TTL_SECONDS", "1e400", "finite"),
    ("SLOTQUEUE_LOCK_TTL_SECONDS", "0", "greater than or equal to 0.1"),
    ("SLOTQUEUE_LOCK_TTL_SECONDS", "86400", "less than or equal to 3600"),
    ("SLOTQUEUE_DEPOSIT_GRACE_MINUTES", "inf", "finite"),
    ("SLOTQUEUE_DEPOSIT_GRACE_MINUTES", "-inf", "finite"),
    ("SLOTQUEUE_DEPOSIT_GRACE_MINUTES", "nan", "finite"),
    ("SLOTQUEUE_DEPOSIT_GRACE_MINUTES", "1e9", "less than or equal to 43200"),
    ("SLOTQUEUE_DISPATCH_INTERVAL_SECONDS", "0.0000001", "greater than or equal to 0.01"),
    ("SLOTQUEUE_DISPATCH_INTERVAL_SECONDS", "1e12", "less than or equal to 3600"),
    ("SLOTQUEUE_DISPATCH_LOOKBACK_MINUTES", "0", "greater than or equal to 0.01"),
    ("SLOTQUEUE_DISPATCH_LOOKBACK_MINUTES", "1e6", "less than or equal to 1440"),
    ("SLOTQUEUE_SLOT_SAFETY_MARGIN_MINUTES", "-1", "greater than or equal to 0"),
    ("SLOTQUEUE_RUN_TIMEOUT_SECONDS", "3e9", "less than or equal to 86400"),
    ("SLOTQUEUE_CONNECT_TIMEOUT_SECONDS", "1", "greater than or equal to 2"),
    ("SLOTQUEUE_CONNECT_TIMEOUT_SECONDS", "nan", "finite"),
    ("SLOTQUEUE_STATEMENT_TIMEOUT_SECONDS", "1e7", "less than or equal to 86400"),
    ("SLOTQUEUE_DEPOSIT_RANK_THRESHOLD", "99999999999", "less than or equal to 10000"),
    ("SLOTQUEUE_DEPOSIT_RANK_THRESHOLD", "0", "greater than or equal to 1"),
    ("SLOTQUEUE_OPPORTUNITY_RANK_THRESHOLD", "2147483648", "less than or equal to 10000"),
    ("SLOTQUEUE_OPPORTUNITY_RANK_THRESHOLD", "1.5", "integer"),
])
def test_a_setting_out_of_range_is_refused_with_one_line_naming_it(
        monkeypatch, name, value, says):
    [line] = refusal(monkeypatch, **{name: value})
    assert line.startswith(f"{name}={value!r}: ")
    assert says in line


def test_several_bad_settings_give_one_line_each(monkeypatch):
    lines = refusal(monkeypatch, SLOTQUEUE_LOCK_TTL_SECONDS="1e400",
                    SLOTQUEUE_DEPOSIT_GRACE_MINUTES="inf",
                    SLOTQUEUE_DEPOSIT_RANK_THRESHOLD="99999999999")
    assert len(lines) == 3
    assert {line.split("=")[0] for line in lines} == {
        "SLOTQUEUE_LOCK_TTL_SECONDS", "SLOTQUEUE_DEPOSIT_GRACE_MINUTES",
        "SLOTQUEUE_DEPOSIT_RANK_THRESHOLD"}


@pytest.mark.parametrize("field", DURATIONS)
def test_every_duration_setting_takes_a_fraction(monkeypatch, field):
    bound = Settings.model_fields[field].metadata
    low = next(m.ge for m in bound if hasattr(m, "ge"))
    value = low + 0.25
    monkeypatch.setenv(f"SLOTQUEUE_{field.upper()}", str(value))
    assert getattr(load_settings(), field) == value


def test_the_issues_fractions_are_accepted(monkeypatch):
    monkeypatch.setenv("SLOTQUEUE_LOCK_TTL_SECONDS", "0.5")
    monkeypatch.setenv("SLOTQUEUE_DISPATCH_LOOKBACK_MINUTES", "0.1")
    settings = load_settings()
    assert (settings.lock_ttl_seconds, settings.dispatch_lookback_minutes) == (0.5, 0.1)


def test_the_defaults_are_inside_their_own_bounds():
    defaults = Settings()
    assert load_settings(**{f: getattr(defaults, f) for f in DURATIONS}) == defaults


def test_a_connect_timeout_becomes_whole_seconds_rounded_up_and_statements_milliseconds():
    assert Timeouts(2.1, 0.25).connect_whole == 3
    assert Timeouts(2.0, 0.25).statement_ms == 250
    assert Timeouts(2.0, 0.25).env() == {"POSTGRES_SESSION_CONNECT_TIMEOUT": "2",
                                         "POSTGRES_SESSION_STATEMENT_TIMEOUT_MS": "250"}


def test_a_refused_database_url_never_shows_its_password(monkeypatch):
    [line] = refusal(monkeypatch, DATABASE_URL="postgresql://app:Sup3rSecret@db.example:5432/x?"
                                               "bogus=1")
    assert "Sup3rSecret" not in line
    assert "postgresql://app:***@db.example:5432/x" in line


def test_text_that_is_not_valid_utf8_is_refused(monkeypatch):
    [line] = refusal(monkeypatch, SLOTQUEUE_PAYMENT_LINK_URL="https://pay.example/\udcff")
    assert line.startswith("SLOTQUEUE_PAYMENT_LINK_URL=")
    assert "not valid UTF-8 text" in line


STRIPE_LINK = "https://buy.stripe.com/6oE8Ab3xY0aB1cD2eF3gH4iJ"


@pytest.mark.parametrize(("env", "named", "says"), [
    ({"SLOTQUEUE_BRAND_NAME": "Hawai\u02bbi DMV"}, "SLOTQUEUE_BRAND_NAME",
     "'\u02bb' is not in the SMS (GSM-7) alphabet"),
    ({"SLOTQUEUE_BRAND_NAME": "DMV \u2022 Queue"}, "SLOTQUEUE_BRAND_NAME",
     "'\u2022' is not in the SMS (GSM-7) alphabet"),
    ({"SLOTQUEUE_BRAND_NAME": "[DMV] {Queue} " + "x" * 24}, "SLOTQUEUE_BRAND_NAME",
     "longer than 40 SMS characters"),
    ({"SLOTQUEUE_PAYMENT_LINK_URL": STRIPE_LINK + "?utm_source=" + "x" * 60},
     "SLOTQUEUE_PAYMENT_LINK_URL", "come to 128 characters, at most 115"),
    ({"SLOTQUEUE_BRAND_NAME": "B" * 40,
      "SLOTQUEUE_PAYMENT_LINK_URL": STRIPE_LINK + "?a=" + "x" * 26},
     "SLOTQUEUE_PAYMENT_LINK_URL", "too long for the deposit text to fit 2 SMS"),
    ({"SLOTQUEUE_PAYMENT_LINK_URL": "https://buy.stripe.com/caf\u00e9`"},
     "SLOTQUEUE_PAYMENT_LINK_URL", "'`' is not in the SMS (GSM-7) alphabet"),
    ({"SLOTQUEUE_BRAND_NAME": "B" * 40, "SLOTQUEUE_PUBLIC_URL": "https://" + "q" * 28},
     "SLOTQUEUE_PUBLIC_URL", "too long for an offer's text to fit 2 SMS: it and "
     "SLOTQUEUE_BRAND_NAME come to 76 characters, at most 75"),
])
def test_a_brand_or_payment_link_that_would_break_two_sms_segments_is_refused(
        monkeypatch, env, named, says):
    [line] = refusal(monkeypatch, **env)
    assert line.startswith(f"{named}=")
    assert says in line


def test_the_longest_brand_takes_a_stripe_payment_link_with_room_to_spare(monkeypatch):
    monkeypatch.setenv("SLOTQUEUE_BRAND_NAME", "B" * 40)
    monkeypatch.setenv("SLOTQUEUE_PAYMENT_LINK_URL", STRIPE_LINK + "?a=" + "x" * 25)
    settings = load_settings()
    assert len(settings.brand_name) + len(settings.payment_link_url or "") == 115


def test_a_dotenv_file_that_is_not_utf8_is_refused_with_one_line(tmp_path):
    (tmp_path / ".env").write_bytes(b"SLOTQUEUE_TIMEZONE=Pacific/Honolulu\nSLOTQUEUE_BOOKER=\xff\n")
    with pytest.raises(ConfigError) as refused:
        load_settings()
    assert str(refused.value) == ".env: not valid UTF-8 text (byte 0xff at offset 53)"


def _readme_rows() -> dict[str, str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return dict(re.findall(r"^\| `((?:SLOTQUEUE_|DATABASE_URL)\w*)` \| ([^|]+) \|", text, re.M))


def _variable(field: str) -> str:
    return "DATABASE_URL" if field == "database_url" else f"SLOTQUEUE_{field.upper()}"


def test_the_readme_configuration_table_names_every_setting_with_its_default():
    rows = _readme_rows()
    assert set(rows) == {_variable(f) for f in Settings.model_fields}
    for field in DURATIONS:
        default = Settings.model_fields[field].default
        assert f"`{default:g}`" in rows[_variable(field)], field


def test_env_example_names_every_setting():
    text = (ROOT / ".env.example").read_text(encoding="utf-8")
    for field in Settings.model_fields:
        assert re.search(rf"^#? ?{_variable(field)}=", text, re.M), field


def test_the_settings_repr_never_shows_the_database_url(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql://app:Sup3rSecret@db.example:5432/x")
    settings = load_settings()
    assert settings.database_url is not None
    assert "Sup3rSecret" not in repr(settings)
