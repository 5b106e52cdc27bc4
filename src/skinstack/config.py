"""The one settings object: every environment variable SkinStack reads is a field here."""

from __future__ import annotations

import base64
import os
import secrets
import tempfile
from decimal import Decimal
from functools import lru_cache
from ipaddress import IPv4Network, IPv6Network
from pathlib import Path
from typing import Annotated

import platformdirs
from cryptography.fernet import Fernet
from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from skinstack.kit.money import to_minor


def _env(*names: str) -> AliasChoices:
    return AliasChoices(*names)


class Settings(BaseSettings):
    """Process configuration, read from the environment (names as in API.md)."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    database_url: str | None = Field(default=None, validation_alias=_env("DATABASE_URL"))
    """postgresql://user:password@host:port/db (libpq's ?host=/socket form too); unset: embedded."""

    redis_url: str | None = Field(default=None, validation_alias=_env("REDIS_URL"))
    """Shared counters and cache invalidation across processes; unset: in-process only."""

    secret_key: SecretStr | None = Field(default=None, validation_alias=_env("SECRET_KEY"))
    """Signs access tokens; unset: generated once and kept in the data directory."""

    encryption_keys: SecretStr | None = Field(
        default=None, validation_alias=_env("ENCRYPTION_KEYS")
    )
    """Comma-separated Fernet keys, newest first (MultiFernet); unset: generated once and kept."""

    hash_key: SecretStr | None = Field(default=None, validation_alias=_env("HASH_KEY"))
    """Key of the keyed hashes (HMAC) that stand in for IPs and emails; unset: generated once."""

    base_url: str = Field(default="http://127.0.0.1:8000", validation_alias=_env("BASE_URL"))
    short_domain: str = Field(
        default="http://127.0.0.1:8000", validation_alias=_env("SHORT_DOMAIN")
    )

    stripe_secret_key: SecretStr | None = Field(
        default=None, validation_alias=_env("STRIPE_SECRET_KEY")
    )
    stripe_api_base: str = Field(
        default="https://api.stripe.com", validation_alias=_env("STRIPE_API_BASE")
    )
    paypal_client_id: str | None = Field(default=None, validation_alias=_env("PAYPAL_CLIENT_ID"))
    paypal_secret: SecretStr | None = Field(default=None, validation_alias=_env("PAYPAL_SECRET"))
    paypal_api_base: str = Field(
        default="https://api-m.paypal.com", validation_alias=_env("PAYPAL_API_BASE")
    )

    stripe_webhook_secret: SecretStr | None = Field(
        default=None, validation_alias=_env("STRIPE_WEBHOOK_SECRET"))
    """Signs Stripe's events to POST /webhooks/stripe (`whsec_…`); unset: refused with 401."""
    paypal_webhook_id: str | None = Field(default=None, validation_alias=_env("PAYPAL_WEBHOOK_ID"))
    """PayPal's id of our webhook, part of every event's verification; unset: refused."""

    # Payouts (issue 17). Money settings are decimal strings in the currency's major units.
    payouts_require_tax_info: bool = Field(
        default=True, validation_alias=_env("PAYOUTS_REQUIRE_TAX_INFO"))
    """A payout waits until the influencer's tax form (W-9 or W-8BEN) is received."""
    payout_destination_cooldown_hours: int = Field(
        default=48, ge=0, validation_alias=_env("PAYOUT_DESTINATION_COOLDOWN_HOURS"))
    """After a destination already set is replaced, payouts wait this long (takeover fraud)."""
    payout_minimum: Decimal = Field(
        default=Decimal("50.00"), gt=0, validation_alias=_env("PAYOUT_MINIMUM"))
    """The smallest payout in any currency that PAYOUT_MINIMUMS does not name."""
    payout_minimums: Annotated[dict[str, Decimal], NoDecode] = Field(
        default_factory=dict, validation_alias=_env("PAYOUT_MINIMUMS"))
    """Per currency, e.g. `EUR=40,GBP=40`."""
    payout_fees: Annotated[dict[str, tuple[Decimal, Decimal]], NoDecode] = Field(
        default_factory=lambda: {"stripe": (Decimal("2.9"), Decimal("0.30")),
                                 "paypal": (Decimal("2.9"), Decimal("0.30")),
                                 "ach": (Decimal("0"), Decimal("0.50"))},
        validation_alias=_env("PAYOUT_FEES"))
    """Processing fee per method: percent of the payout plus a fixed amount, e.g.
    `stripe=2.9%+0.30,paypal=2.9%+0.30,ach=0%+0.50` (see payouts.fees for the rounding)."""
    payout_schedule_enabled: bool = Field(
        default=False, validation_alias=_env("PAYOUT_SCHEDULE_ENABLED"))
    """The worker creates last month's batch on the 1st of each month (UTC); off by default."""
    ach_origin_routing: str = Field(
        default="091000019", validation_alias=_env("ACH_ORIGIN_ROUTING"))
    """The originating bank's routing number (ODFI), nine digits."""
    ach_destination_name: str = Field(
        default="ORIGINATING BANK", validation_alias=_env("ACH_DESTINATION_NAME"))
    ach_company_id: str = Field(default="1234567890", validation_alias=_env("ACH_COMPANY_ID"))
    """Our company identification with the bank (10 characters, often 1 + EIN)."""
    ach_company_name: str = Field(default="SKINSTACK", validation_alias=_env("ACH_COMPANY_NAME"))
    tax_report_thresholds: Annotated[dict[int, Decimal], NoDecode] = Field(
        default_factory=lambda: {2025: Decimal("600.00"), 2026: Decimal("2000.00")},
        validation_alias=_env("TAX_REPORT_THRESHOLDS"))
    """The yearly tax report's threshold in USD (1099-NEC), from the year named on, e.g.
    `2025=600,2026=2000`: a year uses the entry of the latest year listed not after it, a year
    before every listed one the earliest entry (payouts.tax_report.threshold)."""

    data_dir: Path = Field(
        default_factory=lambda: Path(platformdirs.user_data_dir("skinstack")),
        validation_alias=_env("SKINSTACK_DATA_DIR"),
    )
    """Embedded PostgreSQL, generated keys and the click spool live here."""

    access_token_expire_minutes: int = Field(
        default=30, ge=1, le=24 * 60, validation_alias=_env("ACCESS_TOKEN_EXPIRE_MINUTES")
    )
    login_max_failures: int = Field(
        default=10, ge=1, validation_alias=_env("LOGIN_MAX_FAILURES")
    )
    login_window_seconds: int = Field(
        default=15 * 60, ge=1, validation_alias=_env("LOGIN_WINDOW_SECONDS")
    )
    max_body_bytes: int = Field(
        default=1024 * 1024, ge=1024, validation_alias=_env("MAX_BODY_BYTES"))
    import_max_bytes: int = Field(
        default=256 * 1024 * 1024, ge=1024, validation_alias=_env("IMPORT_MAX_BYTES"))
    """Largest product import upload (streamed to a temporary file, never held in memory)."""
    trusted_country_header: str | None = Field(
        default=None, validation_alias=_env("TRUSTED_COUNTRY_HEADER"))
    """A CDN's country header to believe (e.g. CF-IPCountry); unset: looked up offline."""
    trusted_proxies: Annotated[tuple[IPv4Network | IPv6Network, ...], NoDecode] = Field(
        default=(), validation_alias=_env("TRUSTED_PROXIES"))
    """Networks (CIDRs or single addresses, comma-separated) of the load balancers and proxies
    in front of the service: their X-Forwarded-For / Forwarded names the client (see
    kit.forwarded); unset: the socket's peer is the client and those headers are ignored."""
    redirect_fast_lane: bool = Field(default=True, validation_alias=_env("REDIRECT_FAST_LANE"))
    """Answer cached /l/ redirects in the server's HTTP protocol (redirect.protocol); off, or
    when the installed uvicorn is not the one it was tested with: uvicorn's stock protocol, and
    the ASGI route answers them (redirect.lane)."""
    log_level: str = Field(default="INFO", validation_alias=_env("LOG_LEVEL"))
    db_pool_size: int = Field(default=10, ge=1, validation_alias=_env("DB_POOL_SIZE"))

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _networks(cls, value: object) -> object:
        if isinstance(value, str):  # "10.0.0.0/8, 192.0.2.7 2001:db8::/32"
            return tuple(part for part in value.replace(",", " ").split())
        return value

    @field_validator("payout_minimums", mode="before")
    @classmethod
    def _minimums(cls, value: object) -> object:
        if isinstance(value, str):  # "EUR=40,GBP=40.00"
            pairs = (part.split("=", 1) for part in value.replace(" ", "").split(",") if part)
            return {currency.upper(): amount for currency, amount in pairs}
        return value

    @field_validator("payout_fees", mode="before")
    @classmethod
    def _fees(cls, value: object) -> object:
        if isinstance(value, str):  # "stripe=2.9%+0.30,ach=0%+0.50"
            fees = {}
            for part in value.replace(" ", "").split(","):
                if not part:
                    continue
                method, _, fee = part.partition("=")
                percent, _, fixed = fee.partition("%+")
                fees[method] = (percent, fixed or "0")
            return fees
        return value

    @field_validator("tax_report_thresholds", mode="before")
    @classmethod
    def _thresholds(cls, value: object) -> object:
        if isinstance(value, str):  # "2025=600,2026=2000.00"
            pairs = (part.split("=", 1) for part in value.replace(" ", "").split(",") if part)
            value = {year: amount for year, amount in pairs}
        return value

    @field_validator("tax_report_thresholds")
    @classmethod
    def _thresholds_in_cents(cls, value: dict[int, Decimal]) -> dict[int, Decimal]:
        if not value:
            raise ValueError("name at least one year, e.g. 2026=2000")
        for year, amount in value.items():
            if not 1900 <= year <= 9999:
                raise ValueError(f"{year} is not a year")
            if to_minor(amount, "USD") < 0:  # MoneyError (a ValueError) past two decimals
                raise ValueError(f"{year}: a threshold is not negative")
        return dict(sorted(value.items()))

    @field_validator("data_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @field_validator("database_url", "redis_url", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    # Keys: explicit environment values win; otherwise one value per data directory, shared by
    # every process that uses it (two processes must accept each other's tokens).

    def jwt_secret(self) -> str:
        if self.secret_key is not None:
            return self.secret_key.get_secret_value()
        return persisted_secret(self.data_dir, "secret_key", lambda: secrets.token_urlsafe(48))

    def fernet_keys(self) -> list[bytes]:
        if self.encryption_keys is not None:
            raw = self.encryption_keys.get_secret_value()
        else:
            raw = persisted_secret(
                self.data_dir, "encryption_keys", lambda: Fernet.generate_key().decode()
            )
        return [key.strip().encode() for key in raw.split(",") if key.strip()]

    def pii_hash_key(self) -> bytes:
        if self.hash_key is not None:
            return self.hash_key.get_secret_value().encode()
        value = persisted_secret(
            self.data_dir, "hash_key", lambda: base64.urlsafe_b64encode(os.urandom(32)).decode()
        )
        return value.encode()


def persisted_secret(data_dir: Path, name: str, generate) -> str:
    """Returns the secret kept in `data_dir/keys/name`, creating it once, atomically.

    The file is written to a temporary name and hard-linked into place; `link` fails when the
    name exists, so concurrent first starts agree on one value (the loser reads the winner's).
    """
    keys_dir = data_dir / "keys"
    keys_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = keys_dir / name
    if not path.exists():
        fd, tmp = tempfile.mkstemp(dir=keys_dir, prefix=f".{name}.")
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(generate())
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp, 0o600)
            try:
                os.link(tmp, path)
            except FileExistsError:
                pass
        finally:
            os.unlink(tmp)
    return path.read_text().strip()


@lru_cache
def get_settings() -> Settings:
    """The process's settings, read once."""
    return Settings()
