"""Define every exception sqlsentinel raises, in one shallow tree.

Callers catch :class:`SentinelError` to handle anything of ours; adapters translate foreign
exceptions (SQLAlchemy, drivers, smtplib, HTTP, botocore) into these, chained with ``from``,
so no library's exception leaks past the module that talks to it::

    SentinelError
    ├── ConfigError          the config file or a command-line value is wrong (exit 2)
    ├── StateStoreError      the state database cannot be reached or used (exit 3)
    ├── QueryError           an alert's query failed (outcome ERROR)
    │   ├── QueryTimeout     ... because it ran past its timeout (outcome TIMEOUT)
    │   └── ContractError    ... because its result broke the query contract
    └── NotifyError          a channel could not deliver; ``permanent`` says whether to retry

Every message is meant to be shown to a person as it is: one sentence that names the file,
alert, field or channel and says what to do.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "ConfigError",
    "ConfigProblem",
    "ContractError",
    "NotifyError",
    "QueryError",
    "QueryTimeout",
    "SentinelError",
    "StateStoreError",
]


class SentinelError(Exception):
    """Base class of every error sqlsentinel raises on purpose."""


@dataclass(frozen=True)
class ConfigProblem:
    """Describe one thing wrong with a config, with where it is.

    Rendered as ``alerts.yaml:14: alert 'daily_revenue' field 'schedule': <message>``; the
    parts that are unknown are left out.
    """

    message: str
    file: str | None = None
    line: int | None = None
    alert: str | None = None
    field: str | None = None

    def __str__(self) -> str:
        where = ""
        if self.file is not None:
            where = self.file if self.line is None else f"{self.file}:{self.line}"
        subject = " ".join(
            part
            for part in (
                f"alert '{self.alert}'" if self.alert is not None else "",
                f"field '{self.field}'" if self.field is not None else "",
            )
            if part
        )
        prefix = ": ".join(part for part in (where, subject) if part)
        return f"{prefix}: {self.message}" if prefix else self.message


class ConfigError(SentinelError):
    """Report a config (or command-line) value that cannot be used; carries every problem found.

    A config usually has more than one mistake; reporting them all at once saves the user a
    round of edit-and-retry. ``str()`` gives one line per problem.
    """

    def __init__(self, problems: str | ConfigProblem | Iterable[ConfigProblem]) -> None:
        if isinstance(problems, str):
            problems = [ConfigProblem(problems)]
        elif isinstance(problems, ConfigProblem):
            problems = [problems]
        self.problems: tuple[ConfigProblem, ...] = tuple(problems)
        super().__init__("\n".join(str(problem) for problem in self.problems))


class StateStoreError(SentinelError):
    """Report that the state database cannot be reached or used."""


class QueryError(SentinelError):
    """Report that an alert's query could not produce a result."""


class QueryTimeout(QueryError):
    """Report that an alert's query ran past its timeout: stopped, or answered too late."""


class ContractError(QueryError):
    """Report a query result that breaks the contract (one row, a ``status`` of ALERT or OK)."""


class NotifyError(SentinelError):
    """Report a channel that could not deliver.

    ``permanent`` errors (bad credentials, unknown recipient, HTTP 4xx) are not retried:
    retrying cannot fix them. Transient ones (connection refused, SMTP 4xx, HTTP 5xx or 429)
    are retried with backoff; ``retry_after`` carries a server's requested delay in seconds.
    """

    def __init__(
        self, message: str, *, permanent: bool = False, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.retry_after = retry_after
