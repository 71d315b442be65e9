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

from sqlsentinel import __version__
from sqlsentinel.errors import ConfigError, SentinelError, StateStoreError
from sqlsentinel.redact import RedactingFormatter, redact_url, redactor

__all__ = ["EXIT_ALERT_FAILED", "EXIT_CONFIG", "EXIT_OK", "EXIT_STATE", "main"]

EXIT_OK = 0
EXIT_ALERT_FAILED = 1
EXIT_CONFIG = 2
EXIT_STATE = 3

EXIT_CODES = """\
exit codes:
  0  success (an alert that is firing is still a success)
  1  an alert's query errored or timed out
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
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    test = commands.add_parser(
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
    test.set_defaults(handler=_test)

    execute = commands.add_parser(
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
    execute.set_defaults(handler=_execute)
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


def _test(args: argparse.Namespace) -> int:
    from sqlsentinel import report
    from sqlsentinel.config import load_config
    from sqlsentinel.database.engines import engine_for

    config = load_config(args.config)
    log.debug("loaded %s (alerts: %d)", args.config, len(config.alerts))
    # Creating an engine connects to nothing, but it is where SQLAlchemy reads the URL: a
    # dialect it does not know or a port that is not a number is a config error even here.
    engines = {name: engine_for(config, name) for name in config.data_sources}
    now = args.now or datetime.now(UTC)
    if not args.connect:
        _emit(report.config_summary(config, now, fmt=args.format), args.format)
        return EXIT_OK

    from sqlsentinel.executor.query import ping, run_query

    connections = []
    for name, engine in engines.items():
        log.debug("connecting to data source '%s' (%s)", name, redact_url(str(engine.url)))
        server, error = ping(engine)
        connections.append(report.ConnectionCheck(name, server, error))
    reachable = {item.name for item in connections if item.error is None}
    results = {}
    for alert in config.enabled_alerts:
        if alert.database in reachable:
            log.debug("running the query of alert '%s'", alert.name)
            results[alert.name] = run_query(
                engines[alert.database],
                alert.query,
                timeout=alert.timeout,
                empty_result=alert.empty_result,
            )
    _emit(
        report.config_summary(
            config, now, connections=connections, results=results, fmt=args.format
        ),
        args.format,
    )
    failed = len(reachable) < len(connections) or any(r.status.failed for r in results.values())
    return EXIT_ALERT_FAILED if failed else EXIT_OK


def _execute(args: argparse.Namespace) -> int:
    from sqlsentinel import report
    from sqlsentinel.config import load_config
    from sqlsentinel.database.engines import engine_for
    from sqlsentinel.executor.query import run_query

    config = load_config(args.config)
    alert = config.alert(args.alert)
    engine = engine_for(config, alert.database)
    log.debug("running the query of alert '%s' on data source '%s'", alert.name, alert.database)
    started_at = datetime.now(UTC)
    result = run_query(engine, alert.query, timeout=alert.timeout, empty_result=alert.empty_result)
    if result.error is not None:
        log.warning("alert '%s' %s: %s", alert.name, result.status.value, result.error)
    _emit(
        report.execution(
            alert, result, started_at=started_at, dry_run=args.dry_run, fmt=args.format
        ),
        args.format,
    )
    return EXIT_ALERT_FAILED if result.status.failed else EXIT_OK


def _emit(text: str, fmt: str) -> None:
    """Print a result on stdout, masked like the logs: results can quote errors and data.

    JSON was masked value by value when it was built (masking the text could break it).
    """
    print(text if fmt == "json" else redactor.scrub(text))


@contextmanager
def _logging_to_stderr(level: str, debug: bool) -> Iterator[None]:
    """Send log records to stderr, masked, while a command runs; then restore the root logger.

    Restoring matters when :func:`main` is called in-process (tests, a wrapper script): the
    caller's handlers and level come back, and no handler is left holding a closed stream.
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(RedactingFormatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if debug else getattr(logging, level.upper()))
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
