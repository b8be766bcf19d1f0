"""Synchronous calls on the layout's Milvus collection (run off the event loop by the store).

Every filtered call takes an :class:`~.milvus_filters.Expr`: a server gets its text and
``filter_params`` (templating); Milvus Lite, which has no templating (probed on open), gets
the text with the values written as escaped literals (:func:`~.milvus_filters.render`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pymilvus import (  # type: ignore[import-untyped]
    AnnSearchRequest,
    MilvusClient,
    MilvusException,
    RRFRanker,
)

from ragplatform.adapters.vectorstores import milvus_engine
from ragplatform.adapters.vectorstores.layout import DENSE, RRF_K, SPARSE
from ragplatform.adapters.vectorstores.milvus_engine import LiteLock, is_io
from ragplatform.adapters.vectorstores.milvus_filters import Expr, render
from ragplatform.adapters.vectorstores.milvus_schema import (
    LAYOUT_FIELDS,
    PK,
    check_collection,
    create_collection,
    search_params,
)
from ragplatform.errors import StartupError

Row = dict[str, Any]
SCAN_BATCH = 1000


class MilvusCollection:
    """One collection through one client; owns the Milvus Lite lock when there is one."""

    def __init__(
        self,
        client: MilvusClient,
        name: str,
        *,
        lite_path: Path | None = None,
        lock: LiteLock | None = None,
        timeout_s: float | None = None,
    ) -> None:
        self.client = client
        self.timeout_s = timeout_s  # per call (a server); None waits
        self.name = name
        self.lite_path = lite_path
        self.templating = False  # probed by ensure()
        self._lock = lock

    def ensure(self, dimension: int) -> None:
        """Create the collection when missing, check its layout and dimension, load it."""
        if not self.client.has_collection(self.name):
            lite = self.lite_path is not None
            try:
                create_collection(self.client, self.name, dimension, lite=lite)
            except MilvusException as exc:
                if is_io(exc):
                    raise
                if not self.client.has_collection(self.name):  # else a racing creator won
                    raise StartupError(
                        f"cannot create the Milvus collection {self.name}: {exc.message}"
                    ) from None
        check_collection(self.client.describe_collection(self.name), self.name, dimension)
        self.client.load_collection(self.name)
        self.templating = self.lite_path is None and self._takes_templates()

    def _takes_templates(self) -> bool:
        """Whether the engine accepts filter templating (a server does; Milvus Lite does not)."""
        try:
            self.client.query(
                self.name,
                filter=f"{PK} == {{p0}}",
                filter_params={"p0": ""},
                output_fields=[PK],
                limit=1,
            )
        except MilvusException as exc:
            if is_io(exc):
                raise
            return False
        return True

    def filter(self, expr: Expr, *, key: str = "filter") -> dict[str, Any]:
        """Keyword arguments for ``expr``: the text and its parameters, or the rendered text."""
        params_key = "filter_params" if key == "filter" else f"{key}_params"
        if self.templating:
            return {key: expr.text, params_key: dict(expr.params)}
        return {key: render(expr.text, expr.params)}

    def upsert(self, rows: list[Row]) -> None:
        """Insert or replace rows by primary key."""
        self.client.upsert(self.name, rows, timeout=self.timeout_s)

    def settle(self) -> None:
        """Milvus Lite: turn written rows into an indexed segment; a server needs nothing.

        Milvus Lite searches rows still in memory by brute force in Python (about 1 s for a
        hybrid query over 1,000 chunks) and segments through their indexes (about 30 ms);
        it flushes on its own only at 128 MiB. Small segments are merged in the background.
        """
        if self.lite_path is not None:
            self.client.flush(self.name)

    def delete(self, expr: Expr) -> None:
        """Delete every row matching ``expr``."""
        self.client.delete(self.name, timeout=self.timeout_s, **self.filter(expr))

    def count(self, expr: Expr) -> int:
        """Rows matching ``expr``."""
        result = self.client.query(
            self.name, output_fields=["count(*)"], timeout=self.timeout_s, **self.filter(expr)
        )
        return int(result[0]["count(*)"])

    def query(self, expr: Expr, fields: Sequence[str]) -> list[Row]:
        """Rows matching ``expr`` (one query: Milvus caps its size; use :meth:`rows` for all)."""
        rows = self.client.query(
            self.name, output_fields=list(fields), timeout=self.timeout_s, **self.filter(expr)
        )
        return list(rows)

    def scan(self, expr: Expr, fields: Sequence[str], batch_size: int) -> Any:
        """A query iterator (``next()`` gives a batch, empty at the end; then ``close()``)."""
        if self.templating:  # the iterator passes its parameters on as expr_params
            filtered = {"filter": expr.text, "expr_params": dict(expr.params)}
        else:
            filtered = {"filter": render(expr.text, expr.params)}
        return self.client.query_iterator(
            self.name,
            batch_size=batch_size,
            output_fields=list(fields),
            timeout=self.timeout_s,
            **filtered,
        )

    def rows(self, expr: Expr, fields: Sequence[str]) -> list[Row]:
        """Every row matching ``expr``, read in batches."""
        iterator = self.scan(expr, fields, SCAN_BATCH)
        rows: list[Row] = []
        try:
            while batch := iterator.next():
                rows.extend(batch)
        finally:
            iterator.close()
        return rows

    def search(self, field: str, query: Any, where: Expr, limit: int) -> list[Row]:
        """The best ``limit`` hits of one field (dense vector or BM25 text)."""
        results = self.client.search(
            self.name,
            data=[query],
            anns_field=field,
            search_params=search_params(field, limit),
            limit=limit,
            output_fields=list(LAYOUT_FIELDS),
            timeout=self.timeout_s,
            **self.filter(where),
        )
        return list(results[0])

    def hybrid(
        self, dense: list[float] | None, keywords: str | None, where: Expr, limit: int, depth: int
    ) -> list[Row]:
        """Dense and BM25 candidates (``depth`` each, both filtered) fused by RRF."""
        filtered = self.filter(where, key="expr")
        requests = [
            AnnSearchRequest(
                data=[query],
                anns_field=field,
                param=search_params(field, depth),
                limit=depth,
                **filtered,
            )
            for field, query in ((DENSE, dense), (SPARSE, keywords))
            if query is not None
        ]
        if not requests:
            return []
        results = self.client.hybrid_search(
            self.name,
            requests,
            RRFRanker(RRF_K),
            limit=limit,
            output_fields=list(LAYOUT_FIELDS),
            timeout=self.timeout_s,
        )
        return list(results[0])

    def ping(self) -> None:
        """Raise when the engine or the collection cannot serve."""
        self.client.describe_collection(self.name, timeout=self.timeout_s)

    def close(self) -> None:
        """Close the client, stop an in-process Milvus Lite and release its lock."""
        try:
            self.client.close()
        finally:
            if self.lite_path is not None:
                milvus_engine.release_lite(self.lite_path)
            if self._lock is not None:
                self._lock.release()
