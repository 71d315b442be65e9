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
from datetime import UTC, datetime

from sqlsentinel import __version__, commands
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
    parser = argparse.ArgumentParser(
        prog="sqlsentinel",
        description="SQL-first alerting: run SQL alerts on their schedules and notify.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[common],
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands_parser = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    test = commands_parser.add_parser(
        "test",
        aliases=["validate"],
        parents=[common],
        help="validate a config and show what it will do",
        description=_paragraph(
            "Validate CONFIG and print its data sources (passwords masked) and each alert with "
            "its schedule, timezone and next three runs. With --connect, also connect to "
            "every data source and run every enabled alert's query once, read-only and "
            "rolled back."
        ),
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    test.add_argument("config", metavar="CONFIG", help="path of the alerts YAML file")
    test.add_argument(
        "--connect", action="store_true", help="connect and run each enabled alert's query once"
    )
    _add_format(test)
    _add_now(test, "compute the next runs from this instant instead of the clock")
    test.set_defaults(handler=commands.test)

    execute = commands_parser.add_parser(
        "execute",
        parents=[common],
        help="run one alert now and print its outcome",
        description=_paragraph(
            "Run ALERT's query now and print its status, actual value, threshold, context "
            "and duration. Disabled alerts can be run this way too."
        ),
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    execute.add_argument("config", metavar="CONFIG", help="path of the alerts YAML file")
    execute.add_argument("alert", metavar="ALERT", help="name of the alert to run")
    execute.add_argument(
        "--dry-run", action="store_true", help="send no notifications and record nothing"
    )
    _add_format(execute)
    execute.set_defaults(handler=commands.execute)

    notify_test = commands_parser.add_parser(
        "notify-test",
        parents=[common],
        help="send a test notification through an alert's channels",
        description=_paragraph(
            "Send a clearly marked test notification through ALERT's channels (or only those "
            "of --channel), so that delivery can be checked before relying on it. The query "
            "is not run."
        ),
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    notify_test.add_argument("config", metavar="CONFIG", help="path of the alerts YAML file")
    notify_test.add_argument(
        "alert", metavar="ALERT", help="name of the alert whose channels to test"
    )
    notify_test.add_argument(
        "--channel",
        choices=["email", "slack", "webhook", "ses", "sns"],
        help="test only the alert's channels of this type",
    )
    notify_test.add_argument(
        "--dry-run", action="store_true", help="show the test notification without sending it"
    )
    _add_format(notify_test)
    notify_test.set_defaults(handler=commands.notify_test)
    return parser


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
