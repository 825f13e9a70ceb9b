"""VEN configuration: TOML file plus VEN_* environment overrides; webhook signature checks (unit)."""

from __future__ import annotations

import base64
import re
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from ven_client.config import ConfigError, load_config
from ven_client.webhook import SignatureError, parse_public_keys, verify_signature

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "ven.toml"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "ven.toml"
    path.write_text(text)
    return path


def test_toml_and_defaults(tmp_path: Path) -> None:
    path = write(tmp_path, """
[vtn]
url = "http://127.0.0.1:9000/openadr3/3.0.1/"
client_id = "ven-a-client"
client_secret = "s3cret"

[ven]
name = "ven-a"
mode = "push"
programs = ["NGED-SU"]

[push]
listen_port = 9100

[[resources]]
name = "battery-1"
attributes = { MAX_POWER_EXPORT = 50.0, GB_RESOURCE_ROLE = "DISPATCH_UNIT" }
""")
    config = load_config(path, environ={})
    assert config.vtn.url == "http://127.0.0.1:9000/openadr3/3.0.1"
    assert config.ven.name == "ven-a" and config.ven.mode == "push" and config.ven.programs == ["NGED-SU"]
    assert config.push.effective_callback_url == "http://127.0.0.1:9100/openadr/notifications"
    assert config.ven.poll_interval == 30.0
    maps = config.resources[0].values_maps()
    assert [(m.type, m.values) for m in maps] == [("MAX_POWER_EXPORT", [50.0]), ("GB_RESOURCE_ROLE", ["DISPATCH_UNIT"])]
    config.check_credentials()


def test_environment_overrides_file(tmp_path: Path) -> None:
    path = write(tmp_path, '[vtn]\nclient_id = "a"\nclient_secret = "file"\n[ven]\nname = "ven-a"\n')
    secret_file = tmp_path / "secret"
    secret_file.write_text("from-file\n")
    env = {
        "VEN_VTN_CLIENT_SECRET": "env-secret", "VEN_NAME": "ven-b", "VEN_POLL_INTERVAL": "2.5",
        "VEN_PROGRAMS": "NGED-SU, UKPN-SAOU", "VEN_PUSH_LISTEN_PORT": "9200", "VEN_MODE": "push",
    }
    config = load_config(path, environ=env)
    assert config.vtn.client_secret == "env-secret"
    assert config.ven.name == "ven-b" and config.ven.poll_interval == 2.5 and config.ven.mode == "push"
    assert config.ven.programs == ["NGED-SU", "UKPN-SAOU"]
    assert config.push.listen_port == 9200
    # Environment only, secret from a file, ven name defaulting to the client id.
    config = load_config(None, environ={"VEN_VTN_CLIENT_ID": "ven-c", "VEN_VTN_CLIENT_SECRET_FILE": str(secret_file)})
    assert config.vtn.client_secret == "from-file" and config.ven.name == "ven-c"


def test_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.toml", environ={})
    with pytest.raises(ConfigError, match="invalid"):
        load_config(write(tmp_path, '[ven]\nmode = "sideways"\n'), environ={})
    with pytest.raises(ConfigError, match="invalid"):
        load_config(write(tmp_path, '[ven]\nunknown_key = 1\n'), environ={})
    with pytest.raises(ConfigError, match="client_secret"):
        load_config(None, environ={"VEN_VTN_CLIENT_ID": "x"}).check_credentials()


def test_example_config_loads() -> None:
    config = load_config(EXAMPLE, environ={"VEN_VTN_CLIENT_SECRET": "x"})
    assert config.ven.handler and config.resources


def sign(key: Ed25519PrivateKey, msg_id: str, timestamp: int, body: bytes) -> str:
    return "v1a," + base64.b64encode(key.sign(f"{msg_id}.{timestamp}.".encode() + body)).decode()


def test_signature_verification_and_key_document_shapes() -> None:
    key = Ed25519PrivateKey.generate()
    raw = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    jwk = {"keys": [{"kty": "OKP", "crv": "Ed25519", "kid": "k1", "x": base64.urlsafe_b64encode(raw).rstrip(b"=").decode()}]}
    whpk = {"keys": [{"kid": "k1", "publicKey": "whpk_" + base64.b64encode(raw).decode()}]}
    for document in (jwk, whpk, "whpk_" + base64.b64encode(raw).decode()):
        assert len(parse_public_keys(document)) == 1
    keys = parse_public_keys(jwk)
    now = int(time.time())
    body = b'{"objectType":"EVENT"}'
    verify_signature(keys, "msg_1", str(now), body, sign(key, "msg_1", now, body))
    verify_signature(keys, "msg_1", str(now), body, "v1,abc " + sign(key, "msg_1", now, body))  # several signatures
    with pytest.raises(SignatureError):
        verify_signature(keys, "msg_1", str(now), body + b" ", sign(key, "msg_1", now, body))
    with pytest.raises(SignatureError):
        verify_signature(keys, "msg_1", str(now), body, sign(Ed25519PrivateKey.generate(), "msg_1", now, body))
    with pytest.raises(SignatureError, match="tolerance"):
        verify_signature(keys, "msg_1", str(now - 3600), body, sign(key, "msg_1", now - 3600, body))


DOCS = Path(__file__).resolve().parent.parent / "docs" / "ven.md"


def test_every_command_flag_and_variable_in_the_guide_exists() -> None:
    import typer

    from ven_client import cli
    from ven_client.config import GbSettings, PushSettings, VenSettings, VtnSettings

    text = DOCS.read_text()
    lines = [m.group(1) for m in re.finditer(r"^(?:[A-Z_]+=\S+ )*ven (.+)$", text, re.M)]
    lines += re.findall(r"`ven ([^`]+)`", text)
    root = typer.main.get_command(cli.app)
    checked = set()
    for line in lines:
        words = line.split()
        command = root
        while hasattr(command, "commands") and words and not words[0].startswith("-"):
            name = words.pop(0).split("/")[0]
            assert name in command.commands, f"docs/ven.md: `ven {line}`: no command {name!r}"
            command = command.commands[name]
        options = {opt for param in command.params for opt in param.opts}
        for flag in re.findall(r"(?<![\w-])--[a-z][a-z-]*", line):
            assert flag in options, f"docs/ven.md: `ven {line}`: {command.name} has no option {flag}"
            checked.add((command.name, flag))
    assert len(checked) >= 15

    sections = {"VTN": VtnSettings, "PUSH": PushSettings, "GB": GbSettings}
    known = {"VEN_CONFIG"} | {f"VEN_{name.upper()}" for name in VenSettings.model_fields}
    known |= {f"VEN_{prefix}_{name.upper()}" for prefix, model in sections.items() for name in model.model_fields}
    documented = {v for v in re.findall(r"\bVEN_[A-Z_]+[A-Z]\b", text)}
    assert documented and documented <= known, documented - known
