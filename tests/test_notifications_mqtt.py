"""The MQTT notifier: the 3.1.0 /notifiers endpoints, publishing from the outbox to a real Mosquitto, topic
privacy (per ven, by the object rule, and by the broker ACL `vtn mqtt acl` generates)."""

from __future__ import annotations

import json
import time

import pytest
from typer.testing import CliRunner

from openadr3.schema import component_errors, response_errors
from tests.conftest import vtn_test_settings
from tests.support.mqtt import Subscriber, broker_url, private_broker, require_broker, unique_prefix
from vtn.core.settings import Settings, get_settings

V31 = "/openadr3/3.1.0"
EVENT_BODY = {"intervals": [{"id": 0, "payloads": [{"type": "PRICE", "values": [1.0]}]}]}


def get31(caller, path: str):  # type: ignore[no-untyped-def]
    """GET under the 3.1.0 mount with the caller's token; the response is checked against the 3.1.0 schema."""
    response = caller.http.get(V31 + path, headers={"Authorization": f"Bearer {caller.token}"})
    if response.status_code >= 400:
        assert response.headers["content-type"].startswith("application/problem+json"), response.text
        assert not component_errors("problem", response.json(), version="3.1.0")
    errors = response_errors("GET", path, response.status_code, response.json(), version="3.1.0")
    assert not errors, f"GET {path} → {response.status_code}: {errors}"
    return response


@pytest.fixture
def prefix() -> str:
    return unique_prefix()


@pytest.fixture
def settings(database_url: str, prefix: str) -> Settings:
    return vtn_test_settings(database_url, mqtt_url=broker_url(), mqtt_topic_prefix=prefix)


def make_ven(bl, clients, name: str):  # type: ignore[no-untyped-def]
    ven = bl.post("/vens", json={"venName": name}).json()
    return ven["id"], clients.ven(name)


def test_notifiers_and_topics_follow_the_privacy_rule(clients, prefix: str) -> None:  # type: ignore[no-untyped-def]
    bl = clients.bl()
    notifiers = get31(bl, "/notifiers").json()
    assert notifiers == {"WEBHOOK": True, "MQTT": {"URIS": [broker_url()], "serialization": "JSON",
                                                    "authentication": {"method": "ANONYMOUS"}}}
    program = bl.post("/programs", json={"programName": "p"}).json()["id"]
    secret = bl.post("/programs", json={"programName": "s", "targets": [{"type": "VEN_NAME", "values": ["b"]}]}).json()["id"]
    a_id, a = make_ven(bl, clients, "a")
    b_id, _b = make_ven(bl, clients, "b")

    assert get31(bl, "/notifiers/mqtt/topics/programs").json()["topics"] == {
        "CREATE": f"{prefix}/programs/+/create", "UPDATE": f"{prefix}/programs/+/update",
        "DELETE": f"{prefix}/programs/+/delete", "ALL": f"{prefix}/programs/+/+"}
    assert get31(bl, f"/notifiers/mqtt/topics/programs/{program}").json()["topics"] == {
        "UPDATE": f"{prefix}/programs/{program}/update", "DELETE": f"{prefix}/programs/{program}/delete",
        "ALL": f"{prefix}/programs/{program}/+"}
    assert get31(bl, "/notifiers/mqtt/topics/events").json()["topics"]["CREATE"] == f"{prefix}/programs/+/events/create"
    assert get31(bl, f"/notifiers/mqtt/topics/programs/{program}/events").json()["topics"]["ALL"] == \
        f"{prefix}/programs/{program}/events/+"
    assert get31(bl, "/notifiers/mqtt/topics/reports").json()["topics"]["CREATE"] == f"{prefix}/reports/create"
    assert get31(bl, "/notifiers/mqtt/topics/subscriptions").json()["topics"]["DELETE"] == f"{prefix}/subscriptions/delete"
    assert get31(bl, "/notifiers/mqtt/topics/vens").json()["topics"]["CREATE"] == f"{prefix}/vens/+/create"
    assert get31(bl, "/notifiers/mqtt/topics/resources").json()["topics"]["CREATE"] == f"{prefix}/vens/+/resources/create"
    assert "CREATE" not in get31(bl, f"/notifiers/mqtt/topics/vens/{b_id}").json()["topics"]
    assert get31(bl, f"/notifiers/mqtt/topics/vens/{b_id}/events").json()["topics"]["CREATE"] == \
        f"{prefix}/vens/{b_id}/programs/+/events/create"

    # a VEN is answered with its own subtree, and only about what it may read
    assert get31(a, "/notifiers").json()["WEBHOOK"] is True
    assert get31(a, "/notifiers/mqtt/topics/programs").json()["topics"]["CREATE"] == f"{prefix}/vens/{a_id}/programs/+/create"
    assert get31(a, f"/notifiers/mqtt/topics/programs/{program}/events").json()["topics"]["CREATE"] == \
        f"{prefix}/vens/{a_id}/programs/{program}/events/create"
    for own in ("", "/events", "/programs", "/resources"):
        assert get31(a, f"/notifiers/mqtt/topics/vens/{a_id}{own}").json()["topics"]["ALL"].startswith(f"{prefix}/vens/{a_id}/")
    assert get31(a, f"/notifiers/mqtt/topics/programs/{secret}").status_code == 404  # targeted at b only
    assert get31(a, f"/notifiers/mqtt/topics/programs/{secret}/events").status_code == 404
    for other in ("", "/events", "/programs", "/resources"):
        assert get31(a, f"/notifiers/mqtt/topics/vens/{b_id}{other}").status_code == 404
    for everything in ("events", "reports", "subscriptions", "vens", "resources"):
        assert get31(a, f"/notifiers/mqtt/topics/{everything}").status_code == 403
    assert get31(bl, "/notifiers/mqtt/topics/programs/nope").status_code == 404
    assert get31(bl, "/notifiers/mqtt/topics/vens/bad%20id").status_code in (400, 404, 422)
    response = bl.http.get(V31 + "/notifiers")
    assert response.status_code == 401 and response.headers["content-type"].startswith("application/problem+json")


def test_without_a_broker_only_webhooks(database_url: str) -> None:
    from fastapi.testclient import TestClient

    from tests.conftest import Clients
    from vtn.app import create_app

    with TestClient(create_app(vtn_test_settings(database_url)), raise_server_exceptions=False) as http:
        bl = Clients(http).bl()
        assert get31(bl, "/notifiers").json() == {"WEBHOOK": True}
        assert get31(bl, "/notifiers/mqtt/topics/programs").status_code == 404


@pytest.fixture
def delivering(database_url: str, prefix: str) -> Settings:
    return vtn_test_settings(database_url, mqtt_url=broker_url(), mqtt_topic_prefix=prefix, delivery_enabled=True,
                             delivery_poll_seconds=0.5, delivery_retry_base_seconds=0.2, delivery_retry_max_seconds=0.5)


def test_published_after_commit_to_the_topics_each_reader_may_see(database_url: str, delivering: Settings, prefix: str) -> None:
    require_broker()
    from fastapi.testclient import TestClient

    from tests.conftest import Clients
    from vtn.app import create_app

    with Subscriber([f"{prefix}/#"]) as everything, TestClient(create_app(delivering), raise_server_exceptions=False) as http:
        clients = Clients(http)
        bl = clients.bl()
        program = bl.post("/programs", json={"programName": "p"}).json()["id"]
        a_id, _ = make_ven(bl, clients, "a")
        b_id, _ = make_ven(bl, clients, "b")
        public = bl.post("/events", json={"programID": program, **EVENT_BODY}).json()["id"]
        for_b = bl.post("/events", json={"programID": program, "targets": [{"type": "VEN_NAME", "values": ["b"]}],
                                         **EVENT_BODY}).json()["id"]
        both = bl.post("/events", json={"programID": program, **EVENT_BODY, "targets": [
            {"type": "VEN_NAME", "values": ["a", "b"]}]}).json()["id"]
        # a refused write commits nothing, so publishes nothing
        assert bl.post("/events", json={"programID": program, "intervals": "x"}).status_code == 400
        got = everything.wait_for(lambda m: sum(x.payload["object"].get("id") in (for_b, both) for x in m) >= 5)
        deadline = time.monotonic() + 10
        while bl.get("/admin/deliveries").json() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert bl.get("/admin/deliveries").json() == []  # every row was acknowledged by the broker, then removed
    by_topic: dict[str, set[str]] = {}
    for message in got:
        by_topic.setdefault(message.topic, set()).add(message.payload["object"]["id"])
        assert message.payload["objectType"] in {"PROGRAM", "EVENT", "VEN"}
        assert message.payload["operation"] == "CREATE"
        if message.payload["objectType"] != "VEN":  # (a 3.1.0 ven fails the YAML's oneOf: tests/test_api_v31.py)
            assert not component_errors("notification", message.payload, version="3.1.0")  # the 3.1.0 form
    # 3.1.0 target hiding: each ven is shown only its own of the event's targets, the BL all of them
    shown = {m.topic: m.payload["object"]["targets"] for m in got if m.payload["object"]["id"] == both}
    assert shown[f"{prefix}/vens/{a_id}/programs/{program}/events/create"] == ["VEN_NAME:a"]
    assert shown[f"{prefix}/vens/{b_id}/programs/{program}/events/create"] == ["VEN_NAME:b"]
    assert sorted(shown[f"{prefix}/programs/{program}/events/create"]) == ["VEN_NAME:a", "VEN_NAME:b"]
    by_topic = {topic: ids - {both} for topic, ids in by_topic.items()}
    assert by_topic[f"{prefix}/programs/{program}/create"] == {program}
    assert by_topic[f"{prefix}/programs/{program}/events/create"] == {public, for_b}
    assert by_topic[f"{prefix}/vens/{a_id}/create"] == {a_id}
    assert by_topic[f"{prefix}/vens/{a_id}/programs/{program}/events/create"] == {public}  # not b's event
    assert by_topic[f"{prefix}/vens/{b_id}/programs/{program}/events/create"] == {public, for_b}
    assert all(len(ids) <= 2 for ids in by_topic.values())
    # the program (made before the vens: no ven topic), its 2 events, the 2 vens, 1 event on a's topic, 2 on b's
    assert sum(len(ids) for ids in by_topic.values()) == 1 + 2 + 2 + 1 + 2


def test_a_ven_cannot_read_another_vens_topics_on_the_broker(tmp_path, monkeypatch, database_url: str, prefix: str) -> None:  # type: ignore[no-untyped-def]
    """The ACL and passwords `vtn mqtt acl` writes, loaded by a real Mosquitto: ven a subscribing to ven b's
    topics (or to everything) receives nothing from the broker; b receives its own."""
    from fastapi.testclient import TestClient

    from tests.conftest import Clients
    from vtn.app import create_app
    from vtn.cli import app as cli

    acl, passwords = tmp_path / "acl", tmp_path / "passwd"
    settings = vtn_test_settings(database_url)  # no MQTT yet: nothing queued before the broker exists
    with TestClient(create_app(settings), raise_server_exceptions=False) as http:
        clients = Clients(http)
        bl = clients.bl(client_id="op")
        program = bl.post("/programs", json={"programName": "p"}).json()["id"]
        a_id = bl.post("/vens", json={"venName": "a"}).json()["id"]
        b_id = bl.post("/vens", json={"venName": "b"}).json()["id"]
        clients.ven("a", client_id="ven-a")
        clients.ven("b", client_id="ven-b")
        clients.ven("c", client_id="ven-c")  # no ven object yet: no topics at all
    for name, value in {"VTN_DATABASE_URL": database_url, "VTN_MQTT_TOPIC_PREFIX": prefix, "VTN_MQTT_USERNAME": "vtn"}.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    result = CliRunner().invoke(cli, ["mqtt", "acl", "--acl-file", str(acl), "--password-file", str(passwords),
                                      "--publisher", "vtn", "--publisher-password", "pub-secret"])
    assert result.exit_code == 0, result.output
    issued = json.loads(result.stdout[result.stdout.index("{"):])
    assert {"vtn", "op", "ven-a", "ven-b", "ven-c"} <= set(issued) and issued["vtn"] == "pub-secret"
    text = acl.read_text()
    assert f"user ven-a\ntopic read {prefix}/vens/{a_id}/#\n" in text and f"user op\ntopic read {prefix}/#" in text
    assert "user ven-c\n\n" in text or text.endswith("user ven-c\n")  # nothing granted
    # re-running (the publisher now from VTN_MQTT_USERNAME) keeps the issued passwords (hashes), issues none
    again = CliRunner().invoke(cli, ["mqtt", "acl", "--acl-file", str(acl), "--password-file", str(passwords)])
    get_settings.cache_clear()
    assert again.exit_code == 0 and json.loads(again.stdout[again.stdout.index("{"):]) == {}

    config = f"allow_anonymous false\npassword_file {passwords}\nacl_file {acl}"
    with private_broker(tmp_path, config) as port:
        with pytest.raises(Exception):  # noqa: B017 - a wrong password is refused at CONNECT
            with Subscriber([f"{prefix}/#"], port=port, username="ven-a", password="wrong"):
                pass
        spy_filters = [f"{prefix}/vens/{b_id}/#", f"{prefix}/#", f"{prefix}/programs/+/events/+"]
        with Subscriber(spy_filters, port=port, username="ven-a", password=issued["ven-a"]) as spy, \
                Subscriber([f"{prefix}/vens/{b_id}/#"], port=port, username="ven-b", password=issued["ven-b"]) as owner, \
                Subscriber([f"{prefix}/vens/{a_id}/#"], port=port, username="ven-a", password=issued["ven-a"]) as own:
            # Mosquitto acknowledges any subscription and checks read access per message: the spy's proof is below
            publish = vtn_test_settings(database_url, mqtt_url=f"mqtt://127.0.0.1:{port}", mqtt_topic_prefix=prefix,
                                        mqtt_username="vtn", mqtt_password="pub-secret", delivery_enabled=True,
                                        delivery_poll_seconds=0.5)
            with TestClient(create_app(publish), raise_server_exceptions=False) as http:
                bl = Clients(http).bl()
                event = bl.post("/events", json={"programID": program, "targets": [{"type": "VEN_NAME", "values": ["b"]}],
                                                 **EVENT_BODY}).json()["id"]
                owner.wait_for(lambda m: any(x.payload["object"]["id"] == event for x in m))
                own.wait_for(lambda m: False, timeout=0.5)
            assert [m.payload["object"]["id"] for m in owner.received()] == [event]
            assert spy.received() == [] and own.received() == []
