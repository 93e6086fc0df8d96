from __future__ import annotations

from pathlib import Path

from microseg import Workspace
from tests.conftest import write


def test_products_upsert(ws: Workspace, tmp_path: Path) -> None:
    first = ws.ingest(
        "products",
        write(
            tmp_path / "p.csv",
            "product_id,category,brand,price,tags,colour\n"
            "P1,shoes,Acme,59.9,character|sneakers,red\n"
            "P2,toys,Acme,abc,,blue\n"
            ",toys,Acme,1,,",
        ),
        max_rejected=2,  # two of its three rows are rejected on purpose
    )
    assert (first.accepted, first.rejected) == (1, 2)
    again = ws.ingest("products", write(tmp_path / "q.csv", "product_id,price\nP1,59.9\nP3,2"))
    assert (again.accepted, again.duplicates) == (1, 1)
    update = ws.ingest("products", write(tmp_path / "r.csv", "product_id,price\nP1,49.9"))
    assert update.accepted == 1
    rows = ws.products().order_by("product_id").to_pyarrow().to_pylist()
    assert [(r["product_id"], r["price"], r["category"]) for r in rows] == [
        ("P1", 49.9, "shoes"),
        ("P3", 2.0, None),
    ]
    assert rows[0]["tags"] == ["character", "sneakers"]
    assert '"colour":"red"' in rows[0]["properties"].replace(" ", "")
