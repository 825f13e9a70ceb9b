"""VEN configuration: a TOML file, overridden by `VEN_*` environment variables.

Sections and their variables:

- `[vtn]`: `url`, `client_id`, `client_secret` (or `client_secret_file`), `token_url`, `scope`, `ca_file`,
  `client_cert`, `client_key`, `timeout`, `max_retries`, `api_version` (3.0.1|3.1.0) → `VEN_VTN_URL`, …
- `[ven]`: `name`, `mode` (pull|push|mqtt), `poll_interval`, `programs`, `handler`, `log_level`, `json_logs`,
  `state_file` → `VEN_NAME`, `VEN_MODE`, `VEN_POLL_INTERVAL`, … (no section prefix)
- `[push]`: `listen_host`, `listen_port`, `path`, `callback_url`, `fallback_poll_interval`, `signatures`
  → `VEN_PUSH_LISTEN_PORT`, `VEN_PUSH_CALLBACK_URL`, …
- `[mqtt]` (mode mqtt: OpenADR 3.1.0 MQTT notifications): `notifiers_url`, `broker_url`, `username`, `password`,
  `ca_file`, `client_cert`, `client_key`, `fallback_poll_interval` → `VEN_MQTT_BROKER_URL`, …
- `[[resources]]`: `name`, `attributes` (a table: payload type → value or list of values).
- `[gb]` (optional; turns on the GB profile adapter, `ven_client.gb`): `fsp_id`, `operator_id`, `signing_key`,
  `signing_kid`, `require_signature`, `[[gb.operator_keys]]` (`operator`, `file`, `kid`) → `VEN_GB_FSP_ID`, …

List values in the environment are comma separated (`VEN_PROGRAMS=NGED-SU,UKPN-SAOU`) or JSON.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from openadr3.models import ValuesMap

ENV_PREFIX = "VEN_"
PATH_KEYS = ("client_secret_file", "ca_file", "client_cert", "client_key")
GB_PATH_KEYS = ("signing_key",)


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class VtnSettings(Section):
    url: str = Field("http://127.0.0.1:8080/openadr3/3.0.1", description="VTN base URL, with the API base path")
    client_id: str = ""
    client_secret: str = ""
    client_secret_file: Path | None = None
    token_url: str | None = Field(None, description="default: {url}/auth/token")
    token_auth: Literal["basic", "post"] = "basic"
    scope: str | None = None
    ca_file: Path | None = None
    client_cert: Path | None = None
    client_key: Path | None = None
    timeout: float = 10.0
    max_retries: int = 5
    api_version: Literal["3.0.1", "3.1.0"] = Field(
        "3.0.1", description="OpenADR version of the API at `url` (3.1.0: the wire form is converted, openadr3.wire)")

    @model_validator(mode="after")
    def _secret_file(self) -> VtnSettings:
        if not self.client_secret and self.client_secret_file:
            try:
                self.client_secret = self.client_secret_file.read_text().strip()
            except OSError as exc:
                raise ValueError(f"cannot read client_secret_file: {exc}") from exc
        self.url = self.url.rstrip("/")
        return self


class VenSettings(Section):
    name: str = ""
    mode: Literal["pull", "push", "mqtt"] = "pull"
    poll_interval: float = Field(30.0, gt=0, description="seconds between polls in pull mode")
    programs: list[str] = Field(default_factory=list, description="programNames to follow; empty: every visible program")
    handler: str | None = Field(None, description="module:attribute of the event handler class or object")
    log_level: str = "info"
    json_logs: bool = True
    report_name_prefix: str = ""


class PushSettings(Section):
    listen_host: str = "127.0.0.1"
    listen_port: int = 8081
    path: str = "/openadr/notifications"
    callback_url: str | None = Field(None, description="URL the VTN calls; default http://{listen_host}:{listen_port}{path}")
    fallback_poll_interval: float = Field(300.0, gt=0, description="slow poll that catches missed notifications")
    signatures: Literal["require", "if-available", "off"] = "require"
    timestamp_tolerance: float = 300.0

    @property
    def effective_callback_url(self) -> str:
        return self.callback_url or f"http://{self.listen_host}:{self.listen_port}{self.path}"


class MqttSettings(Section):
    """MQTT notifications (OpenADR 3.1.0): the VTN's GET /notifiers says where the broker is and how to log in."""

    notifiers_url: str | None = Field(None, description="the VTN's 3.1.0 base URL; default: [vtn] url with 3.0.1 → 3.1.0")
    broker_url: str | None = Field(None, description="override the broker URI the VTN names (mqtt:// or mqtts://)")
    username: str | None = Field(None, description="broker user; default: as /notifiers says (OAUTH2_BEARER_TOKEN: client id)")
    password: str | None = Field(None, description="broker password; default with OAUTH2_BEARER_TOKEN: the access token")
    ca_file: str | None = None
    client_cert: str | None = None
    client_key: str | None = None
    fallback_poll_interval: float = Field(300.0, gt=0, description="slow poll that catches missed notifications")


class ResourceConfig(Section):
    name: str
    attributes: dict[str, Any] = Field(default_factory=dict)

    def values_maps(self) -> list[ValuesMap]:
        return [ValuesMap(type=k, values=v if isinstance(v, list) else [v]) for k, v in self.attributes.items()]


class OperatorKeyConfig(Section):
    operator: str = Field(description="network operator ID the key belongs to, e.g. NGED")
    file: Path = Field(description="public key: a JWK, a JWK Set ({'keys': [...]}) or a PEM file")
    kid: str | None = Field(None, description="key id; required for PEM files, overrides a JWK's kid")


class GbSettings(Section):
    """The GB profile (docs/gb-profile.md) as the reference VEN applies it (docs/ven.md, "GB profile")."""

    fsp_id: str = Field("", description="FSP ID = venName the operator targets; default: [ven] name")
    operator_id: str | None = Field(None, description="default network operator for readings, heartbeats, emergency stops")
    signing_key: Path | None = Field(None, description="FSP private key (JWK or PEM, P-256) that signs reports")
    signing_kid: str | None = Field(None, description="kid of the signing key (required for PEM)")
    operator_keys: list[OperatorKeyConfig] = Field(default_factory=list)
    require_signature: bool = Field(False, description="refuse dispatches without a valid operator signature")
    acknowledge: bool = Field(True, description="send the read-back acknowledgement of every revision")

    @model_validator(mode="after")
    def _keys_needed(self) -> GbSettings:
        if self.require_signature and not self.operator_keys:
            raise ValueError("gb.require_signature needs at least one [[gb.operator_keys]] entry")
        return self


class VenConfig(Section):
    vtn: VtnSettings = Field(default_factory=VtnSettings)
    ven: VenSettings = Field(default_factory=VenSettings)
    push: PushSettings = Field(default_factory=PushSettings)
    mqtt: MqttSettings = Field(default_factory=MqttSettings)
    resources: list[ResourceConfig] = Field(default_factory=list)
    gb: GbSettings | None = None

    @model_validator(mode="after")
    def _defaults(self) -> VenConfig:
        if not self.ven.name:
            self.ven.name = self.vtn.client_id
        if self.gb is not None and not self.gb.fsp_id:
            self.gb.fsp_id = self.ven.name
        return self

    def check_credentials(self) -> None:
        missing = [n for n, v in (("vtn.url", self.vtn.url), ("vtn.client_id", self.vtn.client_id),
                                  ("vtn.client_secret", self.vtn.client_secret)) if not v]
        if missing and not (self.vtn.client_cert and self.vtn.client_id):
            raise ConfigError(f"missing settings: {', '.join(missing)} (set them in the file or as VEN_* variables)")


class ConfigError(ValueError):
    pass


def _env_value(raw: str, annotation: Any) -> Any:
    text = raw.strip()
    if "list" in str(annotation):
        if text.startswith("["):
            return json.loads(text)
        return [part.strip() for part in text.split(",") if part.strip()]
    return raw


def _env_overrides(environ: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    overrides: dict[str, dict[str, Any]] = {}
    sections: dict[str, type[Section]] = {"vtn": VtnSettings, "push": PushSettings, "mqtt": MqttSettings, "gb": GbSettings}
    for section, model in {**sections, "ven": VenSettings}.items():
        for field_name, info in model.model_fields.items():
            key = ENV_PREFIX + (f"{section}_{field_name}" if section in sections else field_name).upper()
            if key in environ and field_name != "operator_keys":
                overrides.setdefault(section, {})[field_name] = _env_value(environ[key], info.annotation)
    return overrides


def load_config(path: str | Path | None = None, environ: Mapping[str, str] | None = None) -> VenConfig:
    """Read `path` (TOML; optional) and apply `VEN_*` overrides from `environ` (default: os.environ)."""
    environ = os.environ if environ is None else environ
    data: dict[str, Any] = {}
    if path is None and environ.get("VEN_CONFIG"):
        path = environ["VEN_CONFIG"]
    if path is not None:
        try:
            with open(path, "rb") as handle:
                data = tomllib.load(handle)
        except FileNotFoundError as exc:
            raise ConfigError(f"config file {path} not found") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path}: {exc}") from exc
        # Files named in the config are relative to the config file, not to the working directory.
        vtn = data.get("vtn")
        if isinstance(vtn, dict):
            for key in PATH_KEYS:
                if isinstance(vtn.get(key), str) and not Path(vtn[key]).expanduser().is_absolute():
                    vtn[key] = str(Path(path).resolve().parent / vtn[key])
        gb = data.get("gb")
        if isinstance(gb, dict):
            entries = [gb] + [k for k in gb.get("operator_keys", []) if isinstance(k, dict)]
            for entry in entries:
                for key in (*GB_PATH_KEYS, "file"):
                    if isinstance(entry.get(key), str) and not Path(entry[key]).expanduser().is_absolute():
                        entry[key] = str(Path(path).resolve().parent / entry[key])
    for section, values in _env_overrides(environ).items():
        data.setdefault(section, {}).update(values)
    try:
        return VenConfig.model_validate(data)
    except ValueError as exc:
        raise ConfigError(f"invalid configuration: {exc}") from exc
