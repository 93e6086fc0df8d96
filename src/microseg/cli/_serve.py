"""``microseg serve`` and ``microseg keys``: the HTTP service and its API keys."""

from __future__ import annotations

import os
from pathlib import Path

import typer
from rich.table import Table

from microseg.cli._common import Group, console, emit_json, fail, handled, state

__all__ = ["keys_app", "serve"]

keys_app = typer.Typer(
    cls=Group,
    help=(
        "API keys for the service: create, list, revoke.\n\n"
        "Examples:\n\n"
        "  microseg keys create crm-sync --scope write -w shop\n"
        "  microseg keys list -w shop\n"
        "  microseg keys revoke 3f9a1c2b7d10 -w shop\n"
    ),
    no_args_is_help=True,
)


def _folder(ctx: typer.Context) -> Path:
    """The workspace folder, without opening its store (the service may hold it)."""
    root = Path(state(ctx).workspace or os.environ.get("MICROSEG_WORKSPACE") or ".")
    if not (root / "microseg.yaml").exists():
        raise fail(
            f"{root.resolve()}: no microseg.yaml here, so this is not a microseg workspace "
            "(run `microseg init DIR` or pass --workspace DIR)"
        )
    return root


def serve(
    ctx: typer.Context,
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8000, "--port", help="Port to listen on."),
    rate: float = typer.Option(200.0, "--rate-limit", help="Requests per second per key."),
    max_body: int = typer.Option(5_000_000, "--max-body", help="Largest request body, bytes."),
    cors: list[str] = typer.Option(
        [], "--cors-origin", help="An origin browsers may call from (repeat; none by default)."
    ),
    reconcile_every: str = typer.Option(
        "1 hour",
        "--reconcile-every",
        help="How often to reconcile the real-time state with batch, e.g. '15 minutes' "
        "('off': only POST /api/reconcile).",
    ),
    evaluators: int = typer.Option(
        2,
        "--evaluators",
        min=0,
        max=64,
        help="Processes that evaluate arriving events, each a forked copy of the real-time "
        "state with a share of the customers (0: in the service's own process).",
    ),
    store_threads: int = typer.Option(
        None,
        "--store-threads",
        min=1,
        max=1024,
        help="Threads the store's database works with while serving (default: the "
        "workspace's store: threads:, else the cores left once the service and each "
        "evaluator process has one).",
        show_default=False,
    ),
    json_out: bool = typer.Option(False, "--json", help="Print the addresses as JSON."),
) -> None:
    """Serve the workspace over HTTP: the API at /api, its schema at /openapi.json and
    Swagger UI at /docs. Every route but /health needs a key (`microseg keys create`).

    Example:

      microseg serve --port 8000 -w shop
    """
    from microseg.service import ServiceSettings
    from microseg.service import serve as run

    settings = ServiceSettings(
        rate=rate,
        burst=max(1, int(rate * 2)),
        max_body=max_body,
        cors_origins=tuple(cors),
        reconcile_every=_seconds(reconcile_every),
        evaluator_processes=evaluators,
        store_threads=store_threads,
    )
    base = f"http://{host}:{port}"
    where = {"url": base, "docs": f"{base}/docs", "openapi": f"{base}/openapi.json"}
    if json_out or state(ctx).json:
        emit_json(where)
    else:
        console.print(
            f"serving on {base} (API docs: {where['docs']}); Ctrl-C stops", highlight=False
        )
    with handled():
        run(state(ctx).workspace, host=host, port=port, settings=settings)


def _seconds(text: str) -> float:
    """``--reconcile-every``: a duration such as '15 minutes', or 'off'."""
    from microseg.core.duration import parse_duration
    from microseg.core.errors import DurationError

    if text.strip().lower() in ("off", "0", "never"):
        return 0.0
    try:
        return parse_duration(text).approx_timedelta().total_seconds()
    except DurationError as exc:
        raise fail(
            f"--reconcile-every {text!r}: {exc} (write e.g. '15 minutes' or 'off')"
        ) from None


@keys_app.command("create")
def create(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Who or what uses the key, e.g. crm-sync."),
    scopes: list[str] = typer.Option(
        ["read"], "--scope", help="read, write or admin (repeat for several)."
    ),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Create an API key. It is shown once: the workspace keeps only a salted hash of it.

    Example:

      microseg keys create crm-sync --scope write -w shop
    """
    from microseg.service import KeyRing

    with handled():
        key, token = KeyRing(_folder(ctx)).create(name, scopes)
    if json_out or state(ctx).json:
        emit_json({**key.to_dict(), "key": token})
        return
    console.print(
        f"key {key.key_id} ({key.name}, scopes: {', '.join(key.scopes)}); shown only now, "
        "keep it somewhere safe:",
        highlight=False,
    )
    console.print(token, highlight=False, markup=False, soft_wrap=True)


@keys_app.command("list")
def list_keys(
    ctx: typer.Context, json_out: bool = typer.Option(False, "--json", help="Print JSON.")
) -> None:
    """The workspace's API keys (never the keys themselves), revoked ones included.

    Example:

      microseg keys list -w shop
    """
    from microseg.service import KeyRing

    with handled():
        keys = KeyRing(_folder(ctx)).list()
    if json_out or state(ctx).json:
        emit_json([k.to_dict() for k in keys])
        return
    table = Table(title="API keys")
    for column in ("id", "name", "scopes", "created", "revoked"):
        table.add_column(column)
    for key in keys:
        table.add_row(
            key.key_id,
            key.name,
            ", ".join(key.scopes),
            f"{key.created_at:%Y-%m-%d %H:%M}",
            f"{key.revoked_at:%Y-%m-%d %H:%M}" if key.revoked_at else "",
        )
    console.print(table)


@keys_app.command("revoke")
def revoke(
    ctx: typer.Context,
    key_id: str = typer.Argument(..., help="The key's id, as `microseg keys list` shows it."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Revoke an API key: a running service refuses it from its next request.

    Example:

      microseg keys revoke 3f9a1c2b7d10 -w shop
    """
    from microseg.service import KeyRing

    with handled():
        key = KeyRing(_folder(ctx)).revoke(key_id)
    if json_out or state(ctx).json:
        emit_json(key.to_dict())
        return
    console.print(f"key {key.key_id} ({key.name}) revoked", highlight=False)
