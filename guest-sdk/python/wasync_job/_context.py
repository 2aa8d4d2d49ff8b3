"""The ``context`` interface with Pythonic names and types (zc.async's
``zc.async.local``): the running job, live annotations, putting jobs,
callbacks and composites. Values cross as JSON; times are ``datetime`` /
``timedelta`` or seconds."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable, Literal, Optional, Sequence, Union

from . import _backend
from ._errors import BAD_ARGUMENTS, JobFailure

#: On which outcome of its job a callback runs its function.
CallbackOn = Literal["always", "success", "failure"]
#: zc.async's composites: parts one after another, or all at once.
CompositeKind = Literal["serial", "parallel"]

_ON_VALUES = ("always", "success", "failure")


@dataclass(frozen=True)
class JobInfo:
    """What a running job knows about itself (zc.async ``getJob()``)."""

    id: str
    queue: str
    module: str
    module_name: Optional[str]
    function: str
    args: Any
    """The arguments as given at put time: a list or a dict."""
    attempt: int
    annotations: dict[str, Any]
    """The annotations when the job started, decoded from JSON."""


@dataclass(frozen=True)
class Unique:
    """The uniqueness of a put: ``key`` (``None``: derived from module,
    function and arguments), scoped to the job's queue, blocks another put
    with it while a job holding it is in one of ``states`` (names such as
    ``"pending"``; empty: every state before ``completed``), within periods
    of ``period`` (a ``timedelta`` or seconds; ``None``: none). A put whose
    key is held inserts nothing and returns the holder's id."""

    key: Optional[str] = None
    states: Sequence[str] = field(default_factory=tuple)
    period: Union[timedelta, float, None] = None

    def wire(self) -> _backend.WireUnique:
        """The uniqueness as the host receives it."""
        return _backend.WireUnique(
            key=self.key, states=tuple(self.states), period_ms=_duration_ms(self.period)
        )


@dataclass(frozen=True)
class Request:
    """A job to put: function, arguments (a list for positional, a dict for
    named) and the ``job-request`` options. ``None`` module or queue means
    the putting job's; ``begin_after`` is a ``datetime`` or Unix seconds,
    ``begin_by`` a ``timedelta`` or seconds after it; ``retry`` a preset's
    name (``"never"``, ``"forever"``, ``"common-four-times"``) or a policy
    dict such as ``{"max_attempts": 3}``; ``quota_keys`` a partitioned
    quota and the job's key in it, e.g. ``{"tenants": "acme"}``;
    ``priority`` an int (higher runs first among due jobs); ``unique`` a
    :class:`Unique`; ``broadcast`` true to run the job once on every live
    dispatcher with an agent for its queue (only for :func:`put`: its
    result is the map dispatcher → outcome of its copies)."""

    function: str
    args: Union[Sequence[Any], dict[str, Any]] = field(default_factory=tuple)
    module: Optional[str] = None
    queue: Optional[str] = None
    begin_after: Union[datetime, float, None] = None
    begin_by: Union[timedelta, float, None] = None
    quota_names: Sequence[str] = field(default_factory=tuple)
    retry: Union[str, dict[str, Any], None] = None
    quota_keys: dict[str, str] = field(default_factory=dict)
    priority: int = 0
    unique: Optional[Unique] = None
    broadcast: bool = False

    def wire(self) -> _backend.WireRequest:
        """The request as the host receives it."""
        if not self.function:
            raise JobFailure(BAD_ARGUMENTS, "a job request needs a function name", permanent=True)
        if isinstance(self.args, dict):
            args: Any = self.args
        elif isinstance(self.args, (list, tuple)):
            args = list(self.args)
        else:
            raise JobFailure(
                BAD_ARGUMENTS,
                f"the arguments of `{self.function}` must be a list or a dict, not "
                f"{type(self.args).__name__}",
                permanent=True,
            )
        return _backend.WireRequest(
            function=self.function,
            args=_dumps(args, f"the arguments of `{self.function}`"),
            module=self.module,
            queue=self.queue,
            begin_after_ms=_epoch_ms(self.begin_after),
            begin_by_ms=_duration_ms(self.begin_by),
            quota_names=tuple(self.quota_names),
            retry=None if self.retry is None else _dumps(self.retry, "the retry policy"),
            quota_keys=tuple(self.quota_keys.items()),
            priority=int(self.priority),
            unique=None if self.unique is None else self.unique.wire(),
            broadcast=bool(self.broadcast),
        )


#: The most requests one :func:`put_many` takes: the host's batch maximum
#: (as ``POST /v1/jobs/batch``).
PUT_MANY_MAX = 10_000


@dataclass(frozen=True)
class PutAnswer:
    """What :func:`put_many` answers for one request: the job put, or,
    with ``duplicate``, the job holding the request's uniqueness key (by a
    job already in the queue or an earlier request of the same list)."""

    id: str
    duplicate: bool = False


def _dumps(value: Any, what: str) -> str:
    try:
        return json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise JobFailure("json", f"{what} cannot be turned into JSON: {e}") from e


def _epoch_ms(at: Union[datetime, float, None]) -> Optional[int]:
    if at is None:
        return None
    if isinstance(at, datetime):
        if at.tzinfo is None:
            at = at.replace(tzinfo=timezone.utc)
        return max(0, int(at.timestamp() * 1000))
    return max(0, int(at * 1000))


def _duration_ms(d: Union[timedelta, float, None]) -> Optional[int]:
    if d is None:
        return None
    seconds = d.total_seconds() if isinstance(d, timedelta) else float(d)
    return max(0, int(seconds * 1000))


def _as_request(request: Union[Request, str], args: Any = None, options: Any = None) -> Request:
    if isinstance(request, Request):
        if args is not None or options:
            raise TypeError("give either a Request or a function name with arguments and options")
        return request
    return Request(request, () if args is None else args, **(options or {}))


def get_job() -> JobInfo:
    """This job: id, queue, module, function, arguments, attempt and its
    annotations when it started."""
    info = _backend.current().get_job()
    return JobInfo(
        id=info.id,
        queue=info.queue,
        module=info.module,
        module_name=info.module_name,
        function=info.function,
        args=json.loads(info.args),
        attempt=info.attempt,
        annotations={name: json.loads(value) for name, value in info.annotations},
    )


def set_live_annotation(name: str, value: Any, *, job: Optional[str] = None) -> None:
    """Sets annotation ``name`` of this job (or of ``job``) to ``value``
    (anything JSON can hold) and commits it at once, so others see it while
    the job runs. Raises :class:`ContextError` if the host refuses it."""
    _backend.current().set_live_annotation(name, _dumps(value, f"annotation `{name}`"), job)


def get_live_annotation(
    name: str,
    default: Any = None,
    *,
    timeout: float = 0,
    poll: float = 1.0,
    job: Optional[str] = None,
) -> Any:
    """Reads annotation ``name`` of this job (or of ``job``), decoded; while
    it is absent, waits up to ``timeout`` seconds, re-checking every
    ``poll`` seconds, then gives ``default`` (zc.async
    ``getLiveAnnotation``)."""
    timeout_ms = min(int(timeout * 1000), 2**32 - 1)
    poll_ms = min(max(int(poll * 1000), 1), 2**32 - 1)
    text = _backend.current().get_live_annotation(name, timeout_ms, poll_ms, job)
    return default if text is None else json.loads(text)


def put(request: Union[Request, str], args: Any = None, **options: Any) -> str:
    """Puts a new job and returns its id: ``put("add", [2, 3])``,
    ``put("mail", {"to": "ops"}, queue="mail", retry="never")`` or
    ``put(Request(...))``. Return ``Await(id)`` to make this job's result
    that job's. Raises :class:`ContextError` if the host refuses it."""
    return _backend.current().put(_as_request(request, args, options).wire())


def put_many(requests: Iterable[Union[Request, str]]) -> list[PutAnswer]:
    """Puts every job of ``requests`` (each a :class:`Request`, or a
    function name for no arguments) all or none, in one transaction, and
    returns one :class:`PutAnswer` per request in the order given, once all
    are committed: ``put_many(Request("square", [i]) for i in range(100))``.
    Each request is checked as :func:`put` checks it; the list counts
    against the run's fan-out cap as that many puts. Raises
    :class:`JobFailure` (``bad-arguments``) for a request that cannot be
    sent and :class:`ContextError` if the host refuses the list: more than
    :data:`PUT_MANY_MAX` requests, a broadcast, or what ``put`` refuses,
    naming the first request at fault (``item 3: ...``). Nothing of the
    list is stored then."""
    wires = []
    for index, request in enumerate(requests):
        try:
            wires.append(_as_request(request).wire())
        except JobFailure as e:
            raise JobFailure(
                e.kind, f"item {index}: {e.message}", detail=e.detail, permanent=e.permanent
            ) from None
    return [PutAnswer(id, duplicate) for id, duplicate in _backend.current().put_many(wires)]


def add_callback(job: str, callback: Union[Request, str], on: CallbackOn = "always") -> str:
    """Adds a callback to ``job``: ``callback`` is put once ``job`` has its
    outcome (the value, or the failure as a dict), appended to its
    positional arguments (or under ``outcome`` for named ones). ``on``
    limits it to ``"success"`` or ``"failure"``. Returns the callback's
    id, to which callbacks can be added in turn."""
    if on not in _ON_VALUES:
        raise ValueError(f"on must be one of {_ON_VALUES}, not {on!r}")
    return _backend.current().add_callback(job, on, _as_request(callback).wire())


def put_composite(
    kind: CompositeKind, parts: Iterable[Union[Request, str]], postprocess: Union[Request, str]
) -> str:
    """Puts a ``"serial"`` or ``"parallel"`` composite: its parts, then
    ``postprocess`` with every part's outcome appended (under ``outcomes``
    for named arguments). Returns its id; return ``Await(id)`` to make the
    postprocess's result this job's."""
    if kind not in ("serial", "parallel"):
        raise ValueError(f"kind must be 'serial' or 'parallel', not {kind!r}")
    wire_parts = [_as_request(p).wire() for p in parts]
    return _backend.current().put_composite(kind, wire_parts, _as_request(postprocess).wire())


def serial(*parts: Union[Request, str], postprocess: Union[Request, str]) -> str:
    """zc.async ``serial(*parts, postprocess=...)``: see :func:`put_composite`."""
    return put_composite("serial", parts, postprocess)


def parallel(*parts: Union[Request, str], postprocess: Union[Request, str]) -> str:
    """zc.async ``parallel(*parts, postprocess=...)``: see :func:`put_composite`."""
    return put_composite("parallel", parts, postprocess)


def add_part(
    composite: str,
    part: Union[Request, str],
    callbacks: Iterable[tuple[CallbackOn, Union[Request, str]]] = (),
) -> str:
    """Adds ``part``, last, to ``composite`` with its ``callbacks`` (pairs
    of ``on`` and request), atomically. Returns the part's id."""
    wire_callbacks = []
    for on, request in callbacks:
        if on not in _ON_VALUES:
            raise ValueError(f"on must be one of {_ON_VALUES}, not {on!r}")
        wire_callbacks.append((on, _as_request(request).wire()))
    return _backend.current().add_part(composite, _as_request(part).wire(), wire_callbacks)


def put_held(request: Union[Request, str], args: Any = None, **options: Any) -> str:
    """Creates a job that waits in no queue until :func:`append_args` puts
    it (zc.async's ``Job(f)`` before ``queue.put``). Returns its id."""
    return _backend.current().put_held(_as_request(request, args, options).wire())


def append_args(job: str, args: Sequence[Any], put_when: int) -> int:
    """Appends ``args`` to the positional arguments of a held job and puts
    it once it has at least ``put_when`` of them, atomically. Returns how
    many arguments it has now."""
    return _backend.current().append_args(job, _dumps(list(args), "the arguments"), put_when)
