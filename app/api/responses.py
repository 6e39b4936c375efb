"""What the API answers, as TypedDicts: app/api/views.py builds these dicts, and the OpenAPI
schema (and so every generated client) describes them from here.

TypedDicts, not dataclasses: the views stay plain dicts, so the JSON on the wire is exactly
what they build. No `from __future__ import annotations` here: on Python 3.11 a TypedDict
only sees `NotRequired` in annotations that are not strings.
"""

from typing import Any, Literal, NotRequired, TypedDict

from ..extraction.fields import FieldType

JobStatus = Literal["queued", "processing", "processed", "failed"]
# A batch is processed once none of its files (nor their chained extractions) is waiting.
BatchStatus = Literal["queued", "processing", "processed"]


class ErrorInfo(TypedDict):
    code: str
    message: str
    details: NotRequired[Any]


class Error(TypedDict):
    """Every error docsort answers, whatever its status."""

    error: ErrorInfo


# Classifications ------------------------------------------------------------------------------


class Category(TypedDict):
    id: str
    name: str
    description: str
    keywords: list[str]
    linked_extraction_id: str | None


class Classification(TypedDict):
    id: str
    name: str
    description: str
    created_at: str
    updated_at: str
    categories: list[Category]


class Document(TypedDict):
    """What reading found the file to be."""

    type: str
    page_count: int | None
    pages_used: list[int] | None


class ModelVerdict(TypedDict):
    category_id: str | None
    category_name: str | None
    confidence: float | None
    reasoning: str | None
    model: str | None
    confidence_sources: dict[str, float]
    evidence: dict[str, Any] | None


class ExtractionResult(TypedDict):
    """A file's run in an extraction; `data` only once processed."""

    status: JobStatus
    error: str | None
    data: dict[str, Any] | None
    missing_required: list[str]
    attempts: int
    model: str | None
    queued_at: str
    started_at: str | None
    finished_at: str | None


class ChainedExtraction(ExtractionResult):
    extraction_id: str


class ClassificationFile(TypedDict):
    id: str
    batch_id: str
    classification_id: str
    file_name: str
    size_bytes: int
    status: JobStatus
    error: str | None
    classified_category_id: str | None
    classified_category_name: str | None
    classified_category_removed: bool
    confidence: float | None
    classification_reasoning: str | None
    verdict_source: Literal["override", "examples", "model"] | None
    checked_at: str | None
    overridden_at: str | None
    model_verdict: ModelVerdict | None
    # The machine verdict was made with category definitions that have changed since: what
    # changed, e.g. "Invoice: description changed". A checked verdict is never stale.
    stale: bool
    stale_changes: list[str]
    extraction: ChainedExtraction | None
    document: Document | None
    attempts: int
    created_at: str
    started_at: str | None
    finished_at: str | None


class Example(TypedDict):
    id: str
    classification_id: str
    category_id: str
    file_name: str
    size_bytes: int
    status: JobStatus
    error: str | None
    document: Document | None
    created_at: str
    finished_at: str | None


class Batch(TypedDict):
    id: str
    classification_id: str
    status: BatchStatus
    file_count: int
    processed_count: int
    failed_count: int
    extraction_count: int
    extracted_count: int
    extraction_failed_count: int
    created_at: str
    finished_at: str | None


class CategoryAccuracy(TypedDict):
    category: str
    checked: int
    right: int
    accuracy: float | None


class SourceAccuracy(TypedDict):
    checked: int
    right: int
    accuracy: float | None


class AccuracySummary(TypedDict):
    checked: int
    right: int
    accuracy: float | None
    per_category: list[CategoryAccuracy]
    by_source: dict[str, SourceAccuracy]


class RecentAccuracy(AccuracySummary):
    last: int


class Confusion(TypedDict):
    expected: str
    got: str
    count: int


class Accuracy(TypedDict):
    all: AccuracySummary
    recent: RecentAccuracy
    most_confused: list[Confusion]
    from_examples: int


# Extractions ----------------------------------------------------------------------------------


class TemplateItem(TypedDict):
    """A template's field as stored: what a request sent, unset options left out."""

    type: FieldType
    description: str
    values: NotRequired[list[str]]
    items: NotRequired["TemplateItem"]
    fields: NotRequired[list["TemplateField"]]


class TemplateField(TemplateItem):
    name: str
    required: bool


class Extraction(TypedDict):
    id: str
    name: str
    description: str
    fields: list[TemplateField]
    created_at: str
    updated_at: str


class ExtractionFile(ExtractionResult):
    """Uploaded to the extraction directly, or chained by a verdict (then
    `classification_id`, `classification_batch_id` and `category_id`)."""

    id: str
    extraction_id: str
    source: Literal["direct", "chained"]
    batch_id: str | None
    classification_id: str | None
    classification_batch_id: str | None
    category_id: str | None
    file_name: str
    size_bytes: int


class ExtractionBatch(TypedDict):
    id: str
    extraction_id: str
    status: BatchStatus
    file_count: int
    processed_count: int
    failed_count: int
    created_at: str
    finished_at: str | None


# Webhooks -------------------------------------------------------------------------------------

EventType = Literal["file.classified", "file.processed"]


class Webhook(TypedDict):
    id: str
    url: str
    events: list[EventType]
    created_at: str


class SignedWebhook(Webhook):
    """A webhook with the secret its events are signed with."""

    secret: str


class DeliveryAttempt(TypedDict):
    attempt: int
    status_code: int | None
    error: str | None
    duration_ms: int | None
    at: str | None


class Delivery(TypedDict):
    id: str
    event_id: str
    event_type: EventType
    event_created_at: str
    file_id: str | None
    status: Literal["pending", "sending", "delivered", "failed"]
    attempt_count: int
    next_attempt_at: str | None
    delivered_at: str | None
    attempts: list[DeliveryAttempt]


# Health ---------------------------------------------------------------------------------------


class DatabaseHealth(TypedDict):
    ok: bool
    error: NotRequired[str]


class ModelHealth(TypedDict):
    ok: bool
    host: str
    model: str
    embed_model: NotRequired[str]
    error: NotRequired[str]


class WorkerHealth(TypedDict):
    state: Literal["working", "waiting_for_model"]
    since: str | None
    error: str | None


class HostHealth(ModelHealth):
    """One model host of OLLAMA_HOST: what it answers now, and what the worker saw."""

    slots: int
    worker: WorkerHealth


class Health(TypedDict):
    status: Literal["ok", "unavailable"]
    database: DatabaseHealth
    model: ModelHealth  # the first host that answers, else the first host
    hosts: list[HostHealth]
    worker: WorkerHealth


# The bodies each operation answers -------------------------------------------------------------


class ClassificationResponse(TypedDict):
    classification: Classification


class ClassificationListResponse(TypedDict):
    classifications: list[Classification]


class BatchResponse(TypedDict):
    batch: Batch


class BatchDetailResponse(TypedDict):
    batch: Batch
    files: list[ClassificationFile]


class BatchRedoResponse(TypedDict):
    batch: Batch
    requeued: int


class BatchListResponse(TypedDict):
    batches: list[Batch]


class StaleRedoResponse(TypedDict):
    requeued: int


class FileResponse(TypedDict):
    file: ClassificationFile


class ExampleListResponse(TypedDict):
    examples: list[Example]


class AccuracyResponse(TypedDict):
    accuracy: Accuracy


class ExtractionResponse(TypedDict):
    extraction: Extraction


class ExtractionListResponse(TypedDict):
    extractions: list[Extraction]


class ExtractionBatchResponse(TypedDict):
    batch: ExtractionBatch


class ExtractionBatchDetailResponse(TypedDict):
    batch: ExtractionBatch
    files: list[ExtractionFile]


class ExtractionBatchListResponse(TypedDict):
    batches: list[ExtractionBatch]


class ExtractionFileResponse(TypedDict):
    file: ExtractionFile


class WebhookResponse(TypedDict):
    webhook: SignedWebhook


class WebhookListResponse(TypedDict):
    webhooks: list[Webhook]


class DeliveryListResponse(TypedDict):
    deliveries: list[Delivery]
