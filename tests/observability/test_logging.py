from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from ragplatform.observability.logging import configure_logging, get_logger


def _json_lines(text: str) -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_access_log_is_json_with_request_fields(
    client: TestClient, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("INFO", "json")  # bind the handler to the captured stderr
    client.get("/nope", headers={"X-Request-ID": "trace-me-1"})
    records = [r for r in _json_lines(capsys.readouterr().err) if r.get("event") == "request"]
    assert records, "no access log line"
    record = records[-1]
    assert record["request_id"] == "trace-me-1"
    assert record["method"] == "GET" and record["status"] == 404
    assert record["route"] == "<unmatched>" and record["path"] == "/nope"
    assert isinstance(record["duration_ms"], float)
    assert record["level"] == "info" and "timestamp" in record


def test_tracebacks_carry_no_frame_locals(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", "json")
    password = "hunter2-do-not-log"

    try:
        raise ValueError("boom")
    except ValueError:
        get_logger("t").exception("failed")
    del password
    err = capsys.readouterr().err
    assert "boom" in err and "hunter2-do-not-log" not in err


def test_console_renderer_in_dev(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", "console")
    get_logger("t").info("hello", tenant_id="t1")
    err = capsys.readouterr().err
    assert "hello" in err and "tenant_id" in err and not err.startswith("{")
    configure_logging("INFO", "json")
