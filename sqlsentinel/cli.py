"""The ``sqlsentinel`` command: parse arguments, call the package, print, exit with a code.

argparse rather than a framework because it imports in a few milliseconds, and a tick that
runs every minute pays the import cost every minute. The entry point is the only place that
reads the clock; everything below takes ``now``.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import textwrap
import traceback
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlsentinel import __version__
from sqlsentinel.commands import alerts, scheduling, state
from sqlsentinel.errors import ConfigError, SentinelError, StateStoreError
from sqlsentinel.redact import RedactingFormatter, redactor

__all__ = ["EXIT_ALERT_FAILED", "EXIT_CONFIG", "EXIT_OK", "EXIT_STATE", "main"]

EXIT_OK = 0
EXIT_ALERT_FAILED = 1
EXIT_CONFIG = 2
EXIT_STATE = 3

EXIT_CODES = """\
exit codes:
  0  success (an alert that is firing is still a success)
  1  an alert's query errored or timed out, or a notification was not delivered
  2  usage or config error
  3  the state database cannot be reached
"""

log = logging.getLogger("sqlsentinel")


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser for every subcommand."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--log-level",
        choices=["debug", "info", "warning", "error"],
        default=argparse.SUPPRESS,
        help="how much to log on stderr (default: warning)",
    )
    common.add_argument(
        "--debug",
        action="store_true",
        default=argparse.SUPPRESS,
        help="log everything and show tracebacks (secrets stay masked)",
    )
    common.add_argument(
        "--state-url",
        metavar="URL",
        default=argparse.SUPPRESS,
        help="the state database (default: $SQLSENTINEL_STATE_URL, the config's state.url, "
        "or sqlsentinel_state.db next to the config)",
    )
    parser = argparse.ArgumentParser(
        prog="sqlsentinel",
        description="SQL-first alerting: run SQL alerts on their schedules and notify.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[common],
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(
        name: str, summary: str, description: str, **options: Any
    ) -> argparse.ArgumentParser:
        found = sub.add_parser(
            name, parents=[common], help=summary, description=_paragraph(description),
            epilog=EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter, **options,
        )  # fmt: skip
        found.add_argument("config", metavar="CONFIG", help="path of the alerts YAML file")
        return found

    tick = command(
        "tick", "run what is due now, once (call it every minute)",
        "Work out which alerts are due at this minute, claim each (alert, slot) in the state "
        "database so that overlapping ticks run it once, run it, decide, notify, record, and "
        "exit. Schedule it every minute: a CronJob, a Lambda on EventBridge, cron.",
    )  # fmt: skip
    _add_now(tick, "run the tick as if at this instant (slots, leases, cooldowns, silences)")
    _add_pool(tick)
    tick.add_argument(
        "--deadline", type=_seconds, default=55.0, metavar="SECONDS",
        help="claim nothing new after this many seconds (default: 55)",
    )  # fmt: skip
    _add_dry_run(tick, "run the due queries and decide, but claim, send and record nothing")
    _add_format(tick)
    tick.set_defaults(handler=scheduling.tick)

    run = command(
        "run", "run every enabled alert now, by hand",
        "Run every enabled alert now (MANUAL), through the same decide, notify and record "
        "path as the tick. With --watch, run the tick at every minute boundary instead, in "
        "this process, until SIGINT or SIGTERM (in-flight alerts finish first).",
    )  # fmt: skip
    run.add_argument("--watch", action="store_true", help="tick every minute until stopped")
    _add_pool(run)
    run.add_argument("--deadline", type=_seconds, default=55.0, help=argparse.SUPPRESS)
    run.add_argument("--now", type=_instant, default=None, help=argparse.SUPPRESS)
    _add_dry_run(run, "send no notifications and record nothing")
    _add_format(run)
    run.set_defaults(handler=scheduling.run)

    test = command(
        "test", "validate a config and show what it will do",
        "Validate CONFIG and print its data sources (passwords masked) and each alert with "
        "its schedule, timezone and next three runs. With --connect, also connect to every "
        "data source and run every enabled alert's query once, read-only and rolled back.",
        aliases=["validate"],
    )  # fmt: skip
    test.add_argument(
        "--connect", action="store_true", help="connect and run each enabled alert's query once"
    )
    _add_format(test)
    _add_now(test, "compute the next runs from this instant instead of the clock")
    test.set_defaults(handler=alerts.test)

    execute = command(
        "execute", "run one alert now, notify, and record it",
        "Run ALERT now (disabled alerts too): print its status, actual value, threshold, "
        "context and duration, decide from its recorded state, notify, and record the run "
        "(MANUAL) in history.",
    )  # fmt: skip
    execute.add_argument("alert", metavar="ALERT", help="name of the alert to run")
    _add_dry_run(execute, "send no notifications and record nothing")
    _add_format(execute)
    execute.set_defaults(handler=alerts.execute)

    notify_test = command(
        "notify-test", "send a test notification through an alert's channels",
        "Send a clearly marked test notification through ALERT's channels (or only those "
        "of --channel), so that delivery can be checked before relying on it. The query is "
        "not run and nothing is recorded.",
    )  # fmt: skip
    notify_test.add_argument(
        "alert", metavar="ALERT", help="name of the alert whose channels to test"
    )
    notify_test.add_argument(
        "--channel", choices=["email", "slack", "webhook", "ses", "sns"],
        help="test only the alert's channels of this type",
    )  # fmt: skip
    _add_dry_run(notify_test, "show the test notification without sending it")
    _add_format(notify_test)
    notify_test.set_defaults(handler=alerts.notify_test)

    history = command(
        "history", "show the latest recorded runs",
        "Print the latest runs of every alert, or of ALERT: a table, and a sparkline of each "
        "alert's actual value against its threshold.",
    )  # fmt: skip
    history.add_argument("alert", metavar="ALERT", nargs="?", help="only this alert's runs")
    history.add_argument("--limit", type=_positive, default=20, help="how many runs (default: 20)")
    _add_format(history)
    history.set_defaults(handler=state.history)

    status = command(
        "status", "show each alert's state",
        "Print each alert's state: last status and run, consecutive counts, last "
        "notification, next run, silence.",
    )  # fmt: skip
    _add_now(status, "compute the next runs and silences at this instant")
    _add_format(status)
    status.set_defaults(handler=state.status)

    silence = command(
        "silence", "stop an alert from notifying for a while",
        "Silence ALERT for --for: it keeps running and recording, and sends nothing new. If "
        "it is still firing when the silence ends, it notifies then.",
    )  # fmt: skip
    silence.add_argument("alert", metavar="ALERT")
    silence.add_argument(
        "--for", dest="duration", type=_duration, required=True, metavar="DURATION",
        help="how long: 30m, 2h, 1d",
    )  # fmt: skip
    silence.add_argument("--reason", help="why, shown by status")
    silence.set_defaults(handler=state.silence)

    unsilence = command("unsilence", "lift an alert's silence", "Lift ALERT's silence now.")
    unsilence.add_argument("alert", metavar="ALERT")
    unsilence.set_defaults(handler=state.unsilence)

    db = sub.add_parser("db", help="manage the state database", parents=[common])
    db_sub = db.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    db_upgrade = db_sub.add_parser(
        "upgrade", parents=[common], help="bring the state database to this version's schema",
        description="Create the sqlsentinel tables, or apply the migrations this version needs.",
    )  # fmt: skip
    db_upgrade.add_argument("config", metavar="CONFIG", help="path of the alerts YAML file")
    db_upgrade.set_defaults(handler=state.db_upgrade)
    return parser


def _add_pool(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--workers", type=_positive, default=8, metavar="N",
        help="alerts run at once (default: 8)",
    )  # fmt: skip


def _add_dry_run(parser: argparse.ArgumentParser, help_text: str) -> None:
    parser.add_argument("--dry-run", action="store_true", help=help_text)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be 1 or more")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number of seconds") from None
    if not value >= 0:  # NaN is not >= 0 either
        raise argparse.ArgumentTypeError(f"'{text}' must be 0 seconds or more")
    return value


def _duration(text: str) -> timedelta:
    from sqlsentinel.durations import parse_duration

    try:
        value = parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if value <= timedelta(0):
        raise argparse.ArgumentTypeError(f"'{text}' must be longer than 0 seconds")
    return value


def _paragraph(text: str) -> str:
    # the raw formatter keeps the epilog's table as written, so descriptions are wrapped here
    return textwrap.fill(text, width=78)


def _add_format(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--format", choices=["text", "json"], default="text", help="output format (default: text)"
    )


def _add_now(parser: argparse.ArgumentParser, help_text: str) -> None:
    parser.add_argument(
        "--now", type=_instant, metavar="ISO8601", help=f"{help_text} (UTC when no offset)"
    )


def _instant(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"'{text}' is not an ISO 8601 time such as 2026-11-27T10:00:00Z"
        ) from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


@contextmanager
def _logging_to_stderr(level: str, debug: bool) -> Iterator[None]:
    """Send log records to stderr, masked, while a command runs; then restore the root logger.

    Restoring matters when :func:`main` is called in-process (tests, a wrapper script): the
    caller's handlers and level come back, and no handler is left holding a closed stream.
    """
    threshold = logging.DEBUG if debug else getattr(logging, level.upper())
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(RedactingFormatter("%(levelname)s %(name)s: %(message)s"))
    # on the handler too: libraries that set their own logger's level (werkzeug, botocore)
    # would otherwise reach stderr below the level asked for
    handler.setLevel(threshold)
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    root.handlers[:] = [handler]
    root.setLevel(threshold)
    # Library warnings (SQLAlchemy's, say) go through the same masked handler, not raw stderr.
    logging.captureWarnings(True)
    try:
        yield
    finally:
        logging.captureWarnings(False)
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    redactor.add_environment()
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error argparse has printed
        if exc.code is None or isinstance(exc.code, int):
            return exc.code or EXIT_OK
        return EXIT_CONFIG
    debug = bool(getattr(args, "debug", False))
    with _logging_to_stderr(getattr(args, "log_level", "warning"), debug):
        try:
            code: int = args.handler(args)
        except ConfigError as exc:
            return _fail(exc, EXIT_CONFIG, debug)
        except StateStoreError as exc:
            return _fail(exc, EXIT_STATE, debug)
        except SentinelError as exc:
            return _fail(exc, EXIT_ALERT_FAILED, debug)
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            return 130
        except BrokenPipeError:
            raise  # the reader went away (`| head`): run() ends quietly
        except Exception as exc:  # a bug: say so plainly, traceback only on request
            hint = "" if debug else " (run with --debug for the traceback)"
            return _fail(exc, EXIT_ALERT_FAILED, debug, f"unexpected {type(exc).__name__}{hint}: ")
    return code


def _fail(exc: BaseException, code: int, debug: bool, prefix: str = "") -> int:
    if debug:
        text = "".join(traceback.format_exception(exc))
        print(redactor.scrub(text).rstrip(), file=sys.stderr)
    for line in str(exc).splitlines() or [type(exc).__name__]:
        print(f"error: {prefix}{redactor.scrub(line)}", file=sys.stderr)
    return code


def run() -> None:
    """Console-script entry point: exit with :func:`main`'s code; survive a closed pipe."""
    try:
        code = main()
        sys.stdout.flush()
    except BrokenPipeError:  # `sqlsentinel ... | head`: stop quietly, as other CLIs do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = EXIT_OK
    raise SystemExit(code)
