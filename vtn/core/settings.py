"""Settings from `VTN_*` environment variables and an optional `.env` file."""

from __future__ import annotations

from functools import lru_cache
from ipaddress import ip_network
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VTN_", env_file=".env", extra="ignore")

    database_url: str = Field(
        "sqlite+aiosqlite:///./vtn.db",
        description="SQLAlchemy async URL: sqlite+aiosqlite:///path or postgresql+asyncpg://…",
    )
    base_path: str = "/openadr3/3.0.1"
    base_path_31: str = Field("/openadr3/3.1.0", description="Base path of the OpenADR 3.1.0 API over the same store "
                              "(docs/openadr-3.1.md); must differ from base_path")
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 1
    public_url: str | None = Field(None, description="External URL of the VTN, used as token issuer")
    max_body_bytes: int = 1_048_576
    # Large uploads (GB readings) are parsed and checked in worker processes, off the event loop that answers polls
    # (vtn.core.offload): bodies of at least offload_body_bytes, offload_concurrency at a time per VTN process.
    offload_processes: int = Field(1, ge=0, le=32, description="Worker processes for large uploads (0: in the request's process)")
    offload_body_bytes: int = Field(65_536, ge=0)
    offload_concurrency: int = Field(1, ge=1, le=64)
    default_page_limit: int = 50
    db_pool_size: int = 10
    log_level: str = Field("info", description="critical, error, warning, info, debug or trace (vtn.* loggers and uvicorn)")
    log_format: Literal["plain", "json"] = Field("plain", description="plain text lines, or one JSON object per line")

    # auth
    auth_mode: Literal["builtin", "external"] = "builtin"
    token_lifetime_seconds: int = 3600
    token_audience: str | None = None
    external_issuer: str | None = None
    external_jwks_url: str | None = None
    external_jwks_file: str | None = None
    external_scope_claim: str = "scope"
    trusted_proxy_cert_header: str | None = None
    trusted_proxies: list[str] = Field(default_factory=list)

    # notifications
    callback_allow_http: bool = False
    callback_allowed_networks: list[str] = Field(default_factory=list)
    callback_echo_check: Literal["enforce", "warn", "off"] = Field(
        "enforce", description="OpenADR 3.1.0 webhook ownership check (GET callbackUrl?echo=, D310:3327) on 3.1.0 "
        "subscription writes: enforce (refuse with 400), warn (log and accept: receivers that do not echo, e.g. "
        "python-oa3-client 0.5.0's), off")
    delivery_enabled: bool = True
    delivery_timeout_seconds: float = 15.0
    delivery_max_attempts: int = 12
    delivery_max_age_seconds: int = 3 * 24 * 3600
    delivery_concurrency_per_callback: int = 2
    comms_loss_seconds: int = 300
    delivery_poll_seconds: float = 2.0
    delivery_retry_base_seconds: float = 5.0
    delivery_retry_max_seconds: float = 6 * 3600.0
    delivery_lease_seconds: float | None = None  # default: delivery_timeout_seconds + 30
    delivery_max_in_flight: int = 64
    heartbeat_flush_seconds: float = 10.0
    # GB: how often the background check raises overdue-acknowledgement alarms (0: never; vtn.contracts.acks)
    gb_ack_check_seconds: float = 30.0

    # MQTT notifier (3.1.0 /notifiers, docs/notifications.md): off unless mqtt_url is set
    mqtt_url: str | None = Field(None, description="Broker the VTN publishes to: mqtt://host:1883 or mqtts://host:8883")
    mqtt_public_uris: list[str] = Field(default_factory=list, description="Broker URIs told to clients (default: mqtt_url)")
    mqtt_username: str | None = Field(None, description="The VTN's own broker user (publisher)")
    mqtt_password: str | None = None
    mqtt_ca_file: str | None = Field(None, description="mqtts: CA bundle the broker's certificate is checked with")
    mqtt_cert_file: str | None = Field(None, description="mqtts: the VTN's client certificate (PEM), if the broker wants one")
    mqtt_key_file: str | None = None
    mqtt_client_auth: Literal["ANONYMOUS", "OAUTH2_BEARER_TOKEN", "CERTIFICATE"] = Field(
        "ANONYMOUS", description="How clients authenticate to the broker, as GET /notifiers tells them")
    mqtt_client_username: str = Field("{clientID}", description="OAUTH2_BEARER_TOKEN: the username clients connect with")
    mqtt_topic_prefix: str = Field("openadr3", description="First level(s) of every topic the VTN publishes")

    # the poll path's memory (docs/benchmarks.md): all bounded
    revision_refresh_seconds: float = Field(
        1.0, ge=0, description="Re-read change revisions at most this often when no LISTEN connection brings them "
        "(SQLite; PostgreSQL while its listener is down): the bound on another process's writes being seen")
    poll_cache_entries: int = Field(20_000, ge=0, description="GET bodies kept in memory, by ETag (0: none)")
    poll_cache_bytes: int = Field(64 * 1024 * 1024, ge=0, description="…and at most this many bytes of them")
    token_cache_entries: int = Field(20_000, ge=0, description="Verified access tokens kept until they expire")
    grant_cache_entries: int = Field(20_000, ge=0, description="VEN grant sets kept per ven/resource revision")

    # console
    console_enabled: bool = True
    console_path: str = "/console"
    console_session_idle_seconds: int = Field(1800, gt=0, description="Console session ends after this idle time")
    console_session_max_seconds: int = Field(12 * 3600, gt=0, description="Console session ends this long after sign-in")
    console_lockout_failures: int = Field(5, gt=0, description="Failed sign-ins in a row that lock an account")
    console_lockout_seconds: int = Field(900, gt=0, description="How long a locked account stays locked")
    console_signin_rate_limit: int = Field(10, gt=0, description="Sign-in attempts per client address and username…")
    console_signin_rate_window_seconds: int = Field(300, gt=0, description="…within this window (per process)")
    console_cookie_secure: Literal["auto", "always", "never"] = Field(
        "auto", description="Secure cookie flag: auto = when the request came over https"
    )
    # second factor and invitations (docs/console.md, "Account lifecycle")
    console_require_mfa: bool = Field(
        True, description="Operator accounts must enrol a TOTP second factor before they can use the console"
    )
    console_totp_issuer: str = Field("gb-openadr3 VTN", min_length=1, max_length=64,
                                     description="Issuer shown by authenticator apps")
    console_code_step_seconds: int = Field(300, gt=0, description="Time to enter the code after a correct password")
    console_invitation_seconds: int = Field(72 * 3600, gt=0, description="How long an invitation link stays valid")
    # FSP "send me a test dispatch" (docs/console.md, "FSP pages")
    console_sandbox_program: str = Field(
        "NGED-OU_2MIN-SANDBOX",
        description="GB program (<operator>-<product>-<suffix>, product with a minutes notice) for FSP test dispatches",
    )
    console_test_dispatch_interval_seconds: float = Field(
        30.0, ge=0, description="Per FSP account (per process): minimum time between two test dispatches"
    )
    # GB profile: the network operator's key signing console dispatches (docs/console.md, "Operator pages")
    gb_signing_key_file: str | None = Field(None, description="ES256 private key (PEM or JWK) signing console dispatches")
    gb_signing_kid: str | None = Field(None, description="Key id of gb_signing_key_file (default: the JWK's kid or thumbprint)")
    gb_operator_keys_file: str | None = Field(
        None, description="Further operator public keys (JWK, JWK Set or PEM, each with a kid) that dispatch signatures "
                          "are verified with: keys retired by rotation, keys the control room's `vtn gb` signs with")
    # GB profile: the dispatching network operator whose licence areas meterable units' MPANs must lie in
    # (GB-V-004). One operator for every client for now; with operator tenancy it becomes the client's operator.
    gb_operator: str | None = Field(None, description="Network operator ID (e.g. NGED) for the MPAN licence-area check")
    # GB delivery reports (vtn/delivery, docs/gb-profile.md §6.7)
    gb_delivery_reports: bool = Field(True, description="Issue a delivery report per GB dispatch after it ends")
    gb_delivery_delay_seconds: int = Field(
        1800, ge=0, le=3300, description="Wait this long after a dispatch's end (readings arrive) before its report; "
                                         "with the worker interval it stays within the hour")
    gb_delivery_worker_seconds: float = Field(60.0, gt=0, description="How often the report worker looks for work")
    gb_delivery_lookback_days: int = Field(14, gt=0, description="Dispatches created this recently are reported")
    gb_statements: bool = Field(True, description="Issue GB monthly statements (provisional on the 1st, final on the "
                                "15th, London time) in a background task")
    gb_statement_worker_seconds: float = Field(300.0, gt=0, description="How often the statement worker looks for work")
    gb_rebound_periods: int = Field(2, ge=0, le=48, description="Settlement periods after a dispatch shown as rebound")

    @field_validator("base_path", "base_path_31")
    @classmethod
    def _normalise_base_path(cls, value: str) -> str:
        value = "/" + value.strip("/")
        return "" if value == "/" else value

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        from vtn.core.logs import LEVELS

        value = value.strip().lower()
        if value not in LEVELS:
            raise ValueError(f"must be one of {', '.join(LEVELS)}")
        return value

    @field_validator("console_path")
    @classmethod
    def _normalise_console_path(cls, value: str) -> str:
        value = "/" + value.strip("/")
        if value == "/":
            raise ValueError("the console needs its own path, e.g. /console")
        return value

    @field_validator("gb_operator")
    @classmethod
    def _known_operator(cls, value: str | None) -> str | None:
        from gb_profile.identifiers import network_operator

        return None if value is None else network_operator(value).id  # UnknownOperator is a ValueError

    @field_validator("callback_allowed_networks", "trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for network in value:
            ip_network(network, strict=False)
        return value

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


@lru_cache
def get_settings() -> Settings:
    return Settings()
