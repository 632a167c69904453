"""A loopback fake of CometAPI's Kling Omni video routes, for the offline demo and the tests.

Faithful to the documented API where it is documented: strict create validation, a concurrency cap,
lazily computed task states, three query shapes, injectable faults and a served result MP4.
"""

from .callbacks import CallbackPost
from .config import QUERY_SHAPES, CallbackShape, FakeCometConfig, QueryShape
from .faults import RANDOM_MENU, FaultKind, InjectedFault, Route
from .media import INPUT_MP4, SAMPLE_MP4, SAMPLE_PNG, padded_chunks
from .schema import unknown_fields
from .server import CREATE_PATH, FakeCometAPI, RecordedRequest
from .tasks import FakeTask, Outcome, TaskState
from .validation import allowed_durations, validate_create_body

__all__ = [
    "CREATE_PATH",
    "INPUT_MP4",
    "QUERY_SHAPES",
    "RANDOM_MENU",
    "SAMPLE_MP4",
    "SAMPLE_PNG",
    "CallbackPost",
    "CallbackShape",
    "FakeCometAPI",
    "FakeCometConfig",
    "FakeTask",
    "FaultKind",
    "InjectedFault",
    "Outcome",
    "QueryShape",
    "RecordedRequest",
    "Route",
    "TaskState",
    "allowed_durations",
    "padded_chunks",
    "unknown_fields",
    "validate_create_body",
]
