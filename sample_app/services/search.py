"""An Elasticsearch-like search engine: enough of the REST API for the official Python client.

The client refuses any answer without ``X-Elastic-Product: Elasticsearch``, so every response carries it,
errors included. Documents live in memory; a search scores a document by how many query words its text
fields contain, which is all a demo's directory search needs.
"""

from __future__ import annotations

import itertools
import re
import uuid
from typing import Any, ClassVar

from .http import HTTPService, Request, Response
from .latency import NONE, Latency

VERSION = "9.1.0"
_INDEX = r"(?P<index>[a-z0-9][a-z0-9_.\-]*)"
_WORD = re.compile(r"\w+")


def _error(status: int, type_: str, reason: str) -> Response:
    cause = {"type": type_, "reason": reason}
    return Response(status, {"error": {"root_cause": [cause], **cause}, "status": status})


def _words(value: Any) -> set[str]:
    return {word.lower() for word in _WORD.findall(str(value))}


def _text_fields(source: dict[str, Any], fields: list[str] | None) -> list[Any]:
    names = [name.split("^")[0] for name in fields] if fields else list(source)
    return [source[name] for name in names if isinstance(source.get(name), (str, int, float))]


class ElasticsearchService(HTTPService):
    """Indexes, gets and searches JSON documents, answering with Elasticsearch's response shapes."""

    name = "elasticsearch"
    routes: ClassVar[list[tuple[str, str, str]]] = [
        ("GET", r"/", "info"),
        ("HEAD", r"/", "ping"),
        ("PUT", rf"/{_INDEX}/_doc/(?P<id>[^/]+)", "index_document"),
        ("POST", rf"/{_INDEX}/_doc/(?P<id>[^/]+)", "index_document"),
        ("POST", rf"/{_INDEX}/_doc", "index_document"),
        ("PUT", rf"/{_INDEX}/_create/(?P<id>[^/]+)", "index_document"),
        ("GET", rf"/{_INDEX}/_doc/(?P<id>[^/]+)", "get_document"),
        ("POST", rf"/{_INDEX}/_search", "search"),
        ("GET", rf"/{_INDEX}/_search", "search"),
        ("POST", rf"/{_INDEX}/_refresh", "refresh"),
        ("PUT", rf"/{_INDEX}", "create_index"),
        ("HEAD", rf"/{_INDEX}", "index_exists"),
    ]

    def __init__(self, latency: Latency = NONE, *, seed: int = 0) -> None:
        super().__init__(latency, seed=seed)
        self.indices: dict[str, dict[str, dict[str, Any]]] = {}
        self._seq = itertools.count()
        self._cluster_uuid = uuid.uuid4().hex[:22]

    def response_headers(self) -> dict[str, str]:
        return {"X-Elastic-Product": "Elasticsearch"}

    def handle(self, request: Request) -> Response:
        response = super().handle(request)
        # Answer in the media type the client asked for: the 8.x/9.x clients send a versioned one.
        accept = request.headers.get("accept", "")
        if response.content_type == "application/json" and "vnd.elasticsearch+json" in accept:
            version = re.search(r"compatible-with=(\d+)", accept)
            response.content_type = "application/vnd.elasticsearch+json;compatible-with=" + (
                version.group(1) if version else VERSION.split(".")[0]
            )
        return response

    def failure(self, request: Request) -> Response:
        return _error(503, "cluster_block_exception", "blocked by: [SERVICE_UNAVAILABLE/2/no master];")

    def documents(self, index: str) -> dict[str, dict[str, Any]]:
        with self._lock:
            return dict(self.indices.get(index, {}))

    # Cluster

    def info(self, request: Request) -> Response:
        return Response(
            200,
            {
                "name": "ledgerly-search-1",
                "cluster_name": "ledgerly",
                "cluster_uuid": self._cluster_uuid,
                "version": {
                    "number": VERSION,
                    "build_flavor": "default",
                    "build_type": "docker",
                    "lucene_version": "10.2.2",
                    "minimum_wire_compatibility_version": "8.19.0",
                    "minimum_index_compatibility_version": "8.0.0",
                },
                "tagline": "You Know, for Search",
            },
        )

    def ping(self, request: Request) -> Response:
        return Response(200)

    # Indices and documents

    def create_index(self, request: Request) -> Response:
        index = request.params["index"]
        with self._lock:
            if index in self.indices:
                return _error(400, "resource_already_exists_exception", f"index [{index}] already exists")
            self.indices[index] = {}
        return Response(200, {"acknowledged": True, "shards_acknowledged": True, "index": index})

    def index_exists(self, request: Request) -> Response:
        with self._lock:
            exists = request.params["index"] in self.indices
        return Response(200 if exists else 404)

    def index_document(self, request: Request) -> Response:
        index = request.params["index"]
        doc_id = request.params.get("id") or uuid.uuid4().hex[:20]
        try:
            source = request.json()
        except ValueError:
            return _error(400, "mapper_parsing_exception", "failed to parse")
        if not isinstance(source, dict):
            return _error(400, "mapper_parsing_exception", "the document must be a JSON object")
        with self._lock:
            documents = self.indices.setdefault(index, {})
            if "/_create/" in request.path and doc_id in documents:
                return _error(
                    409, "version_conflict_engine_exception", f"[{doc_id}]: document already exists"
                )
            previous = documents.get(doc_id)
            version = previous["_version"] + 1 if previous else 1
            documents[doc_id] = {"_source": source, "_version": version}
            seq_no = next(self._seq)
        return Response(
            200 if previous else 201,
            {
                "_index": index,
                "_id": doc_id,
                "_version": version,
                "result": "updated" if previous else "created",
                "_shards": {"total": 2, "successful": 1, "failed": 0},
                "_seq_no": seq_no,
                "_primary_term": 1,
            },
        )

    def get_document(self, request: Request) -> Response:
        index, doc_id = request.params["index"], request.params["id"]
        with self._lock:
            stored = self.indices.get(index, {}).get(doc_id)
        if stored is None:
            return Response(404, {"_index": index, "_id": doc_id, "found": False})
        return Response(
            200,
            {
                "_index": index,
                "_id": doc_id,
                "_version": stored["_version"],
                "_seq_no": 0,
                "_primary_term": 1,
                "found": True,
                "_source": stored["_source"],
            },
        )

    def refresh(self, request: Request) -> Response:
        return Response(200, {"_shards": {"total": 2, "successful": 1, "failed": 0}})

    # Search

    def search(self, request: Request) -> Response:
        index = request.params["index"]
        body = request.json() if request.body else {}
        body = body or {}
        query = body.get("query") or {"match_all": {}}
        if "q" in request.query:
            query = {"query_string": {"query": request.query["q"][0]}}
        size = int(body.get("size", request.query.get("size", [10])[0]))
        offset = int(body.get("from", request.query.get("from", [0])[0]))
        with self._lock:
            if index not in self.indices:
                return _error(404, "index_not_found_exception", f"no such index [{index}]")
            documents = list(self.indices[index].items())
        scored = []
        try:
            for doc_id, stored in documents:
                score = _score(query, stored["_source"])
                if score is not None:
                    scored.append((score, doc_id, stored["_source"]))
        except (ValueError, AttributeError, StopIteration) as exc:
            return _error(400, "parsing_exception", str(exc))
        scored.sort(key=lambda hit: (-hit[0], hit[1]))
        page = scored[offset : offset + size]
        return Response(
            200,
            {
                "took": 2,
                "timed_out": False,
                "_shards": {"total": 1, "successful": 1, "skipped": 0, "failed": 0},
                "hits": {
                    "total": {"value": len(scored), "relation": "eq"},
                    "max_score": page[0][0] if page else None,
                    "hits": [
                        {"_index": index, "_id": doc_id, "_score": score, "_source": source}
                        for score, doc_id, source in page
                    ],
                },
            },
        )


def _score(query: dict[str, Any], source: dict[str, Any]) -> float | None:  # noqa: C901 - one branch per query type
    """Score ``source`` against a query DSL clause; None when it does not match."""
    if not query:
        return 1.0
    kind, spec = next(iter(query.items()))
    if kind == "match_all":
        return 1.0
    if kind in ("multi_match", "query_string", "simple_query_string"):
        return _score_text(spec.get("query", ""), _text_fields(source, spec.get("fields")))
    if kind in ("match", "match_phrase_prefix", "match_bool_prefix"):
        field, value = next(iter(spec.items()))
        text = value.get("query", "") if isinstance(value, dict) else value
        return _score_text(text, _text_fields(source, [field]))
    if kind == "term":
        field, value = next(iter(spec.items()))
        value = value.get("value") if isinstance(value, dict) else value
        return 1.0 if source.get(field) == value else None
    if kind == "terms":
        field, values = next(iter(spec.items()))
        return 1.0 if source.get(field) in values else None
    if kind == "bool":
        total = 0.0
        for clause in _clauses(spec.get("must")) + _clauses(spec.get("filter")):
            score = _score(clause, source)
            if score is None:
                return None
            total += score
        for clause in _clauses(spec.get("must_not")):
            if _score(clause, source) is not None:
                return None
        should = [s for s in (_score(c, source) for c in _clauses(spec.get("should"))) if s is not None]
        if _clauses(spec.get("should")) and not should and not spec.get("must") and not spec.get("filter"):
            return None
        return total + sum(should) or 1.0
    raise ValueError(f"query type {kind!r} is not supported by this stand-in")


def _clauses(value: Any) -> list[dict[str, Any]]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _score_text(text: str, values: list[Any]) -> float | None:
    wanted = _words(text)
    if not wanted:
        return 1.0
    found: set[str] = set()
    for value in values:
        found |= _words(value)
    hits = float(len(wanted & found))
    # Any word matches, as Elasticsearch's default OR operator does; failing that, a word typed only in part
    # (a prefix of an indexed word) counts half, as search-as-you-type fields do.
    if not hits:
        hits = 0.5 * sum(any(f.startswith(w) for f in found) for w in wanted)
    return hits or None
