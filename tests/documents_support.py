"""Helpers for document tests: real files of every supported format, built in memory."""

from __future__ import annotations

import io
import time
from typing import Any

from fastapi.testclient import TestClient

from tests.platform import bearer


def pdf_bytes(pages: list[str]) -> bytes:
    """A minimal valid PDF with one line of Helvetica text per page."""
    objects: list[bytes] = []
    kids = " ".join(f"{3 + 2 * i} 0 R" for i in range(len(pages)))
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {len(pages)} >>".encode())
    font_ref = 3 + 2 * len(pages)
    for i, text in enumerate(pages):
        escaped = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
        stream = f"BT /F1 12 Tf 72 720 Td ({escaped}) Tj ET".encode()
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {4 + 2 * i} 0 R "
            f"/Resources << /Font << /F1 {font_ref} 0 R >> >> >>".encode()
        )
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(f"{number} 0 obj\n".encode() + body + b"\nendobj\n")
    xref = out.tell()
    out.write(f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode())
    for offset in offsets:
        out.write(f"{offset:010d} 00000 n \n".encode())
    out.write(
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    )
    return out.getvalue()


def docx_bytes() -> bytes:
    """A DOCX with a title, two headings and paragraphs."""
    import docx

    document = docx.Document()
    document.add_heading("Quarterly report", level=1)
    document.add_paragraph("Revenue grew in every region during the quarter.")
    document.add_heading("Risks", level=2)
    document.add_paragraph("Supply chain delays remain the main operational risk.")
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


SAMPLES: dict[str, bytes] = {
    "notes.txt": b"Plain text notes about the llama migration.\n\nSecond paragraph here.",
    "guide.md": (
        b"# Setup\n\nInstall the agent first.\n\n## Network\n\nOpen port 8443 on the firewall."
    ),
    "page.html": (
        b"<html><head><title>Handbook</title><script>var tracking=1;</script></head>"
        b"<body><nav>Home | About</nav><article><h1>Holidays</h1><p>Employees get twenty"
        b" five days of paid holiday every year, plus public holidays.</p><p>Unused days"
        b" carry over until March.</p></article></body></html>"
    ),
    "records.json": b'[{"name": "Ada", "role": "engineer"}, {"name": "Grace", "role": "admiral"}]',
    "table.csv": b"city,country\nParis,France\nKyoto,Japan\n",
}


def upload(
    client: TestClient, token: str, collection_id: str, files: dict[str, bytes], **form: str
) -> Any:
    """POST files as multipart; returns the response."""
    parts = [("files", (name, data)) for name, data in files.items()]
    return client.post(
        f"/api/v1/collections/{collection_id}/documents",
        files=parts,
        data=form or None,
        headers=bearer(token),
    )


def wait_for(client: TestClient, token: str, document_id: str, timeout_s: float = 60) -> Any:
    """Poll a document until it is ready or failed."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        doc = client.get(f"/api/v1/documents/{document_id}", headers=bearer(token)).json()
        if doc["status"] in ("ready", "failed"):
            return doc
        time.sleep(0.05)
    raise AssertionError(f"document {document_id} still {doc['status']}")


def create_collection(client: TestClient, token: str, name: str = "docs") -> str:
    """A new collection's id."""
    response = client.post("/api/v1/collections", json={"name": name}, headers=bearer(token))
    assert response.status_code == 201, response.text
    return str(response.json()["id"])
