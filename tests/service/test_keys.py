"""API keys: shown once, kept as salted HMACs, revocable while the service runs, and a
`microseg serve` process that honours them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from microseg.cli import app
from microseg.core.errors import ParameterError
from microseg.service import KeyRing
from microseg.service import _keys as keys_module
from tests.service.conftest import _free_port, build_shop

runner = CliRunner()


def test_the_file_keeps_no_key_and_no_bare_hash(tmp_path: Path) -> None:
    ring = KeyRing(tmp_path)
    key, token = ring.create("crm", ["write"])
    text = (tmp_path / "keys.json").read_text()
    secret = token.split("_", 2)[2]
    assert secret not in text
    assert token not in text
    import hashlib

    assert hashlib.sha256(secret.encode()).hexdigest() not in text
    assert oct((tmp_path / "keys.json").stat().st_mode & 0o777) == "0o600"
    assert ring.verify(token) == key
    assert ring.verify(token + "x") is None
    assert ring.verify(f"msk_{key.key_id}_" + "A" * len(secret)) is None
    assert ring.verify("not a key") is None
    # two keys with the same secret would still differ: each has its own salt
    stored = json.loads(text)["keys"][key.key_id]
    assert len(bytes.fromhex(stored["salt"])) == 16


def test_the_file_is_looked_at_when_its_change_token_moves_or_a_second_passed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The service does not look at the keys file at every request (a system call that
    lets go of the interpreter lock): a change through KeyRing moves a token it reads
    from memory, and a change by hand is seen within RECHECK_SECONDS."""
    service = KeyRing(tmp_path)  # as the service holds it
    _, token = KeyRing(tmp_path).create("crm", ["read"])  # as `microseg keys` makes it
    kept, other = KeyRing(tmp_path).create("other", ["read"])
    assert service.verify(token) is not None
    clock = [1000.0]
    monkeypatch.setattr(keys_module.time, "monotonic", lambda: clock[0])
    looks: list[Path] = []
    stat = type(service.path).stat

    def counted(path: Path, **options: bool) -> os.stat_result:
        looks.append(path)
        return stat(path, **options)

    monkeypatch.setattr(type(service.path), "stat", counted)
    assert service.verify(token) is not None  # a first look, then none
    looks.clear()
    for _ in range(100):
        assert service.verify(token) is not None
    assert looks == []
    # revoked through a KeyRing (another process's): refused at the next request
    KeyRing(tmp_path).revoke(token.split("_")[1])
    assert service.verify(token) is None
    assert len(looks) == 1
    # revoked by hand: seen once RECHECK_SECONDS passed
    data = json.loads(service.path.read_text())
    data["keys"][kept.key_id]["revoked_at"] = "2026-01-01T00:00:00+00:00"
    service.path.write_text(json.dumps(data))
    assert service.verify(other) is not None
    clock[0] += keys_module.RECHECK_SECONDS
    assert service.verify(other) is None
    service.close()


def test_scopes_are_checked_when_created(tmp_path: Path) -> None:
    ring = KeyRing(tmp_path)
    with pytest.raises(ParameterError, match="scope 'superuser' is not one of read, write, admin"):
        ring.create("x", ["superuser"])
    with pytest.raises(ParameterError, match="no key 'nope'"):
        ring.revoke("nope")


def test_keys_cli_create_list_revoke(tmp_path: Path) -> None:
    build_shop(tmp_path / "shop").close()
    where = ["-w", str(tmp_path / "shop")]
    made = runner.invoke(app, ["keys", "create", "crm", "--scope", "write", "--json", *where])
    assert made.exit_code == 0, made.output
    created = json.loads(made.output)
    assert created["scopes"] == ["write"]
    assert created["key"].startswith("msk_")
    listed = json.loads(runner.invoke(app, ["--json", "keys", "list", *where]).output)
    assert [k["name"] for k in listed] == ["crm"]
    assert "key" not in listed[0]
    gone = runner.invoke(app, ["keys", "revoke", created["key_id"], *where])
    assert gone.exit_code == 0
    assert "revoked" in gone.output
    nowhere = runner.invoke(app, ["keys", "list", "-w", str(tmp_path)])
    assert nowhere.exit_code == 1
    assert "not a microseg workspace" in nowhere.output


@pytest.mark.slow
def test_microseg_serve_runs_and_a_key_revoked_meanwhile_stops_working(tmp_path: Path) -> None:
    shop = tmp_path / "shop"
    build_shop(shop).close()
    where = ["-w", str(shop)]
    token = json.loads(runner.invoke(app, ["--json", "keys", "create", "ops", *where]).output)
    reader = json.loads(
        runner.invoke(app, ["--json", "keys", "create", "watch", "--scope", "read", *where]).output
    )
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "microseg", "serve", "--port", str(port), *where],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "100"},
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "microseg serve did not start in 60 s"
            assert server.poll() is None, server.stderr.read() if server.stderr else ""
            time.sleep(0.2)
        auth = {"Authorization": f"Bearer {token['key']}"}
        assert httpx.get(f"{base}/api/segments", headers=auth).status_code == 200
        # the CLI cannot open the store while the service holds it, and says why
        busy = runner.invoke(app, ["status", *where])
        assert busy.exit_code == 1
        assert f"workspace is served by pid {server.pid} (http://127.0.0.1:{port})" in " ".join(
            busy.output.split()
        )
        revoked = runner.invoke(app, ["keys", "revoke", token["key_id"], *where])
        assert revoked.exit_code == 0
        assert httpx.get(f"{base}/api/segments", headers=auth).status_code == 401
        # a stream open when the server is told to stop
        lines: list[str] = []
        opened = threading.Event()

        def watch() -> None:
            with httpx.stream(
                "GET", f"{base}/api/stream/memberships", timeout=30,
                headers={"Authorization": f"Bearer {reader['key']}"},
            ) as reply:  # fmt: skip
                for line in reply.iter_lines():
                    lines.append(line)
                    opened.set()

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        assert opened.wait(30)
    finally:
        stopped = time.monotonic()
        server.send_signal(signal.SIGTERM)
        out, err = server.communicate(timeout=30)
        stopped = time.monotonic() - stopped
    # the stream ended when the server was told to stop, not cancelled 5 s later with an
    # error in the log
    watcher.join(timeout=10)
    assert ": the server is stopping" in lines
    assert '"level":"error"' not in err, err
    assert stopped < 4.5
    # uvicorn shuts down gracefully, then re-raises the signal it caught
    assert server.returncode in (0, -signal.SIGTERM), err
    assert "Application shutdown complete" in err
    assert not (shop / "serve.pid").exists()
    assert runner.invoke(app, ["status", *where]).exit_code == 0
    assert f"serving on http://127.0.0.1:{port}" in out
    assert token["key"] not in out + err  # keys never appear in logs
    assert '"event":"request"' in err
    assert '"path":"/api/segments"' in err


def test_a_service_that_died_leaves_no_lock(tmp_path: Path) -> None:
    shop = tmp_path / "shop"
    build_shop(shop).close()
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    (shop / "serve.pid").write_text(json.dumps({"pid": gone.pid, "url": "http://x"}))
    assert runner.invoke(app, ["status", "-w", str(shop)]).exit_code == 0
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        (shop / "serve.pid").write_text(json.dumps({"pid": alive.pid, "url": "http://x:1"}))
        busy = runner.invoke(app, ["status", "-w", str(shop)])
        assert busy.exit_code == 1
        assert f"workspace is served by pid {alive.pid} (http://x:1)" in busy.output
    finally:
        alive.kill()
        alive.wait()


@pytest.mark.slow
def test_demo_serve_prints_a_key_that_works(tmp_path: Path) -> None:
    port = _free_port()
    demo = subprocess.Popen(
        [sys.executable, "-m", "microseg", "demo", "--customers", "300", "--dir",
         str(tmp_path / "demo"), "--serve", "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip
    try:
        assert demo.stdout is not None
        token = None
        deadline = time.monotonic() + 300
        for line in demo.stdout:
            if line.startswith("msk_"):
                token = line.strip()
                break
            assert time.monotonic() < deadline
        assert token is not None
        auth = {"Authorization": f"Bearer {token}"}
        while True:
            try:
                reply = httpx.get(f"http://127.0.0.1:{port}/api/segments", headers=auth)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the demo's service did not start"
                time.sleep(0.2)
        assert reply.status_code == 200
        assert "anime-buyers" in [s["name"] for s in reply.json()]
    finally:
        demo.send_signal(signal.SIGTERM)
        demo.communicate(timeout=60)


def test_serve_refuses_an_unreadable_reconciliation_period(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from microseg import Workspace

    Workspace.init(tmp_path / "shop").close()
    result = CliRunner().invoke(
        app, ["serve", "--reconcile-every", "every now and then", "-w", str(tmp_path / "shop")]
    )
    assert result.exit_code != 0
    assert "--reconcile-every 'every now and then'" in result.output
    assert "or 'off'" in result.output
