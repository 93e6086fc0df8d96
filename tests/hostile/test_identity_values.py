"""Hostile identifier values: malformed e-mails, stray whitespace, what the merge log says,
and identity chains too long for recursion."""

from __future__ import annotations

from pathlib import Path

import pytest

from microseg import Workspace
from microseg.ingest._stitch import UnionFind as _UnionFind
from tests.conftest import write


def _rejects(ws: Workspace) -> list[dict[str, object]]:
    return ws.rejects(limit=None).to_pyarrow().to_pylist()  # type: ignore[no-any-return]


def _emails(ws: Workspace) -> set[tuple[str, str]]:
    rows = ws.store.fetchall("SELECT id_value, customer_id FROM identities WHERE id_type = 'email'")
    return set(rows)


@pytest.mark.parametrize("bad", ["@", "a@b@c", "x@y,z@w", "ana@@x.com", "a..b@x.com"])
def test_invalid_email_alone_is_rejected_with_reason(
    ws: Workspace, tmp_path: Path, bad: str
) -> None:
    report = ws.ingest(
        "events",
        write(
            tmp_path / "e.csv",
            f'event_id,email,timestamp,type\ne1,"{bad}",2025-01-01,view\ne2,ok@x.com,2025-01-01,view',
        ),
        max_rejected=1,
    )
    assert (report.accepted, report.rejected) == (1, 1)
    assert report.reasons == {"invalid_email": 1}
    (reject,) = _rejects(ws)
    assert reject["problem"] == "invalid_email"
    assert reject["column"] == "email"
    assert reject["row"] == 1
    assert reject["value"] == bad
    assert "not a valid e-mail address" in str(reject["reason"])
    assert str(reject["source"]).endswith("e.csv")
    assert _emails(ws) == {("ok@x.com", ws.store.scalar("SELECT customer_id FROM events"))}


def test_invalid_email_next_to_another_identifier_is_dropped_and_counted(
    ws: Workspace, tmp_path: Path
) -> None:
    report = ws.ingest(
        "customers",
        write(
            tmp_path / "c.csv",
            'customer_id,email,city\nC1,"a@b@c",Lyon\nC2,"x@y,z@w",Paris\nC3,c3@x.com,Nice',
        ),
    )
    # the rows load by their customer id; the bad e-mails identify no one
    assert (report.accepted, report.rejected) == (3, 0)
    assert report.identifiers_set_aside == {"invalid_email": 2}
    assert _emails(ws) == {("c3@x.com", "C3")}


def test_whitespace_around_identifiers_is_trimmed(ws: Workspace, tmp_path: Path) -> None:
    ws.ingest(
        "customers",
        write(tmp_path / "c.csv", "customer_id,email,anonymous_id\nC1\t,ana@x.com\t, dev-1\t"),
    )
    rows = set(ws.store.fetchall("SELECT id_type, id_value, customer_id FROM identities"))
    assert rows == {
        ("customer_id", "C1", "C1"),
        ("email", "ana@x.com", "C1"),
        ("anonymous_id", "dev-1", "C1"),
    }


def test_merge_log_names_the_identifier_that_linked(ws: Workspace, tmp_path: Path) -> None:
    ws.ingest(
        "customers",
        write(tmp_path / "c.csv", "customer_id,email,phone\nC1,b@x.com,\nC2,,0612345678"),
    )
    # C1 logs in with a new e-mail (sorting first) and the phone that is C2's
    report = ws.ingest(
        "events",
        write(
            tmp_path / "e.csv",
            "event_id,customer_id,email,phone,timestamp,type\n"
            "e1,C1,aaa@x.com,06 12 34 56 78,2025-01-01,view",
        ),
    )
    assert report.merged_customers == 1
    assert ws.store.fetchall("SELECT loser, survivor, via_type, via_value FROM merges") == [
        ("C2", "C1", "phone", "0612345678")
    ]


def test_merge_log_names_each_losers_own_link(ws: Workspace, tmp_path: Path) -> None:
    ws.ingest(
        "customers",
        write(tmp_path / "c.csv", "customer_id,email,phone\nC1,,\nC2,c2@x.com,\nC3,,0611111111"),
    )
    ws.ingest(
        "events",
        write(
            tmp_path / "e.csv",
            "event_id,customer_id,email,phone,anonymous_id,timestamp,type\n"
            "e1,C1,c2@x.com,,,2025-01-01,view\n"
            "e2,C1,,06 11 11 11 11,,2025-01-01,view\n"
            "e3,C1,,,aaa-device,2025-01-01,view",
        ),
    )
    assert set(ws.store.fetchall("SELECT loser, survivor, via_type, via_value FROM merges")) == {
        ("C2", "C1", "email", "c2@x.com"),
        ("C3", "C1", "phone", "0611111111"),
    }


def test_union_find_survives_a_chain_of_100000_links() -> None:
    uf = _UnionFind()
    n = 100_000
    nodes = [("anonymous_id", f"d{i:06d}") for i in range(n)]
    for child, parent in zip(nodes[1:], nodes[:-1], strict=True):
        uf.parent[child] = parent  # the deepest tree unions could leave behind
    uf.parent[nodes[0]] = nodes[0]
    assert uf.find(nodes[-1]) == nodes[0]
    assert uf.parent[nodes[-1]] == nodes[0]  # the path was compressed
    assert uf.find(nodes[n // 2]) == nodes[0]


def test_a_long_chain_of_links_in_one_load(ws: Workspace, tmp_path: Path) -> None:
    # device i and device i+1 seen together: one customer across 20,000 rows
    n = 20_000
    lines = ["event_id,anonymous_id,email,timestamp,type"]
    for i in range(n):
        lines.append(f"e{i},dev-{i:05d},u{i + 1:05d}@x.com,2025-01-01,view")
        lines.append(f"f{i},dev-{i + 1:05d},u{i + 1:05d}@x.com,2025-01-01,view")
    report = ws.ingest("events", write(tmp_path / "chain.csv", "\n".join(lines)))
    assert report.accepted == 2 * n
    assert ws.store.scalar("SELECT count(DISTINCT customer_id) FROM events") == 1


@pytest.mark.parametrize(
    "value",
    [
        "ana@x.com",
        "a.b+tag@sub.shop.fr",
        "a..b@x.com",
        ".a@x.com",
        "a.@x.com",
        "a@x",
        "a@-x.com",
        "a@x..com",
        "a@localhost",
        "a@b.test",
        "a@[127.0.0.1]",
        '"quoted"@x.com',
        "é@x.com",
        "a@é.fr",
        "x" * 65 + "@x.com",
        "a@" + "x" * 250 + ".com",
        "a@b@c",
        "@",
        "a b@x.com",
    ],
)
def test_the_fast_e_mail_check_agrees_with_email_validator(value: str) -> None:
    from email_validator import EmailNotValidError, validate_email

    from microseg.ingest._screen import _email_problem

    try:
        validate_email(value, check_deliverability=False)
        valid = True
    except EmailNotValidError:
        valid = False
    assert (_email_problem(value) is None) == valid
