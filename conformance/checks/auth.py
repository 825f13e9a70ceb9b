"""F.1 token endpoint and authentication, F.2 scope enforcement."""

from __future__ import annotations

import base64

from conformance import fixtures as fx
from conformance.core import ONLY_310, Fail, Session, Skip, body_dict, body_list, check, ensure, expect, register

A = "auth"
SC = "scopes"


def _auth_error(s: Session, resp, statuses: set[int], errors: set[str]) -> str | None:
    expect(resp, statuses)
    body = body_dict(resp)
    ensure(body.get("error") in errors, f"error should be one of {sorted(errors)}, got {body.get('error')!r}", resp)
    return None


@check(
    "C001",
    "Token endpoint issues a Bearer token for form-posted client credentials",
    area=A,
    source="Y301:1704-1723, 2505-2539; RFC 6749 §5.1",
)
def c001(s: Session) -> str | None:
    resp = s.fetch_token(*s.config.bl_client)
    expect(resp, 200, "token request")
    body = body_dict(resp)
    token = body.get("access_token")
    ensure(isinstance(token, str) and 0 < len(token) <= 4096, "access_token must be a string of 1..4096 chars", resp)
    ensure(body.get("token_type") == "Bearer", f"token_type must be 'Bearer', got {body.get('token_type')!r}", resp)
    if "expires_in" in body:
        ensure(isinstance(body["expires_in"], int) and body["expires_in"] > 0, "expires_in must be a positive integer", resp)
    ensure("no-store" in resp.headers.get("cache-control", ""), "RFC 6749 §5.1: Cache-Control: no-store missing", resp)
    return None


@check("C002", "Wrong client_secret → 400/401 invalid_client", area=A, source="Y301:1724-1729, 2540-2556; RFC 6749 §5.2")
def c002(s: Session) -> str | None:
    return _auth_error(s, s.fetch_token(s.config.bl_client[0], "wrong-" + s.prefix), {400, 401}, {"invalid_client"})


@check("C003", "grant_type=password → 400 unsupported_grant_type", area=A, source="Y301:2482-2486, 2554")
def c003(s: Session) -> str | None:
    cid, secret = s.config.bl_client
    resp = s.raw("POST", s.token_url, data={"grant_type": "password", "client_id": cid, "client_secret": secret})
    return _auth_error(s, resp, {400}, {"unsupported_grant_type"})


@check(
    "C004",
    "Missing client_secret (no Basic header) → 400 invalid_request or 401 invalid_client",
    area=A,
    source="Y301:2477-2480, 2549",
)
def c004(s: Session) -> str | None:
    resp = s.raw("POST", s.token_url, data={"grant_type": "client_credentials", "client_id": s.config.bl_client[0]})
    return _auth_error(s, resp, {400, 401}, {"invalid_request", "invalid_client"})


@check("C005", "Credentials as a JSON body → 4xx, never a token", area=A, source="Y301:1713-1716", severity="I")
def c005(s: Session) -> str | None:
    cid, secret = s.config.bl_client
    resp = s.raw("POST", s.token_url, json={"grant_type": "client_credentials", "client_id": cid, "client_secret": secret})
    ensure(400 <= resp.status < 500, f"expected a 4xx, got {resp.status}", resp)
    return None


@check("C006", "HTTP Basic client authentication (client_secret_basic) → 200", area=A, source="RFC 6749 §2.3.1", severity="I")
def c006(s: Session) -> str | None:
    cid, secret = s.config.bl_client
    basic = base64.b64encode(f"{cid}:{secret}".encode()).decode()
    resp = s.raw("POST", s.token_url, data={"grant_type": "client_credentials"}, headers={"Authorization": f"Basic {basic}"})
    expect(resp, 200, "Basic-authenticated token request")
    ensure(bool(body_dict(resp).get("access_token")), "no access_token", resp)
    return None


@check("C007", "GET /auth/server without a token → tokenURL", area=A, source="Y310:1257-1272, 2586-2596",
       versions=ONLY_310)
def c007(s: Session) -> str | None:
    resp = expect(s.get("/auth/server", None), 200, "GET /auth/server without a token")
    url = body_dict(resp).get("tokenURL")
    ensure(isinstance(url, str) and url.startswith(("http://", "https://")), f"tokenURL {url!r} is not an http(s) URL",
           resp)
    # the URL it names issues tokens for these client credentials
    expect(s.fetch_token_at(url, *s.config.bl_client), 200, f"POST {url} with the BL client's credentials")
    return f"tokenURL {url}"


register(
    "C008", "POST /auth/token → 501 when an external token service is used", area=A, source="Y310:1299-1300", versions=ONLY_310
)


@check(
    "C009",
    "No Authorization header → 401 (with WWW-Authenticate) or 403",
    area=A,
    source="Y301:111-116; D310:3258; RFC 7235 §3.1",
)
def c009(s: Session) -> str | None:
    resp = s.get("/programs", None)
    expect(resp, {401, 403}, "request without a token")
    if resp.status == 401:
        ensure("bearer" in resp.headers.get("www-authenticate", "").lower(), "401 without WWW-Authenticate: Bearer", resp)
    return f"answered {resp.status}"


@check("C010", "Forged or malformed bearer token → 401 or 403", area=A, source="D310:3258; Y310:1665-1670")
def c010(s: Session) -> str | None:
    for token in ("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.forged", "not-a-token"):
        expect(s.get("/programs", token=token), {401, 403}, f"token {token!r}")
    return None


@check("C011", "The issued token is accepted: GET /programs → 200 array", area=A, source="D310:3257, 3365-3372")
def c011(s: Session) -> str | None:
    body_list(expect(s.get("/programs"), 200))
    body_list(expect(s.get("/programs", "ven"), 200, "as the VEN client"))
    return None


@check("A001", "Unknown client_id → 400/401 invalid_client", area=A, source="Y301:2540-2556; RFC 6749 §5.2")
def a001(s: Session) -> str | None:
    return _auth_error(s, s.fetch_token(s.prefix + "-nobody", "x"), {400, 401}, {"invalid_client"})


@check("A002", "Missing grant_type → 400 invalid_request", area=A, source="Y301:2477-2486; RFC 6749 §5.2")
def a002(s: Session) -> str | None:
    cid, secret = s.config.bl_client
    resp = s.raw("POST", s.token_url, data={"client_id": cid, "client_secret": secret})
    return _auth_error(s, resp, {400}, {"invalid_request", "unsupported_grant_type"})


@check("A003", "Token errors carry RFC 6749 bodies that fit authError", area=A, source="Y301:1724-1729, 2540-2565")
def a003(s: Session) -> str | None:
    from conformance.schema import load_spec

    spec = load_spec()
    resp = s.fetch_token(s.config.bl_client[0], "wrong-" + s.prefix)
    problems = spec.errors(spec.component("authError"), resp.json)
    ensure(not problems, "; ".join(problems), resp)
    return None


@check("A004", "A non-Bearer Authorization scheme on the API → 401 or 403", area=A, source="D310:3257-3258")
def a004(s: Session) -> str | None:
    cid, secret = s.config.bl_client
    basic = base64.b64encode(f"{cid}:{secret}".encode()).decode()
    expect(s.get("/programs", None, headers={"Authorization": f"Basic {basic}"}), {401, 403})
    return None


@check(
    "A005",
    "Requesting a scope the client does not hold → 400 invalid_scope (or a token without it)",
    area=A,
    source="Y301:2496-2500, 2553; RFC 6749 §4.4.2",
    severity="I",
)
def a005(s: Session) -> str | None:
    cid, secret = s.config.ven_client
    resp = s.fetch_token(cid, secret, scope="write_programs")
    if resp.status == 200:
        granted = str(body_dict(resp).get("scope") or "").split()
        ensure("write_programs" not in granted, "the VEN client was granted write_programs on request", resp)
        return "token issued without the scope"
    return _auth_error(s, resp, {400}, {"invalid_scope"})


@check("A006", "The VEN client gets a token too", area=A, source="Y301:1704-1723")
def a006(s: Session) -> str | None:
    s.token("ven")
    if s.credentials("ven2"):
        s.token("ven2")
    return None


# ---- F.2 scopes ----------------------------------------------------------------------------


def _forbidden(resp, what: str) -> None:
    expect(resp, 403, what)


@check(
    "C012",
    "VEN cannot write programs (POST/PUT/DELETE → 403, unchanged)",
    area=SC,
    source="Y301:130, 151-156, 225, 277, 2618; D310:3384-3386",
)
def c012(s: Session) -> str | None:
    p = fx.program(s)
    _forbidden(s.post("/programs", {"programName": s.name("venprog")}, "ven"), "VEN POST /programs")
    _forbidden(s.put(f"/programs/{p['id']}", {"programName": p["programName"], "programLongName": "hacked"}, "ven"), "VEN PUT")
    _forbidden(s.delete(f"/programs/{p['id']}", "ven"), "VEN DELETE")
    after = body_dict(expect(s.get(f"/programs/{p['id']}"), 200))
    ensure(after.get("programLongName") != "hacked", "the program was changed by a VEN")
    return None


@check("C013", "VEN cannot write events (POST/PUT/DELETE → 403)", area=SC, source="Y301:663, 758, 811, 2619")
def c013(s: Session) -> str | None:
    ev = fx.event(s)
    _forbidden(s.post("/events", fx.event_body(s, ev["programID"]), "ven"), "VEN POST /events")
    _forbidden(s.put(f"/events/{ev['id']}", fx.event_body(s, ev["programID"], priority=9), "ven"), "VEN PUT")
    _forbidden(s.delete(f"/events/{ev['id']}", "ven"), "VEN DELETE")
    expect(s.get(f"/events/{ev['id']}"), 200, "event still there")
    return None


@check("C014", "BL without write_reports cannot write reports (→ 403)", area=SC, source="Y301:396, 491, 543, 2620")
def c014(s: Session) -> str | None:
    granted = s.fetch_token(*s.config.bl_client)
    scopes = str((granted.json or {}).get("scope") or "").split() if isinstance(granted.json, dict) else []
    if "write_reports" in scopes:
        raise Skip("the BL client holds write_reports")
    rep = fx.report(s)
    _forbidden(s.post("/reports", fx.report_body(s, fx.event(s))), "BL POST /reports")
    _forbidden(
        s.put(
            f"/reports/{rep['id']}",
            fx.report_body(s, fx.event(s), reportName="bl"),
        ),
        "BL PUT /reports/{id}",
    )
    _forbidden(s.delete(f"/reports/{rep['id']}"), "BL DELETE /reports/{id}")
    return None


@check(
    "C015",
    "Token without write_subscriptions/write_vens → 403 on POST subscriptions, vens, resources",
    area=SC,
    source="Y301:949, 1231, 1513",
)
def c015(s: Session) -> str | None:
    # narrowed by naming a write scope: a VTN may answer `scope=read_all` alone with the whole grant (RFC 6749 §3.3)
    who = "ven:write_reports"
    s.token(who)
    ven = fx.bl_ven(s)
    body = fx.subscription_body(s, fx.program(s)["id"], [fx.entry(s, "noscope", ["EVENT"], ["CREATE"])])
    _forbidden(s.post("/subscriptions", body, who), "POST /subscriptions with write_reports only")
    _forbidden(s.post("/vens", {"venName": s.name("noscope")}, who), "POST /vens with write_reports only")
    _forbidden(s.post(f"/vens/{ven['id']}/resources", {"resourceName": s.name("noscope")}, who), "POST resource")
    return None


@check(
    "C016",
    "Token without read_all → 403 on every GET (lists and by id, six object types)",
    area=SC,
    source="Y301:61, 185, 321, 451, 588, 718, 857, 1016, 1153, 1285, 1429, 1579",
)
def c016(s: Session) -> str | None:
    who = "ven:write_subscriptions"
    s.token(who)
    ven, res = fx.bl_ven(s), fx.resource(s)
    paths = [
        "/programs",
        f"/programs/{fx.program(s)['id']}",
        "/events",
        f"/events/{fx.event(s)['id']}",
        "/reports",
        f"/reports/{fx.report(s)['id']}",
        "/subscriptions",
        f"/subscriptions/{fx.subscription(s)['id']}",
        "/vens",
        f"/vens/{ven['id']}",
        f"/vens/{ven['id']}/resources",
        f"/vens/{ven['id']}/resources/{res['id']}",
    ]
    for path in paths:
        _forbidden(s.get(path, who), f"GET {path} without read_all")
    return None


register(
    "C017", "read_targets / read_ven_objects enforcement", area=SC, source="Y310:66, 465, 268, 663, 875, 1066", versions=ONLY_310
)
register(
    "C018",
    "read_all counts as a superset of read_targets",
    area=SC,
    source="D310:648; Y310:2769",
    versions=ONLY_310,
    severity="I",
)


@check(
    "C019",
    "Scope is checked before existence: VEN PUT /programs/doesnotexist → 403",
    area=SC,
    source="D310:3384-3386",
    severity="I",
)
def c019(s: Session) -> str | None:
    _forbidden(s.put("/programs/doesnotexist123", {"programName": s.name("x")}, "ven"), "VEN PUT unknown program")
    return None


@check("C020", "VEN and BL holding write_subscriptions can create subscriptions", area=SC, source="Y301:2621")
def c020(s: Session) -> str | None:
    fx.subscription(s)
    fx.own_ven(s, "ven")
    body = fx.subscription_body(s, fx.program(s)["id"], [fx.entry(s, "ven-sub", ["EVENT"], ["CREATE"])], who="ven")
    sub = s.create("/subscriptions", body, "ven")
    s.fixtures["ven-subscription"] = sub
    return None


@check("C021", "VEN holding write_vens can create its ven → 201", area=SC, source="Y301:2622")
def c021(s: Session) -> str | None:
    fx.own_ven(s, "ven")
    if s.notes.get("ven-ven-preexisting"):
        raise Skip(f"the ven {s.ven_names['ven']!r} already existed before this run (not created, not deleted)")
    return None


__all__ = ["Fail"]
