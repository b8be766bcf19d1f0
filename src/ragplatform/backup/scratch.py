"""Temporary folders for staging archive entries, removed off the event loop."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path


@asynccontextmanager
async def scratch_folder(prefix: str) -> AsyncIterator[Path]:
    """A new empty folder under the system's temporary directory, removed afterwards."""
    folder = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix=prefix))
    try:
        yield folder
    finally:
        await asyncio.to_thread(shutil.rmtree, folder, ignore_errors=True)
