"""Where context calls go: the host inside a component, a
:class:`~wasync_job.testing.FakeContext` in tests. Both speak the WIT
shapes (JSON as text) defined here."""

from __future__ import annotations

import contextvars
from dataclasses import dataclass, field
from typing import Optional, Sequence


@dataclass(frozen=True)
class WireJob:
    """The WIT ``job-info``."""

    id: str
    queue: str
    module: str
    module_name: Optional[str]
    function: str
    args: str
    attempt: int
    annotations: list[tuple[str, str]]


@dataclass(frozen=True)
class WireRequest:
    """The WIT ``job-request``."""

    function: str
    args: str = "[]"
    module: Optional[str] = None
    queue: Optional[str] = None
    begin_after_ms: Optional[int] = None
    begin_by_ms: Optional[int] = None
    quota_names: Sequence[str] = field(default_factory=tuple)
    retry: Optional[str] = None
    quota_keys: Sequence[tuple[str, str]] = field(default_factory=tuple)
    priority: int = 0
    unique: Optional["WireUnique"] = None
    broadcast: bool = False


@dataclass(frozen=True)
class WireUnique:
    """The WIT ``unique-request``."""

    key: Optional[str] = None
    states: Sequence[str] = field(default_factory=tuple)
    period_ms: Optional[int] = None


class Backend:
    """The ``context`` interface; errors are :class:`ContextError`."""

    def get_job(self) -> WireJob:
        raise NotImplementedError

    def set_live_annotation(self, name: str, value: str, job: Optional[str]) -> None:
        raise NotImplementedError

    def get_live_annotation(
        self, name: str, timeout_ms: int, poll_ms: int, job: Optional[str]
    ) -> Optional[str]:
        raise NotImplementedError

    def put(self, request: WireRequest) -> str:
        raise NotImplementedError

    def put_many(self, requests: Sequence[WireRequest]) -> list[tuple[str, bool]]:
        """One ``(id, duplicate)`` per request, in order."""
        raise NotImplementedError

    def add_callback(self, job: str, on: str, request: WireRequest) -> str:
        raise NotImplementedError

    def put_composite(
        self, kind: str, parts: Sequence[WireRequest], postprocess: WireRequest
    ) -> str:
        raise NotImplementedError

    def add_part(
        self,
        composite: str,
        part: WireRequest,
        callbacks: Sequence[tuple[str, WireRequest]],
    ) -> str:
        raise NotImplementedError

    def put_held(self, request: WireRequest) -> str:
        raise NotImplementedError

    def append_args(self, job: str, args: str, put_when: int) -> int:
        raise NotImplementedError


_ACTIVE: contextvars.ContextVar[Optional[Backend]] = contextvars.ContextVar(
    "wasync_job_backend", default=None
)


def activate(backend: Backend) -> contextvars.Token:
    """Makes ``backend`` the context of the job about to run."""
    return _ACTIVE.set(backend)


def deactivate(token: contextvars.Token) -> None:
    """Ends what :func:`activate` started."""
    _ACTIVE.reset(token)


def current() -> Backend:
    """The context of the running job.

    Raises ``RuntimeError`` outside a job (natively: outside
    ``FakeContext.run``), like zc.async's "not initialized"."""
    backend = _ACTIVE.get()
    if backend is None:
        raise RuntimeError(
            "no job is running: context functions work inside a job, or in a test "
            "through wasync_job.testing.FakeContext.run"
        )
    return backend
