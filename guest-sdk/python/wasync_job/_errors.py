"""The errors of the SDK and the kinds the host records."""

from __future__ import annotations

from typing import Optional

#: Kind of the error for arguments that do not fit the job function.
BAD_ARGUMENTS = "bad-arguments"
#: Kind of the error for a job function name the module does not have.
UNKNOWN_FUNCTION = "unknown-function"
#: Kind of the error for a result that cannot be turned into JSON.
BAD_RESULT = "bad-result"


class JobFailure(Exception):
    """An error a job raises on purpose, with the ``job-error`` fields
    chosen by the author.

    ``permanent=True`` means retrying cannot help: the job fails for good
    whatever its retry policy says. Any other exception works too (its
    class name becomes the kind); give an exception class a true
    ``permanent`` attribute to make all its errors permanent.
    """

    def __init__(
        self,
        kind: str,
        message: str,
        *,
        detail: Optional[str] = None,
        permanent: bool = False,
    ) -> None:
        super().__init__(f"{kind}: {message}")
        self.kind = kind
        self.message = message
        self.detail = detail
        self.permanent = permanent


class ContextError(Exception):
    """The host refused a context call (unknown job, module, queue or
    quota, size limits, ...); the message is the host's."""
