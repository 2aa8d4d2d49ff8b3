"""Test job functions in plain CPython, without wasm or wasync: a fake
``context`` held in memory and a runner that calls a job function by name
with JSON arguments through the very dispatch the component uses.

::

    from wasync_job.testing import FakeContext, JobFailed

    def test_later():
        ctx = FakeContext()
        outcome = ctx.run("later", ["Ada"])
        put = ctx.puts[0]
        assert outcome.awaited == put.id
        assert ctx.run_put(put).value == "Hello, Ada!"

Differences from the host, on purpose: a wait for an absent live
annotation returns the default at once (recorded in :attr:`waits`); module
and queue names are not checked; no size limits apply, but for the count
of a ``put_many`` (:data:`~wasync_job.PUT_MANY_MAX`, as the host); every
put is inserted (uniqueness is the host's).
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence, Union

from . import _backend
from ._context import PUT_MANY_MAX
from ._dispatch import Failure, Outcome, call
from ._errors import ContextError


class JobFailed(Exception):
    """A job run by :meth:`FakeContext.run` failed; the fields are the
    ``job-error`` the host would record."""

    def __init__(self, failure: Failure) -> None:
        super().__init__(f"{failure.kind}: {failure.message}")
        self.kind = failure.kind
        self.message = failure.message
        self.detail = failure.detail
        self.permanent = failure.permanent


@dataclass
class PutRecord:
    """A job put through the fake, decoded."""

    id: str
    parent: str
    function: str
    args: Any
    module: Optional[str]
    queue: Optional[str]
    begin_after_ms: Optional[int]
    begin_by_ms: Optional[int]
    quota_names: list[str]
    retry: Any
    quota_keys: dict[str, str] = field(default_factory=dict)
    priority: int = 0
    unique: Optional[_backend.WireUnique] = None
    broadcast: bool = False


@dataclass
class CallbackRecord:
    """A callback added through the fake."""

    id: str
    job: str
    on: str
    request: PutRecord


@dataclass
class CompositeRecord:
    """A composite put through the fake, with the parts added later."""

    id: str
    kind: str
    parts: list[PutRecord]
    postprocess: PutRecord
    part_callbacks: dict[str, list[tuple[str, PutRecord]]] = field(default_factory=dict)


@dataclass
class _Job:
    info: _backend.WireJob
    annotations: dict[str, str] = field(default_factory=dict)
    held_args: Optional[list[Any]] = None


class FakeContext(_backend.Backend):
    """An in-memory queue and a view of it as one job (:attr:`id`).

    ``FakeContext(args=[...], function=..., attempt=..., annotations={...})``
    sets up the job the runs see. :meth:`for_job` gives views of the same
    fake as other jobs."""

    def __init__(
        self,
        *,
        queue: str = "",
        module: str = "sha256:" + "0" * 64,
        module_name: Optional[str] = None,
        attempt: int = 1,
        annotations: Optional[dict[str, Any]] = None,
    ) -> None:
        self._jobs: dict[str, _Job] = {}
        self._ids = itertools.count(1)
        #: Every job put (by ``put``, ``put_held``, callbacks, composite parts).
        self.puts: list[PutRecord] = []
        #: Every callback added.
        self.callbacks: list[CallbackRecord] = []
        #: Every composite put.
        self.composites: list[CompositeRecord] = []
        #: Every ``get_live_annotation`` call: (job, name, timeout_ms, found).
        self.waits: list[tuple[str, str, int, bool]] = []
        self.id = self._new_job(queue, module, module_name, attempt)
        for name, value in (annotations or {}).items():
            self._jobs[self.id].annotations[name] = json.dumps(value)

    # --- set-up and inspection -------------------------------------------

    def _new_job(self, queue: str, module: str, module_name: Optional[str], attempt: int = 1) -> str:
        job_id = f"0190a5c0-0000-7000-8000-{next(self._ids):012x}"
        self._jobs[job_id] = _Job(
            _backend.WireJob(job_id, queue, module, module_name, "", "[]", attempt, [])
        )
        return job_id

    def add_job(self) -> str:
        """Adds another job (same queue and module) and returns its id."""
        me = self._jobs[self.id].info
        return self._new_job(me.queue, me.module, me.module_name)

    def for_job(self, job_id: str) -> "FakeContext":
        """A view of the same fake as job ``job_id``."""
        self._known(job_id)
        view = object.__new__(FakeContext)
        view.__dict__.update(self.__dict__)
        view.id = job_id
        return view

    def annotation(self, name: str, job: Optional[str] = None) -> Any:
        """Annotation ``name`` of this job (or ``job``), decoded, or ``None``."""
        text = self._jobs[job or self.id].annotations.get(name)
        return None if text is None else json.loads(text)

    def held_args(self, job: str) -> Optional[list[Any]]:
        """The arguments of a held job not yet put, or ``None``."""
        return self._jobs[job].held_args

    def run(self, function: str, args: Union[Sequence[Any], dict[str, Any]] = ()) -> Outcome:
        """Runs job function ``function`` with ``args`` as this job, as the
        host would; returns its :class:`Outcome` (``.value`` or
        ``.awaited``) or raises :class:`JobFailed`."""
        job = self._jobs[self.id]
        args_json = json.dumps(args if isinstance(args, dict) else list(args))
        info = job.info
        job.info = _backend.WireJob(
            info.id, info.queue, info.module, info.module_name, function, args_json,
            info.attempt, [],
        )
        token = _backend.activate(self)
        try:
            result = call(function, args_json)
        finally:
            _backend.deactivate(token)
        if isinstance(result, Failure):
            raise JobFailed(result)
        return result

    def run_put(self, record: PutRecord) -> Outcome:
        """Runs a job that was put, as a worker would, as that job."""
        return self.for_job(record.id).run(record.function, record.args)

    # --- the context interface --------------------------------------------

    def _known(self, job: Optional[str]) -> str:
        job_id = job or self.id
        if job_id not in self._jobs:
            raise ContextError(f"job {job_id} does not exist")
        return job_id

    def _record(self, request: _backend.WireRequest, held: bool = False) -> PutRecord:
        me = self._jobs[self.id].info
        job_id = self._new_job(request.queue or me.queue, request.module or me.module, None)
        args = json.loads(request.args)
        if not isinstance(args, (list, dict)):
            raise ContextError("the arguments must be a JSON array or object")
        if held:
            self._jobs[job_id].held_args = list(args) if isinstance(args, list) else []
        record = PutRecord(
            id=job_id,
            parent=self.id,
            function=request.function,
            args=args,
            module=request.module,
            queue=request.queue,
            begin_after_ms=request.begin_after_ms,
            begin_by_ms=request.begin_by_ms,
            quota_names=list(request.quota_names),
            retry=None if request.retry is None else json.loads(request.retry),
            quota_keys=dict(request.quota_keys),
            priority=request.priority,
            unique=request.unique,
            broadcast=request.broadcast,
        )
        self.puts.append(record)
        return record

    def get_job(self) -> _backend.WireJob:
        job = self._jobs[self.id]
        info = job.info
        return _backend.WireJob(
            info.id, info.queue, info.module, info.module_name, info.function, info.args,
            info.attempt, sorted(job.annotations.items()),
        )

    def set_live_annotation(self, name: str, value: str, job: Optional[str]) -> None:
        self._jobs[self._known(job)].annotations[name] = value

    def get_live_annotation(
        self, name: str, timeout_ms: int, poll_ms: int, job: Optional[str]
    ) -> Optional[str]:
        job_id = self._known(job)
        value = self._jobs[job_id].annotations.get(name)
        self.waits.append((job_id, name, timeout_ms, value is not None))
        return value

    def put(self, request: _backend.WireRequest) -> str:
        return self._record(request).id

    def put_many(self, requests) -> list[tuple[str, bool]]:
        """As the host: the list over the maximum or a broadcast refused,
        every request checked before any is recorded, the first refused
        named by its index."""
        if len(requests) > PUT_MANY_MAX:
            raise ContextError(
                f"put-many takes at most {PUT_MANY_MAX} requests; this list holds "
                f"{len(requests)}: split it into several calls"
            )
        for index, request in enumerate(requests):
            if request.broadcast:
                raise ContextError(
                    f"item {index}: a request of put-many cannot be a broadcast: put a "
                    "broadcast on its own, with `put`"
                )
            args = json.loads(request.args)
            if not request.function or not isinstance(args, (list, dict)):
                raise ContextError(
                    f"item {index}: a request needs a function name and a JSON array or "
                    "object of arguments"
                )
        return [(self._record(request).id, False) for request in requests]

    def add_callback(self, job: str, on: str, request: _backend.WireRequest) -> str:
        self._known(job)
        record = self._record(request)
        self.callbacks.append(CallbackRecord(record.id, job, on, record))
        return record.id

    def put_composite(self, kind, parts, postprocess) -> str:
        composite = self._new_job(self._jobs[self.id].info.queue, self._jobs[self.id].info.module, None)
        self.composites.append(
            CompositeRecord(
                composite, kind, [self._record(p) for p in parts], self._record(postprocess)
            )
        )
        return composite

    def add_part(self, composite, part, callbacks) -> str:
        record = next((c for c in self.composites if c.id == composite), None)
        if record is None:
            raise ContextError(f"job {composite} is not a composite")
        part_record = self._record(part)
        record.parts.append(part_record)
        record.part_callbacks[part_record.id] = [(on, self._record(r)) for on, r in callbacks]
        return part_record.id

    def put_held(self, request: _backend.WireRequest) -> str:
        return self._record(request, held=True).id

    def append_args(self, job: str, args: str, put_when: int) -> int:
        held = self._jobs[self._known(job)].held_args
        if held is None:
            raise ContextError(f"job {job} is not a held job, or was put already")
        items = json.loads(args)
        if not isinstance(items, list):
            raise ContextError("the arguments to append must be a JSON array")
        held.extend(items)
        count = len(held)
        if count >= put_when:
            self._jobs[job].held_args = None
            record = next(p for p in self.puts if p.id == job)
            record.args = list(held)
        return count
