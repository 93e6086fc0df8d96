"""The API over real HTTP (uvicorn on a loopback port): what it answers, in what shape,
and that it answers with the same messages and field paths as the CLI."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from microseg import Workspace
from tests.service.conftest import Served

PROBLEM = "application/problem+json"


def test_health_needs_no_key_and_everything_else_does(served: Served) -> None:
    with served.client(None) as anonymous:
        assert anonymous.get("/health").json() == {"status": "ok"}
        for path in ("/ready", "/metrics", "/api/segments", "/api/profiles/C1", "/api/status"):
            reply = anonymous.get(path)
            assert reply.status_code == 401, path
            assert reply.headers["content-type"] == PROBLEM
            assert reply.headers["www-authenticate"].startswith("Bearer")
        assert anonymous.post("/api/events", json={"customer_id": "C1"}).status_code == 401


def test_a_wrong_key_is_refused_and_a_revoked_one_stops_at_once(served: Served) -> None:
    with served.client(None) as client:
        reply = client.get("/api/segments", headers={"Authorization": "Bearer msk_x_y"})
        assert reply.status_code == 401
        assert "unknown, malformed or revoked" in reply.json()["detail"]
    key, token = served.ring.create("soon-revoked", ["read"])
    with served.client(None) as client:
        auth = {"Authorization": f"Bearer {token}"}
        assert client.get("/api/segments", headers=auth).status_code == 200
        served.ring.revoke(key.key_id)
        assert client.get("/api/segments", headers=auth).status_code == 401
        # the other spelling of the header works the same
        good = {"X-API-Key": served.keys["read"]}
        assert client.get("/api/segments", headers=good).status_code == 200


def test_a_revoked_key_ends_its_open_stream(served: Served) -> None:
    """A stream opened before its key was revoked stops at once, rather than carrying
    entries and exits to a reader no longer allowed them for as long as it stays open."""
    key, token = served.ring.create("stream-revoked", ["read"])
    lines: list[str] = []
    with (
        httpx.Client(base_url=served.url, timeout=20) as client,
        client.stream(
            "GET", "/api/stream/memberships", headers={"Authorization": f"Bearer {token}"}
        ) as reply,
    ):
        assert reply.status_code == 200
        revoked = None
        for line in reply.iter_lines():  # a keep-alive comes every second
            lines.append(line)
            if line == ": connected":
                served.ring.revoke(key.key_id)
                revoked = time.monotonic()
            elif revoked is not None and time.monotonic() - revoked > 5:
                break  # still open
    assert ": the key was revoked" in lines


def test_scopes_read_write_admin(served: Served) -> None:
    event = {"event_id": "n1", "customer_id": "C3", "timestamp": "2026-01-14T09:00:00Z",
             "type": "purchase", "amount": 30.0}  # fmt: skip
    with served.client("read") as reader:
        reply = reader.post("/api/events", json=event)
        assert reply.status_code == 403
        assert "do not include 'write'" in reply.json()["detail"]
        assert reader.get("/api/profiles/C1/identifiers").status_code == 403
    with served.client("write") as writer:
        assert writer.get("/api/segments").status_code == 200  # write implies read
        assert writer.get("/api/profiles/C1/identifiers").status_code == 403
    with served.client("admin") as admin:
        found = admin.get("/api/profiles/C1/identifiers").json()["identifiers"]
        assert {"type": "email", "value": "c1@example.com"} in found


def test_profiles_carry_no_identifiers_for_read_keys(served: Served) -> None:
    with served.client("read") as reader:
        profile = reader.get("/api/profiles/C1", params={"as_of": "2026-01-15"}).json()
    assert profile["segments"] == ["buyers", "women"]
    assert profile["events"] == {"purchase": 2}
    assert "c1@example.com" not in str(profile)
    assert profile["traits"]["purchase_count"] == 2


def test_segments_list_read_size_and_members_by_cursor(served: Served) -> None:
    with served.client("read") as reader:
        names = [s["name"] for s in reader.get("/api/segments").json()]
        assert names == ["buyers", "women"]
        assert reader.get("/api/segments/buyers").json()["title"] == "Bought in the last 90 days"
        size = reader.get("/api/segments/women/size").json()
        assert size["segments"][0]["members"] == 2
        first = reader.get("/api/segments/women/members", params={"limit": 1}).json()
        assert first == {"segment": "women", "members": ["C1"], "next": "C1"}
        second = reader.get(
            "/api/segments/women/members", params={"limit": 1, "after": first["next"]}
        ).json()
        assert second == {"segment": "women", "members": ["C3"], "next": None}


def test_errors_are_problem_json_with_the_clis_messages(served: Served) -> None:
    with served.client("write") as writer:
        missing = writer.get("/api/segments/nope")
        assert 400 <= missing.status_code < 500
        assert missing.headers["content-type"] == PROBLEM
        assert missing.json()["detail"] == "no segment named 'nope'"
        nobody = writer.get("/api/profiles/C404")
        assert nobody.status_code == 404
        assert nobody.json()["detail"] == "no customer 'C404'"
        bad_rule = writer.put(
            "/api/segments/typo", json={"rule": {"attribute": "gendr", "eq": "female"}}
        )
        assert bad_rule.status_code == 422
        problem = bad_rule.json()
        assert problem["problems"][0]["path"] == "rule.attribute"
        assert "gendr" in problem["problems"][0]["message"]
        bad_time = writer.get("/api/segments/women/size", params={"as_of": "next tuesday"})
        assert bad_time.status_code == 400
        assert bad_time.headers["content-type"] == PROBLEM
        bad_limit = writer.get("/api/segments/women/members", params={"limit": 0})
        assert bad_limit.status_code == 422
        assert bad_limit.json()["problems"][0]["path"] == "query.limit"


def test_segment_create_previews_then_saves_and_delete_guards_references(served: Served) -> None:
    rule = {"title": "French", "rule": {"attribute": "country", "eq": "FR"}}
    with served.client("write") as writer:
        preview = writer.put("/api/segments/french", json=rule, params={"dry_run": "true"}).json()
        assert preview["saved"] is False
        assert preview["diff"]["after"] == 2
        assert writer.get("/api/segments/french").status_code == 404
        saved = writer.put("/api/segments/french", json=rule).json()
        assert saved["saved"] is True
        assert (served.workspace.path / "segments" / "french.yaml").exists()
        child = {"parent": "french", "rule": {"attribute": "gender", "eq": "male"}}
        assert writer.put("/api/segments/french-men", json=child).status_code == 200
        refused = writer.delete("/api/segments/french")
        assert refused.status_code == 409
        assert "used by french-men" in refused.json()["detail"]
        assert writer.delete("/api/segments/french-men").json() == {
            "deleted": "french-men",
            "realtime_changes": {"entered": 0, "left": 1},  # C2 was in it
        }
        assert writer.delete("/api/segments/french").status_code == 200
        assert not (served.workspace.path / "segments" / "french.yaml").exists()


def test_events_in_are_validated_as_ingest_validates(served: Served) -> None:
    good = {"event_id": "n1", "customer_id": "C3", "timestamp": "2026-01-14T09:00:00Z",
            "type": "purchase", "amount": 30.0}  # fmt: skip
    bad = {**good, "event_id": "n2", "timestamp": "not a time"}
    with served.client("write") as writer:
        one = writer.post("/api/events", json=good)
        assert one.status_code == 202, one.text  # written ahead; stored a moment later
        assert one.json()["accepted"] == 1
        # a read after a write sees it
        assert writer.get("/api/profiles/C3").json()["segments"] == ["buyers", "women"]
        again = writer.post("/api/events", json=good).json()
        assert again["accepted"] == 0
        assert again["duplicates"] == 1
        stored = writer.post("/api/events", json={**good, "event_id": "n0"},
                             params={"wait": "true"})  # fmt: skip
        assert stored.status_code == 200
        assert stored.json()["stored"] is True
        mixed = writer.post("/api/events", json=[{**good, "event_id": "n3"}, bad])
        assert mixed.status_code == 422
        problem = mixed.json()
        assert problem["report"]["accepted"] == 1
        assert problem["problems"][0]["path"] == "[1].timestamp"
        assert "1 of 2 record(s) rejected" in problem["detail"]
        kept = writer.get("/api/rejects").json()
        assert any(r["column"] == "timestamp" for r in kept)


def test_records_of_a_batch_keep_columns_the_first_lacks(served: Served) -> None:
    first = {"event_id": "w1", "customer_id": "C3", "timestamp": "2026-01-14T09:00:00Z",
             "type": "view"}  # fmt: skip
    second = {**first, "event_id": "w2", "type": "purchase", "amount": 12.5, "colour": "red"}
    with served.client("write") as writer:
        reply = writer.post("/api/events", json=[first, second], params={"wait": "true"})
        assert reply.status_code == 200, reply.text
    events = served.workspace.events()
    row = events.filter(events.event_id == "w2").to_pyarrow().to_pylist()[0]
    assert row["amount"] == 12.5
    assert "red" in str(row["properties"])


def test_limits_headers_and_no_cors(served: Served) -> None:
    with served.client("write") as writer:
        huge = writer.post(
            "/api/events", content=b"[" + b" " * 300_000 + b"]",
            headers={"content-type": "application/json"},
        )  # fmt: skip
        assert huge.status_code == 413
        assert huge.headers["content-type"] == PROBLEM
        reply = writer.get("/api/segments", headers={"Origin": "https://evil.example"})
        assert reply.headers["x-content-type-options"] == "nosniff"
        assert reply.headers["x-frame-options"] == "DENY"
        assert "default-src 'none'" in reply.headers["content-security-policy"]
        assert "access-control-allow-origin" not in reply.headers


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/api/events"), ("POST", "/api/customers"), ("PUT", "/api/segments/big")],
)
def test_a_body_streamed_over_the_limit_is_refused_with_413(
    served: Served, method: str, path: str
) -> None:
    """Without a Content-Length the body is counted as it comes: over the limit, 413
    (FastAPI's reading of the body turned the refusal into a 400 "error parsing the
    body")."""

    def chunks() -> Iterator[bytes]:
        yield b"["
        for _ in range(30):
            yield b" " * 10_000
        yield b"]"

    with served.client("write") as writer:
        reply = writer.request(
            method, path, content=chunks(), headers={"content-type": "application/json"}
        )
    assert reply.status_code == 413, reply.text
    assert reply.headers["content-type"] == PROBLEM
    assert "over 200,000 bytes" in reply.json()["detail"]


@pytest.mark.parametrize(
    ("path", "record", "where"),
    [
        ("/api/customers", {"customer_id": "C1", "score": 2**70}, "[0].score"),
        ("/api/customers", {"customer_id": "C1", "tags": {"n": [1, -(2**64)]}}, "[0].tags"),
        ("/api/events", {"event_id": "o1", "customer_id": "C1", "type": "view",
                         "timestamp": "2026-01-14T09:00:00Z", "colour": 2**63}, "[0].colour"),
    ],
)  # fmt: skip
def test_a_whole_number_beyond_64_bits_is_refused_with_its_path(
    served: Served, path: str, record: dict[str, object], where: str
) -> None:
    """JSON allows any whole number; the store's columns take 64 bits (a 500 before,
    found by the API fuzzer)."""
    with served.client("write") as writer:
        reply = writer.post(path, json=[record])
        assert reply.status_code == 400, reply.text  # as records of mixed kinds are
        assert reply.json()["where"] == where
        assert "beyond 64 bits" in reply.json()["detail"]
        assert writer.get("/ready").status_code == 200


def test_an_amount_beyond_64_bits_is_refused_and_the_next_event_stored(served: Served) -> None:
    event = {"event_id": "q1", "customer_id": "C1", "type": "purchase", "amount": 2**70,
             "quantity": 2**70, "timestamp": "2026-01-14T09:00:00Z"}  # fmt: skip
    with served.client("write") as writer:
        reply = writer.post("/api/events", json=event)
        assert reply.status_code == 400, reply.text
        assert reply.json()["where"] == "[0].amount"
        later = {**event, "event_id": "q2", "amount": 5.0, "quantity": 1}
        assert writer.post("/api/events", json=later, params={"wait": "true"}).status_code == 200
    events = served.workspace.events()
    stored = events.filter(events.event_id.isin(["q1", "q2"])).event_id.to_pyarrow()
    assert "q2" in stored.to_pylist()


def test_a_body_not_sent_as_json_says_so(served: Served) -> None:
    """curl -d without a Content-Type sends a form: FastAPI answered "body: Input should be
    a valid dictionary"; a broken JSON body "body.8: JSON decode error"."""
    event = '{"event_id": "ct1", "customer_id": "C1", "type": "view"}'
    with served.client("write") as writer:
        for headers in ({}, {"content-type": "application/x-www-form-urlencoded"},
                        {"content-type": "text/plain"}):  # fmt: skip
            reply = writer.post("/api/events", content=event, headers=headers)
            assert reply.status_code == 415, reply.text
            assert reply.headers["content-type"] == PROBLEM
            assert reply.json()["where"] == "content-type"
            assert "Content-Type: application/json" in reply.json()["hint"]
        broken = writer.put(
            "/api/segments/x",
            content='{"rule": {"event": ',
            headers={"content-type": "application/json"},
        )
        assert broken.status_code == 422
        assert broken.json()["problems"][0]["path"] == "body"
        assert broken.json()["detail"].startswith("body: the body is not valid JSON at character")
    with served.client(None) as anonymous:  # without a key, the key is what is wrong
        assert anonymous.post("/api/events", content=event).status_code == 401


def test_openapi_docs_and_metrics(served: Served) -> None:
    with served.client(None) as anonymous:
        schema = anonymous.get("/openapi.json").json()
        assert "/api/segments/{name}/members" in schema["paths"]
        page = anonymous.get("/docs").text
        assert "/static/swagger-ui-bundle.js" in page
        assert "cdn" not in page.lower()
        assert anonymous.get("/static/swagger-ui-bundle.js").status_code == 200
    with served.client("read") as reader:
        reader.get("/api/segments")
        text = reader.get("/metrics").text
        assert 'microseg_requests_total{method="GET",route="/api/segments",status="200"}' in text
        assert reader.get("/ready").json()["ready"] is True


def test_each_key_has_its_rate_limit_answered_with_retry_after(served: Served) -> None:
    from microseg.service._guard import RateLimiter

    served.app.state.limiter = RateLimiter(rate=0.5, burst=2)
    with served.client("read") as reader, served.client("write") as writer:
        assert [reader.get("/api/segments").status_code for _ in range(2)] == [200, 200]
        limited = reader.get("/api/segments")
        assert limited.status_code == 429
        assert limited.headers["content-type"] == PROBLEM
        assert int(limited.headers["retry-after"]) == 2
        assert writer.get("/api/segments").status_code == 200  # another key, its own bucket


def test_the_token_bucket_refills_with_time() -> None:
    from microseg.service._guard import RateLimiter

    now = [0.0]
    limiter = RateLimiter(rate=2.0, burst=1, clock=lambda: now[0])
    assert limiter.take("k") == 0.0
    assert limiter.take("k") == 0.5
    now[0] += 0.5
    assert limiter.take("k") == 0.0


def test_concurrent_posts_are_loaded_together_and_answered_each_for_its_own(
    served: Served,
) -> None:
    import concurrent.futures

    def post(n: int) -> httpx.Response:
        event = {"event_id": f"g{n}", "customer_id": f"C{1 + n % 3}",
                 "timestamp": "2026-01-14T09:00:00Z" if n != 7 else "not a time",
                 "type": "view"}  # fmt: skip
        with served.client("write") as writer:
            return writer.post("/api/events", json=event, params={"wait": "true"})

    with concurrent.futures.ThreadPoolExecutor(max_workers=12) as pool:
        replies = list(pool.map(post, range(24)))
    statuses = [r.status_code for r in replies]
    assert statuses.count(422) == 1
    assert statuses[7] == 422
    assert replies[7].json()["problems"][0]["path"] == "[0].timestamp"
    assert replies[7].json()["detail"] == "1 of 1 record(s) rejected; 0 accepted"
    assert served.app.state.pipeline.flushes < 23  # some requests shared a load
    assert max(r.json().get("batched_requests", 1) for r in replies if r.status_code == 200) > 1
    events = served.workspace.events()
    stored = events.filter(events.event_id.startswith("g")).count().to_pyarrow().as_py()
    assert stored == 23


def test_saving_an_evaluation_needs_the_write_scope(served: Served) -> None:
    with served.client("read") as reader:
        assert reader.post("/api/segments/evaluate", json={"save": False}).status_code == 200
        refused = reader.post("/api/segments/evaluate", json={"save": True})
        assert refused.status_code == 403
        assert "'write'" in refused.json()["detail"]
    with served.client("write") as writer:
        assert writer.post("/api/segments/evaluate", json={"save": True}).status_code == 200


def test_a_batch_of_both_lanes_is_split_and_answered_for_all_its_records(
    served: Served,
) -> None:
    fast = {"event_id": "s1", "customer_id": "C1", "timestamp": "2026-01-14T09:00:00Z",
            "type": "view"}  # fmt: skip
    new_customer = {**fast, "event_id": "s2", "customer_id": "C9"}
    bad = {**fast, "event_id": "s3", "timestamp": "yesterday-ish"}
    with served.client("write") as writer:
        reply = writer.post("/api/events", json=[fast, new_customer, bad])
    assert reply.status_code == 422
    problem = reply.json()
    assert [p["path"] for p in problem["problems"]] == ["[2].timestamp"]
    assert problem["report"]["accepted"] == 2
    assert problem["report"]["fast_lane"] == {"accepted": 1, "duplicates": 0}
    assert "1 of 3 record(s) rejected; 2 accepted" in problem["detail"]
    events = served.workspace.events()
    stored = events.filter(events.event_id.isin(["s1", "s2", "s3"])).count().to_pyarrow()
    assert stored.as_py() == 2


@pytest.mark.parametrize("dropped", ["type", "customer_id", "timestamp"])
def test_a_batch_whose_slow_records_lack_a_required_column_is_one_load(
    served: Served, dropped: str
) -> None:
    """A fast record and one without ``type``: the second alone lacked the column, its
    load failed as a whole with a 422 while the first was already stored. Now the request
    is one load: the first is stored, the second rejected with its path, and the answer
    says so."""
    fast = {"event_id": "m1", "customer_id": "C1", "timestamp": "2026-01-14T09:00:00Z",
            "type": "view"}  # fmt: skip
    lacking = {k: v for k, v in {**fast, "event_id": "m2"}.items() if k != dropped}
    with served.client("write") as writer:
        reply = writer.post("/api/events", json=[fast, lacking])
    assert reply.status_code == 422, reply.text
    problem = reply.json()
    assert [p["path"] for p in problem["problems"]] == [f"[1].{dropped}"]
    assert problem["report"]["accepted"] == 1
    assert problem["report"]["rejected"] == 1
    events = served.workspace.events()
    stored = events.filter(events.event_id.isin(["m1", "m2"])).event_id.to_pyarrow()
    assert stored.to_pylist() == ["m1"]


@pytest.mark.parametrize(
    ("path", "records", "where", "said"),
    [
        ("/api/events", [{"event_id": "nt", "customer_id": "C1",
                          "timestamp": "2026-01-14T09:00:00Z"}], "[0].type", "every event"),
        ("/api/customers", [{"name": "Ann"}], "[0].customer_id", "every customer"),
    ],
)  # fmt: skip
def test_records_without_a_required_column_are_told_in_the_apis_words(
    served: Served, path: str, records: list[dict[str, object]], where: str, said: str
) -> None:
    """The loader's message spoke of a file (``where: <Table>``) and of ``--map``."""
    with served.client("write") as writer:
        reply = writer.post(path, json=records)
    assert reply.status_code == 422, reply.text
    problem = reply.json()
    assert problem["where"] == where
    assert said in problem["detail"]
    assert "--map" not in problem.get("hint", "")


def test_a_profile_now_is_read_from_memory_and_says_what_the_store_says(
    served: Served,
) -> None:
    from microseg.core.results import plain

    with served.client("write") as writer:
        answers = {c: writer.get(f"/api/profiles/{c}").json() for c in ("C1", "C2", "C3")}
        ws = served.workspace
        for customer, answer in answers.items():
            one = ws.profile.of(customer)
            counts: dict[str, int] = {}
            for row in one.events:
                counts[row["type"]] = counts.get(row["type"], 0) + 1
            held = ws.segments.of(customer)
            assert answer["attributes"] == {k: plain(v) for k, v in one.attributes.items()}
            assert answer["events"] == counts
            traits = ws.traits.of(customer)
            assert answer["traits"] == {k: plain(v) for k, v in traits.items()}
            assert answer["segments"] == sorted(n for n, inside in held.items() if inside)
        event = {"event_id": "m1", "customer_id": "C3", "timestamp": "2026-01-14T09:00:00Z",
                 "type": "purchase", "amount": 30.0}  # fmt: skip
        assert writer.post("/api/events", json=event).status_code == 202
        now = writer.get("/api/profiles/C3").json()  # the event, before it is stored
    assert now["events"] == {"purchase": 1}
    assert "buyers" in now["segments"]


def test_discovery_governance_and_activation_reports_are_served(served: Served) -> None:
    with served.client("read") as reader:
        assert reader.get("/api/discover/runs").json() == []
        missing = reader.get("/api/discover/runs/7")
        assert missing.status_code == 404
        assert missing.headers["content-type"] == "application/problem+json"
        audit = reader.get("/api/audit", params={"segments": ["buyers"]})
        assert audit.status_code == 200, audit.text
        assert audit.json() == served.workspace.govern.audit(["buyers"]).to_dict()
        quality = reader.get("/api/quality")
        assert quality.status_code == 200, quality.text
        assert reader.get("/api/exports").json() == []
        assert reader.get("/api/campaigns").status_code == 200
        unknown = reader.get("/api/campaigns/nothing/measure")
        assert unknown.status_code == 404, unknown.text
        assert reader.get("/api/campaigns/nothing/members").status_code == 404


def test_exports_are_written_in_the_workspace_and_served_to_admin_keys(served: Served) -> None:
    with served.client("write") as writer:
        made = writer.post("/api/exports", json={"segment": "women", "file": "women.csv"})
        assert made.status_code == 201, made.text
        record = made.json()
        logged = served.workspace.activate.exports("women")[0].to_dict()
        assert record == {**logged, "stamp": record["stamp"]}  # the log keeps no stamp
        assert record["stamp"].endswith("exports/women.csv.microseg.json")
        assert record["members"] == 2
        assert record["destination"] == str(served.workspace.path / "exports" / "women.csv")
        for name in ("../women.csv", "/tmp/women.csv", ".hidden", "a/b.csv", "x" * 200):
            bad = writer.post("/api/exports", json={"segment": "women", "file": name})
            assert bad.status_code == 400, (name, bad.text)
            assert bad.headers["content-type"] == "application/problem+json"
            assert bad.json()["where"] == "file"
        bypass = {"segment": "women", "file": "all.csv", "ignore_consent": True}
        assert writer.post("/api/exports", json=bypass).status_code == 403
        assert writer.get(f"/api/exports/{record['export_id']}/file").status_code == 403
        assert writer.get("/api/exports").json()[0]["export_id"] == record["export_id"]
    with served.client("admin") as admin:
        file = admin.get(f"/api/exports/{record['export_id']}/file")
        assert file.status_code == 200
        assert file.content == (served.workspace.path / "exports" / "women.csv").read_bytes()
        assert "C3" in file.text
        assert admin.get("/api/exports/999/file").status_code == 404


def test_campaigns_are_created_with_their_groups(served: Served) -> None:
    with served.client("write") as writer:
        made = writer.post(
            "/api/campaigns", json={"name": "spring", "audience": ["C1", "C2", "C3"],
                                    "holdout": "50%", "salt": "s"}
        )  # fmt: skip
        assert made.status_code == 201, made.text
        info = made.json()
        assert info["members"] == 3
        again = writer.post("/api/campaigns", json={"name": "spring", "segment": "women"})
        assert again.status_code == 409  # a campaign's assignment is never redrawn
        groups = {
            group: writer.get("/api/campaigns/spring/members", params={"group": group}).json()
            for group in ("treatment", "control")
        }
        assert writer.get("/api/campaigns/spring/members?group=other").status_code == 400
    assert len(groups["treatment"]["members"]) == info["treatment"]
    assert len(groups["control"]["members"]) == info["control"]
    assert sorted(groups["treatment"]["members"] + groups["control"]["members"]) == [
        "C1", "C2", "C3"
    ]  # fmt: skip


def test_a_profile_has_its_history_and_its_logged_changes(served: Served) -> None:
    event = {"event_id": "h1", "customer_id": "C2", "timestamp": "2026-01-15T11:00:00Z",
             "type": "purchase", "amount": 20.0}  # fmt: skip
    with served.client("write") as writer:
        assert writer.post("/api/events", json=event).status_code == 202
        history = writer.get(
            "/api/profiles/C1/history", params={"from": "2025-11-01", "to": "2026-01-01"}
        )
        assert history.status_code == 200, history.text
        assert (
            history.json()
            == served.workspace.insights.history(
                "C1", start="2025-11-01", end="2026-01-01"
            ).to_dict()
        )
        assert writer.get("/api/profiles/C9/history").status_code == 404
        # each snapshot is an evaluation: a range of hundreds took minutes of the server
        begun = time.monotonic()
        wide = writer.get(
            "/api/profiles/C1/history", params={"from": "2000-01-31", "to": "2026-05-31"}
        )
        assert wide.status_code == 400, wide.text
        assert "317 snapshots, over the 60" in wide.json()["detail"]
        assert wide.json()["where"] == "from"
        assert time.monotonic() - begun < 5
        changes = writer.get("/api/profiles/C2/changes").json()["changes"]
    assert [(c["segment"], c["change"], c["trigger"]) for c in changes] == [
        ("buyers", "entered", "h1")
    ]
    assert changes[0]["changed_at"] == "2026-01-15T12:00:00Z"


def test_changes_and_the_stream_of_an_unknown_name_are_404(served: Served) -> None:
    """A typo answered 200 with no changes, and a stream filtered on it waited forever."""
    with served.client("read") as reader:
        assert reader.get("/api/profiles/ZZZ999/changes").status_code == 404
        assert reader.get("/api/segments/nope/changes").status_code == 404
        known = reader.get("/api/segments/buyers/changes")
        assert known.status_code == 200
        assert known.json()["changes"] == []
        assert reader.get("/api/profiles/C1/changes").status_code == 200
        stream = reader.get("/api/stream/memberships", params={"segment": "nope"})
        assert stream.status_code == 404
        assert stream.headers["content-type"] == PROBLEM
        assert "'nope'" in stream.json()["detail"]


def test_the_fast_path_answers_events_as_the_route_does(served: Served) -> None:
    """POST /api/events without a query string takes a path around FastAPI's routing
    (service/_fast_events.py); with one (``?wait=false``, the same meaning) the route
    answers: the two answers, headers and metrics are the same."""

    def event(n: int) -> dict[str, object]:
        return {"event_id": f"fp{n}", "customer_id": "C2", "type": "view",
                "timestamp": "2026-01-15T11:00:00Z"}  # fmt: skip

    with served.client("write") as writer:
        fast = writer.post("/api/events", json=[event(1), event(2)])
        routed = writer.post("/api/events", params={"wait": "false"}, json=[event(3), event(4)])
        again = writer.post("/api/events", json=event(1))  # a duplicate
        text = writer.get("/metrics").text
    assert fast.status_code == routed.status_code == 202
    assert fast.json() == routed.json() == {
        "kind": "events", "accepted": 2, "duplicates": 0, "rejected": 0, "stored": False
    }  # fmt: skip
    assert again.json()["duplicates"] == 1
    skip = {"date", "content-length"}
    assert {k: v for k, v in fast.headers.items() if k not in skip} == {
        k: v for k, v in routed.headers.items() if k not in skip
    }
    line = 'microseg_requests_total{method="POST",route="/api/events",status="202"} 3.0'
    assert line in text
    with served.client("read") as reader:  # errors are the route's: scope, body, limit
        assert reader.post("/api/events", json=event(5)).status_code == 403
    with served.client(None) as anonymous:
        assert anonymous.post("/api/events", json=event(5)).status_code == 401
        headers = {"content-type": "application/json"}
        broken = anonymous.post("/api/events", content=b"{not json", headers=headers)
        routed = anonymous.post("/api/events?wait=false", content=b"{not json", headers=headers)
        assert broken.status_code == routed.status_code
        assert broken.json() == routed.json()
        # the key first: without one, nothing is said of the body (FastAPI reads it first)
        assert broken.status_code == 401
        assert anonymous.get("/api/segments/women/members", params={"limit": 0}).status_code == 401
    with served.client("write") as writer:  # with one, the body's problems
        assert writer.post("/api/events", content=b"{not", headers=headers).status_code == 422


def test_definitions_sent_get_the_clis_messages_and_names_are_bounded(served: Served) -> None:
    with served.client("write") as writer:
        unknown = writer.put("/api/segments/x", json={"colour": "red", "rule": {
            "attribute": "gender", "eq": "female"}})  # fmt: skip
        assert unknown.status_code == 422
        assert unknown.json()["problems"] == [
            {"path": "colour", "message": "unknown field 'colour'; did you mean 'cluster'?"}
        ]
        misplaced = writer.put("/api/segments/x", json={
            "rule": {"event": "purchase", "last": "90 days"}})  # fmt: skip
        assert misplaced.json()["problems"] == [
            {"path": "rule.last", "message": "'last' is not a field at this place in a rule; "
             "a time window goes under window: (window: {last: ...})"}
        ]  # fmt: skip
        renamed = writer.put("/api/segments/x", json={"name": "y", "rule": {
            "attribute": "gender", "eq": "female"}})  # fmt: skip
        assert renamed.status_code == 400, renamed.text  # the body's name was ignored
        assert renamed.json()["where"] == "name"
        same = writer.put("/api/segments/x", json={"name": "x", "rule": {
            "attribute": "gender", "eq": "female"}}, params={"dry_run": "true"})  # fmt: skip
        assert same.status_code == 200, same.text
        long = writer.put(f"/api/segments/{'a' * 260}", json={"rule": {
            "attribute": "gender", "eq": "female"}})  # fmt: skip
        assert long.status_code == 422, long.text
        assert "at most 120" in long.json()["detail"]
        assert writer.put(f"/api/segments/{'a' * 120}", json={"rule": {
            "attribute": "gender", "eq": "female"}}).status_code == 200  # fmt: skip


def test_a_bug_is_a_counted_500_with_its_traceback_logged(
    served: Served, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(self: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(Workspace, "status", broken)
    with served.client("read") as reader:
        reply = reader.get("/api/status")
        assert reply.status_code == 500
        assert reply.headers["content-type"] == "application/problem+json"
        text = reader.get("/metrics").text
    assert 'microseg_requests_total{method="GET",route="/api/status",status="500"} 1.0' in text
    logged = [r for r in caplog.records if r.getMessage().startswith("internal error")]
    assert logged
    assert logged[0].exc_info is not None
    assert "a bug" in str(logged[0].exc_info[1])


def test_exports_never_overwrite_each_other_unasked(served: Served) -> None:
    with served.client("write") as writer:
        first = writer.post("/api/exports", json={"segment": "women", "file": "w.csv"}).json()
        again = writer.post("/api/exports", json={"segment": "buyers", "file": "w.csv"})
        assert again.status_code == 409
        assert again.json()["where"] == "file"
        stamp = writer.post("/api/exports", json={"segment": "women",
                                                   "file": "w.csv.microseg.json"})  # fmt: skip
        assert stamp.status_code == 400
        replaced = writer.post(
            "/api/exports", json={"segment": "buyers", "file": "w.csv", "overwrite": True}
        ).json()
    with served.client("admin") as admin:
        gone = admin.get(f"/api/exports/{first['export_id']}/file")
        assert gone.status_code == 404
        assert f"replaced by export {replaced['export_id']}" in gone.json()["detail"]
        latest = admin.get(f"/api/exports/{replaced['export_id']}/file")
        assert latest.status_code == 200
        assert latest.headers["content-type"].startswith("text/csv")


def test_a_campaign_needs_an_audience(served: Served) -> None:
    with served.client("write") as writer:
        empty = writer.post("/api/campaigns", json={"name": "none", "audience": []})
        assert empty.status_code == 400, empty.text
        assert empty.json()["where"] == "audience"
        assert writer.get("/api/campaigns/none/measure").status_code < 500


def test_unknown_segments_and_customers_are_404_and_fields_are_named_as_sent(
    served: Served,
) -> None:
    with served.client("write") as writer:
        for reply in (
            writer.post("/api/exports", json={"segment": "nope", "file": "n.csv"}),
            writer.post("/api/campaigns", json={"name": "n", "segment": "nope"}),
            writer.post("/api/segments/evaluate", json={"names": ["nope"]}),
            writer.get("/api/audit", params={"segments": ["nope"]}),
            writer.get("/api/insights/value", params={"segments": ["nope"]}),
            writer.get("/api/segments-of/C99"),
        ):
            assert reply.status_code == 404, reply.text
            assert reply.headers["content-type"] == "application/problem+json"
        bad = writer.post(
            "/api/exports", json={"segment": "women", "file": "w.csv", "format": "xlsx"}
        )
    assert bad.status_code == 400
    assert bad.json()["where"] == "format"  # the CLI says --format


def test_a_column_of_two_kinds_is_named_with_its_record(served: Served) -> None:
    base = {"customer_id": "C1", "timestamp": "2026-01-14T09:00:00Z", "type": "purchase",
            "colour": "red"}  # fmt: skip
    records = [{**base, "event_id": "k1", "amount": 12.5},
               {**base, "event_id": "k2", "amount": None},
               {**base, "event_id": "k3", "amount": "12,50"}]  # fmt: skip
    with served.client("write") as writer:
        reply = writer.post("/api/events", json=records)
    assert reply.status_code == 400, reply.text
    body = reply.json()
    assert body["where"] == "[2].amount"
    assert body["detail"] == (
        "record [2] has text in 'amount', where record [0] has a number: a column holds one "
        "kind of value"
    )


def test_a_read_from_memory_waits_for_what_was_acknowledged_before(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = served.app.state.realtime
    original = engine.apply

    def slow(rows: list[dict[str, object]]) -> object:
        time.sleep(0.3)  # the applier is busy when the read comes
        return original(rows)

    monkeypatch.setattr(engine, "apply", slow)
    event = {"event_id": "w1", "customer_id": "C3", "timestamp": "2026-01-14T09:00:00Z",
             "type": "purchase", "amount": 30.0}  # fmt: skip
    with served.client("write") as writer:
        assert writer.post("/api/events", json=event).status_code == 202
        assert writer.get("/api/profiles/C3").json()["events"] == {"purchase": 1}
        assert "buyers" in writer.get("/api/segments-of/C3").json()["segments"]
