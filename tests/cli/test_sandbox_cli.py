"""`herald sandbox inbox` and `clear`: paging, clearing, and one clear line when nothing answers."""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from herald.cli.main import app as cli
from herald.sandbox.inbox import Inbox, InboxEntry
from herald.sandbox.server import Sandbox
from tests.production.test_processes import free_port


@pytest.fixture
async def sandbox() -> AsyncIterator[tuple[str, Inbox]]:
    inbox = Inbox()
    server = Sandbox([], inbox)
    port = await server.start("127.0.0.1", 0)
    yield f"http://127.0.0.1:{port}", inbox
    await server.stop()


async def herald(*args: str) -> tuple[int, str]:
    # In a thread: the CLI's blocking HTTP call must not stop the loop serving the sandbox.
    result = await asyncio.to_thread(CliRunner().invoke, cli, ["sandbox", *args])
    return result.exit_code, result.output


def entry(n: int) -> InboxEntry:
    return InboxEntry("smtp", f"user{n}@example.com", f"m{n}", f"key{n}", None, {}, {"subject": f"Hello {n}"})


async def test_inbox_pages_by_sequence_and_clears(sandbox: tuple[str, Inbox]) -> None:
    url, inbox = sandbox
    for n in range(5):
        inbox.record(entry(n))
    code, out = await herald("inbox", "--url", url, "--limit", "2")
    assert code == 0 and "Hello 4" in out and "Hello 3" in out and "Hello 2" not in out
    assert "5 message(s); the 2 newest shown" in out
    code, out = await herald("inbox", "--url", url, "--since", "3")
    assert code == 0 and "Hello 3" in out and "Hello 4" in out and "Hello 2" not in out
    assert (await herald("clear", "--url", url))[0] == 0
    assert len(inbox) == 0
    assert "0 message(s)" in (await herald("inbox", "--url", url))[1]


async def test_an_unreachable_sandbox_is_one_line_naming_the_url() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    code, out = await herald("inbox", "--url", url)
    assert code == 1
    assert out.strip().count("\n") <= 1 and f"{url}/_sandbox/inbox" in out.replace("\n", "")
    assert "Traceback" not in out


async def test_env_prints_exports_a_shell_reads_back(tmp_path: Path) -> None:
    providers = '{"apns": {"private_key": "-----BEGIN KEY-----\\nab cd"}}'
    values = {"HERALD_PROVIDERS": providers, "HERALD_SMTP__PORT": "2525"}
    path = tmp_path / "sandbox.json"
    path.write_text(json.dumps(values))
    code, out = await herald("env", str(path))
    assert code == 0
    script = f"{out}\nprintf '%s' \"$HERALD_PROVIDERS\""
    shown = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=True).stdout
    assert shown == values["HERALD_PROVIDERS"]
    assert (await herald("env", str(tmp_path / "missing.json")))[0] == 1
