def test_program_roundtrip(bl):
    created = bl.post("/programs", json={"programName": "p1"})
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["objectType"] == "PROGRAM"
    got = bl.get(f"/programs/{body['id']}")
    assert got.json() == body
    assert bl.get("/programs").json() == [body]
