"""Whatever a file holds, loading it gives a Config or a ConfigError — never another exception.

Random documents are built from the real key names so that they reach deep into validation,
serialised with ``yaml.safe_dump``; random text and YAML-ish token soup exercise the parser.
Hostile documents (recursive aliases, alias bombs, deep nesting) must fail fast and cleanly.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sqlsentinel.config import Config, load_config_text
from sqlsentinel.errors import ConfigError

KEYS = [
    "alerts",
    "name",
    "description",
    "enabled",
    "query",
    "schedule",
    "notify",
    "channel",
    "recipients",
    "webhook_url",
    "url",
    "headers",
    "method",
    "database",
    "databases",
    "defaults",
    "state",
    "notifications",
    "email",
    "slack",
    "retry",
    "timeout",
    "cooldown",
    "timezone",
    "min_consecutive",
    "misfire_grace",
    "severity",
    "labels",
    "empty_result",
    "smtp_port",
]
VALUES = [
    "email",
    "slack",
    "webhook",
    "ses",
    "sns",
    "pagerduty",
    "SELECT 1",
    "* * * * *",
    "61 * * * *",
    "0 * * * * *",
    "@hourly",
    "@never",
    "sqlite:///x.db",
    "https://example.com/hook",
    "a@example.com",
    "${HOME}",
    "${UNSET:-fallback}",
    "${",
    "$${X}",
    "Europe/Berlin",
    "Mars/Olympus",
    "30s",
    "-5m",
    "1h30m",
    "critical",
    "",
]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(VALUES),
    st.dates(),
    st.datetimes(),
)
keys = st.one_of(st.sampled_from(KEYS), st.text(max_size=10), st.integers(-5, 5), st.booleans())


def _nested(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(keys, children, max_size=5),
    )


documents = st.recursive(scalars, _nested, max_leaves=40)


GOOD = {
    "timeout": ["30s", 90, "1h30m", "${TIMEOUT:-5m}"],
    "cooldown": [0, "1d", "15m"],
    "misfire_grace": ["5m", 600],
    "timezone": ["UTC", "Europe/Berlin", "America/New_York"],
    "min_consecutive": [1, 3],
    "severity": ["info", "CRITICAL"],
    "labels": [{"team": "data"}, {"tier": 1, "on": True}],
    "empty_result": ["ok", "alert", "error"],
    "notify_on_recovery": [True, False],
    "notify_on_error": [True, False],
    "enabled": [True, False],
    "description": ["revenue ${UNSET:-check}", "costs $$5"],
    "runbook_url": ["https://wiki.example.com/r"],
    "database": ["default", "a", "b"],
    "recipients": [["a@example.com"], "a@example.com, b@example.com"],
    "webhook_url": ["https://hooks.slack.com/services/T/B/X"],
    "url": ["https://example.com/hook"],
    "headers": [{"Authorization": "Bearer ${TOKEN:-t}"}],
    "method": ["post", "PUT"],
    "subject": ["Alert: {alert_name}"],
    "topic_arn": ["arn:aws:sns:eu-west-1:123456789012:alerts"],
}
POLICY = [*list(GOOD)[:9], "runbook_url", "database"]
CHANNEL_KEYS = {
    "email": ["recipients", "subject"],
    "slack": ["webhook_url"],
    "webhook": ["url", "method", "headers"],
    "sns": ["topic_arn", "subject"],
}


@st.composite
def config_shaped(draw: st.DrawFn) -> dict[Any, Any]:
    """Return a document close to a real config: good values, and now and then a bad one."""

    def rarely(good: Any, bad: st.SearchStrategy[Any]) -> Any:
        return draw(bad) if draw(st.integers(0, 24)) == 13 else good

    def value(key: str) -> Any:
        return rarely(draw(st.sampled_from(GOOD[key])), st.one_of(scalars, documents))

    def some(names: list[str]) -> dict[Any, Any]:
        chosen = draw(st.lists(st.sampled_from(names), unique=True, max_size=4))
        return {name: value(name) for name in chosen}

    def notify_entry() -> dict[Any, Any]:
        channel = rarely(draw(st.sampled_from(list(CHANNEL_KEYS))), st.sampled_from(VALUES[:6]))
        entry = {"channel": channel} | some(CHANNEL_KEYS.get(channel, ["url"]))
        if channel == "email":
            entry.setdefault("recipients", ["ops@example.com"])
        if channel in ("webhook", "sns"):
            entry.setdefault(*CHANNEL_KEYS[channel][:1], value(CHANNEL_KEYS[channel][0]))
        return entry

    def alert(index: int) -> dict[Any, Any]:
        base: dict[Any, Any] = {
            "name": rarely(f"alert_{index}", st.sampled_from(["alert_0", "", " x", 5])),
            "query": rarely("SELECT 'OK' AS status", st.sampled_from(["${Q}", "", 5])),
            "schedule": rarely(
                draw(st.sampled_from(["*/5 * * * *", "@daily", "0 9 * * 1-5"])),
                st.sampled_from([*VALUES[7:12], 5]),
            ),
        }
        for key in rarely([], st.lists(st.sampled_from(["name", "query", "schedule"]))):
            base.pop(key, None)
        base |= some([*POLICY, "enabled", "description"])
        if draw(st.booleans()):
            base["notify"] = [notify_entry() for _ in range(draw(st.integers(0, 3)))]
        if rarely(False, st.just(True)):
            base[draw(keys)] = draw(scalars)
        return base

    doc: dict[Any, Any] = {}
    sources = st.sampled_from(["sqlite:///x.db", {"url": "postgresql://u:pw@h/d"}])
    if draw(st.booleans()):
        doc["database"] = rarely(draw(sources), st.one_of(scalars, documents))
    if draw(st.booleans()):
        names = st.sampled_from(["default", "a", "b"])
        doc["databases"] = draw(st.dictionaries(names, sources, max_size=3))
    if draw(st.booleans()):
        doc["defaults"] = some(POLICY)
        if draw(st.booleans()):
            doc["defaults"]["notify"] = [notify_entry()]
    if draw(st.booleans()):
        doc["notifications"] = {"retry": {"attempts": rarely(3, st.integers(-1, 11))}}
    doc["alerts"] = [alert(index) for index in range(rarely(draw(st.integers(1, 3)), st.just(0)))]
    return doc


def _dump(document: Any) -> str:
    return yaml.safe_dump(document, allow_unicode=True, sort_keys=False)


yaml_ish_text = st.lists(
    st.sampled_from(
        [
            "alerts:",
            "\n",
            "\n  ",
            "  ",
            "- ",
            "name: ",
            "query: ",
            "schedule: ",
            "notify:",
            "channel: ",
            "&a ",
            "*a",
            "<<: ",
            "!!python/object:os.system ",
            "!!binary ",
            "!!str ",
            "!!int ",
            "!!set ",
            "? ",
            "{",
            "}",
            "[",
            "]",
            ",",
            ": ",
            "'",
            '"',
            "#",
            "---\n",
            "...\n",
            "%YAML 1.1\n",
            "${X}",
            "\t",
            "\x00",
            "\ufeff",
            "slack",
            "x",
            "5",
        ]
    ),
    max_size=40,
).map("".join)

SQL_SENTINEL_TEXT = (
    (Path(__file__).parent.parent / "fixtures" / "sql_sentinel_documented_forms.yaml")
    .read_text(encoding="utf-8")
    .replace("${", "${X:-https://example.com/")
)


@st.composite
def mutated(draw: st.DrawFn) -> str:
    """Return the SQL Sentinel example with a few lines deleted, repeated or edited."""
    lines = SQL_SENTINEL_TEXT.splitlines()
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(lines) - 1))
        action = draw(st.sampled_from(["delete", "repeat", "insert", "indent", "dedent"]))
        if action == "delete":
            del lines[at]
        elif action == "repeat":
            lines.insert(at, lines[at])
        elif action == "insert":
            column = draw(st.integers(0, len(lines[at])))
            token = draw(st.one_of(st.sampled_from(VALUES), yaml_ish_text))
            lines[at] = lines[at][:column] + token + lines[at][column:]
        elif action == "indent":
            lines[at] = "  " + lines[at]
        else:
            lines[at] = lines[at].removeprefix("  ")
        if not lines:
            break
    return "\n".join(lines) + "\n"


inputs = st.one_of(
    documents.map(_dump),
    config_shaped().map(_dump),
    mutated(),
    st.text(max_size=200),
    yaml_ish_text,
)


def load_or_explain(text: str) -> Config | ConfigError:
    """Return the loaded config or the ConfigError; any other exception fails the test."""
    try:
        return load_config_text(text, source="fuzz.yaml", environ={})
    except ConfigError as exc:
        return exc


def assert_config_or_config_error(text: str) -> None:
    result = load_or_explain(text)
    if isinstance(result, Config):
        assert result.alerts
        return
    assert result.problems, "a ConfigError must carry at least one problem"
    for problem in result.problems:
        assert problem.message
        assert "\n" not in str(problem), "each problem must be one line"
        assert problem.file == "fuzz.yaml"


@settings(
    max_examples=200,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(inputs)
def test_loading_any_document_gives_a_config_or_a_config_error(text: str) -> None:
    assert_config_or_config_error(text)


def test_the_fuzzed_shapes_include_configs_that_load() -> None:
    # Guard the generator: a shape that can never be valid would test only the error paths.
    text = _dump(
        {
            "database": "sqlite:///x.db",
            "alerts": [{"name": "a", "query": "SELECT 1", "schedule": "* * * * *"}],
        }
    )
    assert isinstance(load_config_text(text, environ={}), Config)


BILLION_LAUGHS = """\
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""
MAPPING_LAUGHS = "".join(
    f"{level}: &{level} {{"
    + ", ".join(f"k{n}: {'*' + chr(ord(level) - 1) if level != 'a' else 'lol'}" for n in range(9))
    + "}\n"
    for level in "abcdefghi"
)
VALID = 'database: "sqlite:///x.db"\nalerts:\n  - name: a\n    query: SELECT 1\n'


@pytest.mark.parametrize(
    ("text", "says"),
    [
        pytest.param("a: &x [*x]\n", "YAML alias that contains itself", id="recursive list alias"),
        pytest.param(
            "a: &x {b: *x}\n", "YAML alias that contains itself", id="recursive mapping alias"
        ),
        pytest.param(
            VALID + "    schedule: '@daily'\n    labels: &x {loop: *x}\n",
            "YAML alias that contains itself",
            id="recursive alias inside an alert",
        ),
        pytest.param("a: &x {b: 1, <<: *x}\n", "'alerts:'", id="merge of itself"),
        pytest.param(BILLION_LAUGHS, "more than 100000 values", id="billion laughs"),
        pytest.param(MAPPING_LAUGHS, "more than 100000 values", id="billion laughs of mappings"),
        pytest.param(
            BILLION_LAUGHS + VALID + "    schedule: '@daily'\n    notify: *i\n",
            "more than 100000 values",
            id="billion laughs in notify",
        ),
        pytest.param(
            MAPPING_LAUGHS.replace("i: &i", "defaults: &i") + VALID + "    schedule: '@daily'\n",
            "more than 100000 values",
            id="billion laughs in defaults",
        ),
        pytest.param("a: " + "[" * 200 + "]" * 200 + "\n", "levels deep", id="200 nested lists"),
        pytest.param(
            "a: " + "{a: " * 200 + "1" + "}" * 200 + "\n", "levels deep", id="200 nested maps"
        ),
        pytest.param(
            VALID + "    schedule: '@daily'\n    labels: " + "[" * 900 + "]" * 900 + "\n",
            "levels deep",
            id="900 nested lists in an alert",
        ),
        pytest.param("a: " + "[" * 20000 + "]" * 20000 + "\n", "nesting depth", id="20000 nested"),
        pytest.param(
            "".join("  " * depth + "a:\n" for depth in range(3000)),
            "nesting depth",
            id="3000 nested block mappings",
        ),
    ],
)
def test_a_hostile_document_is_a_quick_config_error(text: str, says: str) -> None:
    started = time.perf_counter()
    with pytest.raises(ConfigError) as caught:
        load_config_text(text, source="hostile.yaml", environ={})
    elapsed = time.perf_counter() - started

    assert says in str(caught.value)
    assert str(caught.value).startswith("hostile.yaml:")
    assert elapsed < 5, f"took {elapsed:.1f}s"


def test_a_deep_but_reasonable_alias_tree_still_loads() -> None:
    text = (
        "defaults:\n"
        "  labels: &labels {team: data, tier: '1'}\n"
        'database: "sqlite:///x.db"\n'
        "alerts:\n"
        + "".join(
            f"  - name: a{n}\n    query: SELECT 1\n    schedule: '@hourly'\n    labels: *labels\n"
            for n in range(200)
        )
    )
    config = load_config_text(text, environ={})
    assert len(config.alerts) == 200
    assert dict(config.alerts[-1].labels) == {"team": "data", "tier": "1"}


@pytest.mark.parametrize(
    ("text", "line", "says"),
    [
        pytest.param("a: \ud800\n", 1, "not valid Unicode text", id="lone surrogate"),
        pytest.param("a: 1\nb: x\x08y\n", 2, "control character '\\x08'", id="control character"),
        pytest.param("a: !!int\n", 1, "'' cannot be read as !!int", id="empty tagged int"),
        pytest.param("a:\n  b: !!float x\n", 2, "'x' cannot be read as !!float", id="bad float"),
        pytest.param("a: !!bool maybe\n", 1, "cannot be read as !!bool", id="bad tagged bool"),
        pytest.param("a: !!timestamp soon\n", 1, "cannot be read as !!timestamp", id="bad time"),
        pytest.param("a: !!int 0x\n", 1, "'0x' cannot be read as !!int", id="bad hex int"),
        pytest.param("a: " + "1" * 5000 + "\n", 1, "...' cannot be read as !!int", id="huge int"),
        pytest.param("!!set :\n", 1, "is not valid YAML", id="unhashable set key"),
        pytest.param("? [a, b]\n: 1\n", 1, "unhashable key", id="list as a key"),
        pytest.param("1: a\n1.0: c\n", 2, "'1.0' appears twice (first on line 1)", id="equal keys"),
    ],
)
def test_an_odd_scalar_or_key_is_a_config_error_with_its_line(
    text: str, line: int, says: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config_text(text, source="odd.yaml", environ={})
    (problem,) = caught.value.problems
    assert problem.line == line
    assert says in problem.message
