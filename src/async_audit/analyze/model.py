"""The report model: what the analysis finds, apart from how any format presents it.

Every renderer (HTML, Markdown, JSON, CSV, SARIF) and the stub generators read these objects and nothing
else. ``Report.to_dict()`` is the JSON contract of ``../docs/architecture.md`` (``schema`` 1): add fields
freely, never rename or remove one without bumping ``SCHEMA_VERSION``.
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass, field
from typing import Any

SCHEMA_VERSION = 1


class Severity(str, enum.Enum):
    """How urgent a finding is; ordered, so ``--fail-on medium`` means medium or worse."""

    INFO = "info"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _SEVERITY_ORDER.index(self)

    def __ge__(self, other: object) -> bool:
        if not isinstance(other, Severity):
            return NotImplemented
        return self.rank >= other.rank

    def __gt__(self, other: object) -> bool:
        if not isinstance(other, Severity):
            return NotImplemented
        return self.rank > other.rank

    def __le__(self, other: object) -> bool:
        if not isinstance(other, Severity):
            return NotImplemented
        return self.rank <= other.rank

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Severity):
            return NotImplemented
        return self.rank < other.rank


_SEVERITY_ORDER = list(Severity)


class FindingKind(str, enum.Enum):
    DEFER = "defer"  # an async candidate
    KEEP_SYNC = "keep_sync"  # must stay in the request, with the reason
    BATCH = "batch"  # the same call repeated within one request
    TIMEOUT_RISK = "timeout_risk"  # an endpoint whose tail nears the platform budget
    NO_TIMEOUT = "no_timeout"  # an outbound call with no timeout
    FAKE_ASYNC = "fake_async"  # an enqueue whose backend runs the work inside the request


class Disposition(str, enum.Enum):
    DEFER = "defer"
    KEEP_SYNC = "keep_sync"
    REVIEW = "review"
    DEFERRED = "deferred"  # already a task enqueue


class Category(str, enum.Enum):
    EMAIL = "email"
    NOTIFICATION = "notification"
    API_WRITE = "api_write"
    API_READ = "api_read"
    SEARCH_INDEX = "search_index"
    SEARCH_QUERY = "search_query"
    PAYMENT = "payment"
    STORAGE = "storage"
    COMPUTE = "compute"
    SQL = "sql"
    TASK = "task"
    OTHER = "other"


@dataclass(frozen=True)
class CallSite:
    """A line of the audited project's code, path relative to the project root that holds it."""

    file: str | None
    line: int | None
    function: str | None


@dataclass
class Stub:
    """Task-extraction code for one finding, for one task backend."""

    backend: str
    task_name: str
    code: str  # the task module
    command: str = ""  # the management command that runs the task by hand
    patch: str = ""  # unified diff of the call-site change ("" when only a snippet could be made)
    snippet: str = ""  # the call-site change to apply by hand, when the rewrite was not safe
    rewritten: bool = False  # True when ``patch`` was made by rewriting the real source


@dataclass
class Finding:
    """One thing to act on (or to leave alone, with the reason)."""

    id: str  # stable across runs over the same site: a hash of kind, route and call site
    kind: FindingKind
    category: Category
    disposition: Disposition
    severity: Severity
    reason: str  # a sentence a person can read
    rule: str  # the classification rule that decided it ("builtin:stripe", "project:crm-writes", ...)
    method: str | None
    route: str | None
    view: str | None
    site: CallSite
    count: int  # calls observed (for endpoint-level kinds: requests)
    requests: int  # requests of the endpoint that made at least one such call
    calls_per_request: float
    mean_ms: float
    p95_ms: float
    share_of_request: float  # mean share of the request's wall time, 0..1
    savings_ms_per_request: float  # mean time the request gets back if the finding is acted on
    priority: int = 0  # 1 = do first
    lib: str | None = None
    via: str | None = None
    target: str | None = None  # host for HTTP, backend for email and tasks, task name, block name
    atomic: bool = False  # ran inside transaction.atomic(): enqueue with on_commit
    error_rate: float = 0.0  # failed calls / calls: a failure only the customer can retry
    no_timeout_rate: float = 0.0  # outbound calls made without a timeout / calls
    stack: list[CallSite] = field(default_factory=list)  # innermost first; signal handlers trace to views
    example_request_id: str | None = None
    source: str = "recorded"  # "recorded", "static" (scan), "silk"
    confirmed: bool | None = None  # static finding seen at run time (True), or not (False); None: n/a
    evidence: dict[str, Any] = field(default_factory=dict)  # extra figures for people; JSON-safe values
    stub: Stub | None = None


@dataclass
class Endpoint:
    """Latency statistics of one method and URL route."""

    method: str
    route: str | None
    view: str | None
    count: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    over_budget: int  # requests over the platform timeout
    over_user_budget: int  # requests over the user-perceived target
    deferrable_ms_p50: float
    deferrable_ms_p95: float
    projected_p50_ms: float  # the same requests re-timed without their deferrable top-level calls
    projected_p95_ms: float
    projected_p99_ms: float
    error_count: int = 0  # responses with status >= 500
    time_by_category: dict[str, float] = field(default_factory=dict)  # mean ms per request
    example_request_id: str | None = None


@dataclass(frozen=True)
class Budgets:
    platform_ms: float = 30_000.0
    platform_name: str = "Heroku router / gunicorn default timeout"
    user_ms: float = 1_000.0
    user_percentile: float = 95.0


@dataclass
class Capacity:
    """Web worker time spent on deferrable work, and what moving it frees (Little's law)."""

    window_s: float  # wall-clock span of the recordings
    requests: int
    worker_s_total: float  # sum of request durations
    worker_s_deferrable: float  # sum of deferrable top-level call durations
    workers: int | None  # from --workers; None when not given
    busy_workers_now: float | None  # mean concurrency = worker_s_total / window_s
    busy_workers_after: float | None
    share_freed: float  # worker_s_deferrable / worker_s_total
    # Share of web capacity the move frees: (busy now - busy after) / workers; None without --workers.
    capacity_freed: float | None = None


@dataclass
class WaterfallCall:
    kind: str
    label: str  # "POST api.hubapi.com/crm/v3/objects/contacts/{id}", "email via smtp", ...
    t_ms: float
    ms: float
    depth: int  # 0 for top-level calls
    disposition: Disposition


@dataclass
class ExampleRequest:
    """A representative slow request, drawn as a waterfall."""

    id: str
    method: str
    route: str | None
    ms: float
    projected_ms: float
    calls: list[WaterfallCall] = field(default_factory=list)


@dataclass
class Sources:
    """What the report was made from."""

    kind: str = "recorded"  # "recorded", "static", "silk", or "recorded+static"
    paths: list[str] = field(default_factory=list)
    files: int = 0
    records: int = 0
    calls: int = 0
    skipped_lines: int = 0  # torn, undecodable or invalid lines, skipped and counted
    hosts: list[str] = field(default_factory=list)
    processes: int = 0
    first_ts: float | None = None
    last_ts: float | None = None
    calls_dropped: int = 0  # calls over MAX_CALLS_PER_REQUEST
    records_lost: int = 0  # records the recorder counted as lost (full queue, failed writes)
    requests_unsampled: int = 0  # requests left out by SAMPLE_RATE
    source_root: str | None = None
    # Lines of log files (the recorder's log sink, from a log drain) that hold no record: the site's own log
    # output, read past. Not records, so not in skipped_lines: nothing was lost.
    non_record_lines: int = 0
    notes: list[str] = field(default_factory=list)  # what this data cannot show, and similar caveats


@dataclass
class Report:
    generated_at: str  # ISO 8601, UTC
    sources: Sources
    budgets: Budgets
    endpoints: list[Endpoint] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    capacity: Capacity | None = None
    examples: list[ExampleRequest] = field(default_factory=list)
    title: str = "async-audit report"
    client: str | None = None
    schema: int = SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        """The JSON contract: plain JSON types only, enums as their values."""
        plain: dict[str, Any] = _plain(self)
        return plain


# dataclass -> its field names: one walk of the report (dataclasses.asdict deep-copies every leaf, then a
# second walk made the values plain; on a report of ten thousand findings that cost seconds)
_FIELD_NAMES: dict[type, tuple[str, ...] | None] = {}  # None: not a dataclass


_SCALARS = frozenset({str, int, bool, type(None)})


def _plain(value: Any) -> Any:
    cls = type(value)
    if cls in _SCALARS:  # most values: answered by one set lookup
        return value
    if cls is float:
        return None if value != value else value  # NaN is not JSON
    if isinstance(value, enum.Enum):
        return value.value
    try:
        names = _FIELD_NAMES[cls]
    except KeyError:
        dataclass = dataclasses.is_dataclass(value) and not isinstance(value, type)
        names = _FIELD_NAMES[cls] = tuple(f.name for f in dataclasses.fields(value)) if dataclass else None
    if names is not None:
        return {name: _plain(getattr(value, name)) for name in names}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, float) and value != value:  # NaN is not JSON
        return None
    return value
