"""The examples in README.md and docs/*.md are what the service answers on the default demo archive.

A document marks an example with ``<!-- example: NAME -->`` followed by fenced blocks (only blank lines
between them):

- ``sh`` blocks are the command; they must contain every string of the example's ``command``;
- when the example has a ``body``, the first other block is that request body (compared like an output);
- every further block is output, compared with what :data:`EXAMPLES` ``[NAME].run`` produces:
  ``json`` blocks as a subset (keys shown must exist with equal values; a float equals the real value
  rounded to the decimals shown; a key ``"..."`` or a list item starting with ``...`` stands for what is
  left out), ``text`` blocks line by line (``...`` inside a line matches anything; lines in order, others
  may lie between), a ``text`` block starting with ``HTTP/1.1`` as status line and headers.

Ids and ``created_at`` may differ. Numbers quoted in prose are checked by :data:`QUOTES`.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask.testing import FlaskClient

from fis.api.app import create_app
from fis.cli import main
from fis.config import Settings

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
BASE_URL = "http://127.0.0.1:8080"
REQUEST = json.loads((ROOT / "examples" / "request.json").read_text())
FIELD = REQUEST["geometry"]
MARKER = re.compile(r"^<!-- example: ([\w-]+) -->\s*$")
FENCE = re.compile(r"^```(\w*)\s*$")
UUID = re.compile(r"[0-9a-f]{8}-(?:[0-9a-f]{4}-){3}[0-9a-f]{12}|[0-9a-f]{8}-\.\.\.")
VOLATILE_KEYS = {"created_at"}
FIS_QUERY = (
    "/ogc/fis?LAYER=NDVI&CRS=EPSG:4326&TIME=2023-04-01/2023-04-30&RESOLUTION=10m&BINS=4&TYPE=EQUIDISTANT&MAXCC=20"
    "&GEOMETRY=POLYGON((46.0519273%2015.0027534,46.0485972%2015.0026239,46.048417%2015.0072772,"
    "46.0517471%2015.0074069,46.0519273%2015.0027534))"
)


# --------------------------------------------------------------------------- running the examples


@dataclass
class Output:
    """What a request or command produced."""

    text: str
    status: str = ""
    headers: dict[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        return json.loads(self.text)


@dataclass
class Context:
    """The demo archive, an app on it and outputs computed once."""

    data_dir: Path
    cli_dir: Path
    """Commands run on a copy of the database, so that their series never change what a POST reuses."""
    demo_output: str
    client: FlaskClient
    cache: dict[str, Any] = field(default_factory=dict)

    def http(self, method: str, path: str, body: Any = None) -> Output:
        response = self.client.open(path, method=method, json=body, base_url=BASE_URL)
        return Output(response.get_data(as_text=True), response.status, dict(response.headers))

    def cli(self, *args: str) -> Output:
        result = CliRunner().invoke(main, list(args), env={"FIS_DATA_DIR": str(self.cli_dir)})
        assert result.exit_code == 0, result.output
        return Output(result.stdout)

    def once(self, key: str, make: Callable[[], Any]) -> Any:
        if key not in self.cache:
            self.cache[key] = make()
        return self.cache[key]

    @property
    def series_id(self) -> str:
        """A series of examples/request.json (the documents' ``$ID``)."""
        return self.once("series", lambda: self.http("POST", "/api/v1/timeseries", REQUEST).json()["id"])

    def refiltered(self) -> Output:
        return self.once("refiltered", lambda: self.http(
            "GET", f"/api/v1/timeseries/{self.series_id}?max_cloud_fraction=0.5&include_cloudy=true"))

    def observation(self, output: Output, date: str) -> dict[str, Any]:
        return next(o for o in output.json()["observations"] if o["date"] == date)


@dataclass(frozen=True)
class Example:
    command: tuple[str, ...]
    run: Callable[[Context], Output]
    body: dict[str, Any] | None = None


def _post(body: dict[str, Any], query: str = "") -> Callable[[Context], Output]:
    return lambda ctx: ctx.http("POST", "/api/v1/timeseries" + query, body)


def _list(ctx: Context) -> Output:
    while ctx.http("GET", "/api/v1/timeseries").json()["total"] < 3:
        ctx.http("POST", "/api/v1/timeseries", REQUEST)
    return ctx.http("GET", "/api/v1/timeseries?limit=2&offset=0")


def _delete(ctx: Context) -> Output:
    series_id = ctx.http("POST", "/api/v1/timeseries", {**REQUEST, "time_range": {"from": "2023-04-01", "to": "2023-04-10"}}).json()["id"]
    assert ctx.http("DELETE", f"/api/v1/timeseries/{series_id}").status == "204 NO CONTENT"
    return ctx.http("GET", f"/api/v1/timeseries/{series_id}")


def _renamed(ctx: Context) -> tuple[str, Output]:
    """A series of April renamed with PATCH, and the PATCH response (its own series: the others stay unnamed)."""
    def make() -> tuple[str, Output]:
        series_id = ctx.http("POST", "/api/v1/timeseries", APRIL).json()["id"]
        return series_id, ctx.http("PATCH", f"/api/v1/timeseries/{series_id}", {"name": "wheat north 2023"})
    renamed: tuple[str, Output] = ctx.once("renamed", make)
    return renamed


def _series_list(ctx: Context) -> Output:
    ctx.cli("stats", "--geometry", str(ROOT / "examples" / "field.geojson"), "--from", "2023-04-01", "--to", "2023-04-30",
            "--format", "csv", "-o", str(ctx.cli_dir / "april.csv"))
    return ctx.cli("series", "list")


def _one_date(body: dict[str, Any], date: str) -> Callable[[Context], Output]:
    def run(ctx: Context) -> Output:
        return Output(json.dumps(ctx.observation(ctx.http("POST", "/api/v1/timeseries", body), date)))
    return run


STATISTICS_BODY = {
    "geometry": FIELD, "time_range": {"from": "2023-04-01", "to": "2023-06-30"},
    "mask_clouds": True,
    "indices": {"ndmi": None, "my_ratio": "(B08 - B11) / (B08 + B11)"},
    "statistics": {"percentiles": [0.05, 0.5, 0.95], "histogram": {"bins": 4, "low": -1, "high": 1}},
}
AGGREGATION_BODY = {
    "geometry": FIELD, "time_range": {"from": "2023-04-01", "to": "2023-06-30"},
    "aggregation": {"interval": "P1M", "pick": "least_cloudy"},
}
APRIL = {**REQUEST, "time_range": {"from": "2023-04-01", "to": "2023-04-30"}}
SWAPPED = {"geometry": "POLYGON((46.05 15.0, 46.05 15.01, 46.06 15.01, 46.06 15.0, 46.05 15.0))",
           "time_range": {"from": "2023-04-01", "to": "2023-04-30"}}
POST_REQUEST = ("-X POST", "/api/v1/timeseries", "@examples/request.json")
EXAMPLES: dict[str, Example] = {
    "demo": Example(("fis demo",), lambda ctx: Output(ctx.demo_output)),
    "health": Example(("/healthz",), lambda ctx: ctx.http("GET", "/healthz")),
    "first-post": Example(POST_REQUEST, _post(REQUEST)),
    "first-cli": Example(
        ("fis stats --geometry examples/field.geojson --from 2023-04-01 --to 2023-04-30 --max-cloud-fraction 0.2 --format csv",),
        lambda ctx: ctx.cli("stats", "--geometry", str(ROOT / "examples" / "field.geojson"), "--from", "2023-04-01",
                            "--to", "2023-04-30", "--max-cloud-fraction", "0.2", "--format", "csv"),
    ),
    "post": Example(("-i", *POST_REQUEST), _post(REQUEST)),
    "post-csv": Example(("/api/v1/timeseries?format=csv", "@examples/request.json"), _post(REQUEST, "?format=csv")),
    "post-long-csv": Example(("/api/v1/timeseries?format=long_csv", "@examples/request.json"),
                             _post(REQUEST, "?format=long_csv")),
    "list": Example(("/api/v1/timeseries?limit=2&offset=0",), _list),
    "get-refiltered": Example(("/api/v1/timeseries/$ID?max_cloud_fraction=0.5&include_cloudy=true",),
                              lambda ctx: ctx.refiltered()),
    "delete": Example(("-X DELETE", "/api/v1/timeseries/$ID"), _delete),
    "patch-name": Example(("-X PATCH", "/api/v1/timeseries/$ID", '{"name": "wheat north 2023"}'),
                          lambda ctx: _renamed(ctx)[1]),
    "named-csv": Example(("/api/v1/timeseries/$ID?format=csv",),
                         lambda ctx: ctx.http("GET", f"/api/v1/timeseries/{_renamed(ctx)[0]}?format=csv")),
    "error-unknown-query": Example(("/api/v1/timeseries/$ID?max_cloud_fractoin=0.5",), lambda ctx: ctx.http(
        "GET", f"/api/v1/timeseries/{ctx.series_id}?max_cloud_fractoin=0.5")),
    "empty-swapped": Example(("-X POST", "POLYGON((46.05 15.0, 46.05 15.01, 46.06 15.01, 46.06 15.0, 46.05 15.0))"),
                             _post(SWAPPED)),
    "series-list": Example(("fis stats --geometry examples/field.geojson --from 2023-04-01 --to 2023-04-30", "-o april.csv",
                            "fis series list"), _series_list),
    "scenes": Example(("/api/v1/scenes?bbox=14.99,46.04,15.01,46.06&datetime=2023-04-01/2023-04-30&limit=2",),
                      lambda ctx: ctx.http("GET", "/api/v1/scenes?bbox=14.99,46.04,15.01,46.06"
                                                  "&datetime=2023-04-01/2023-04-30&limit=2")),
    "error-unknown-key": Example(("-X POST", '"max_cloud_fractoin": 0.2'), _post({
        "geometry": "POLYGON((15 46, 15.01 46, 15.01 46.01, 15 46))",
        "time_range": {"from": "2023-01-01", "to": "2023-01-31"}, "max_cloud_fractoin": 0.2})),
    "error-out-of-range": Example(("/api/v1/timeseries/$ID?max_cloud_fraction=2",),
                                  lambda ctx: ctx.http("GET", f"/api/v1/timeseries/{ctx.series_id}?max_cloud_fraction=2")),
    "error-too-large": Example(("POLYGON((14.8 45.9, 15.2 45.9, 15.2 46.2, 14.8 46.2, 14.8 45.9))",), _post({
        "geometry": "POLYGON((14.8 45.9, 15.2 45.9, 15.2 46.2, 14.8 46.2, 14.8 45.9))",
        "time_range": {"from": "2023-04-01", "to": "2023-04-30"}})),
    "statistics-options": Example((), _one_date(STATISTICS_BODY, "2023-05-01"), body=STATISTICS_BODY),
    "aggregation": Example((), _one_date(AGGREGATION_BODY, "2023-05-01"), body=AGGREGATION_BODY),
    "fis": Example((FIS_QUERY.split("&GEOMETRY")[0], "&GEOMETRY=POLYGON((46.0519273%2015.0027534,"),
                   lambda ctx: ctx.http("GET", FIS_QUERY)),
    "fis-error": Example(("BINS=ten",), lambda ctx: ctx.http("GET", FIS_QUERY.replace("BINS=4", "BINS=ten"))),
}


def _april_fis_dates(ctx: Context, maxcc: int) -> int:
    return len(ctx.http("GET", FIS_QUERY.replace("MAXCC=20", f"MAXCC={maxcc}")).json()["C0"])


def _head_revision(ctx: Context) -> str:
    match = re.search(r"at revision (\w+)", ctx.cli("db", "upgrade").text)
    assert match
    return match.group(1)


def _cirrus_date(ctx: Context) -> dict[str, Any]:
    return ctx.observation(ctx.refiltered(), "2023-04-21")


#: (document, a string it must contain, made from the real output).
QUOTES: list[tuple[str, Callable[[Context], str]]] = [
    ("README.md", lambda ctx: "{} dates were computed and stored; {} of them".format(
        *(ctx.http("POST", "/api/v1/timeseries", REQUEST).json()["summary"][k] for k in ("observations", "cloudy")))),
    ("docs/semantics.md", lambda ctx: "2023-04-21 ({} in the demo)".format(
        json.loads(next((ctx.data_dir / "demo").glob("*20230421_T33TWN/*.json")).read_text())
        ["properties"]["fis:demo_weather"].replace("cirrus", "thin cirrus"))),
    ("docs/semantics.md", lambda ctx: f"(`cloud_fraction` {_cirrus_date(ctx)['cloud_fraction']:.2f})"),
    ("docs/semantics.md", lambda ctx: f"(`cloud_probability` {_cirrus_date(ctx)['cloud_probability']:.2f})"),
    ("docs/fis-endpoint.md", lambda ctx: f"`MAXCC=20` keeps {_april_fis_dates(ctx, 20)} of April's "
                                         f"{_april_fis_dates(ctx, 100)} dates"),
    ("docs/storage.md", lambda ctx: f"at revision {_head_revision(ctx)}"),
]


# --------------------------------------------------------------------------- reading the documents


@dataclass(frozen=True)
class Block:
    lang: str
    text: str


@dataclass(frozen=True)
class Marked:
    doc: str
    line: int
    name: str
    blocks: tuple[Block, ...]


def marked_examples(path: Path) -> Iterator[Marked]:
    lines = path.read_text().splitlines()
    for i, line in enumerate(lines):
        match = MARKER.match(line)
        if not match:
            continue
        blocks: list[Block] = []
        j = i + 1
        while True:
            while j < len(lines) and not lines[j].strip():
                j += 1
            fence = FENCE.match(lines[j]) if j < len(lines) else None
            if not fence:
                break
            end = next(k for k in range(j + 1, len(lines)) if lines[k].startswith("```"))
            blocks.append(Block(fence.group(1), "\n".join(lines[j + 1:end])))
            j = end + 1
        yield Marked(path.relative_to(ROOT).as_posix(), i + 1, match.group(1), tuple(blocks))


ALL_MARKED = [m for path in DOCS for m in marked_examples(path)]


# --------------------------------------------------------------------------- comparing


class Shown(float):
    """A float as written in a document, remembering its decimals."""

    decimals: int

    def __new__(cls, text: str) -> Shown:
        value = super().__new__(cls, text)
        mantissa = text.lower().split("e")[0]
        value.decimals = len(mantissa.split(".")[1]) if "." in mantissa else 0
        if "e" in text.lower():
            value.decimals += -int(text.lower().split("e")[1])
        return value


def _placeholder(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("...")


def _norm(text: str) -> str:
    return UUID.sub("<id>", text)


def match_json(shown: Any, actual: Any, where: str = "$") -> list[str]:
    """Differences between a shown (abbreviated, rounded) JSON value and the real one."""
    if isinstance(shown, dict):
        if not isinstance(actual, dict):
            return [f"{where}: shown an object, got {actual!r}"]
        problems = []
        for key, value in shown.items():
            if key == "...":
                continue
            if key not in actual:
                problems.append(f"{where}.{key}: not in the output (keys: {list(actual)})")
            elif key not in VOLATILE_KEYS:
                problems += match_json(value, actual[key], f"{where}.{key}")
        return problems
    if isinstance(shown, list):
        if not isinstance(actual, list):
            return [f"{where}: shown a list, got {actual!r}"]
        items = [v for v in shown if not _placeholder(v)]
        if len(items) == len(shown):
            if len(shown) != len(actual):
                return [f"{where}: shown {len(shown)} items, got {len(actual)}"]
            return [p for k, (s, a) in enumerate(zip(shown, actual)) for p in match_json(s, a, f"{where}[{k}]")]
        k = 0
        for item in items:  # an ordered subsequence of the real list
            while k < len(actual) and match_json(item, actual[k]):
                k += 1
            if k == len(actual):
                nearest = min(actual, key=lambda a: len(match_json(item, a)), default=None)
                return [f"{where}: no item (in order) matches {item!r}; nearest:",
                        *match_json(item, nearest, f"{where}[?]")]
            k += 1
        return []
    if _placeholder(shown):
        return []
    if isinstance(shown, Shown):
        if isinstance(actual, bool) or not isinstance(actual, (int, float)):
            return [f"{where}: shown {shown}, got {actual!r}"]
        if abs(actual - shown) > 0.5 * 10.0 ** -shown.decimals + 1e-12:
            return [f"{where}: shown {shown} ({shown.decimals} decimals), got {actual!r}"]
        return []
    if isinstance(shown, str) and isinstance(actual, str):
        return [] if _norm(shown) == _norm(actual) else [f"{where}: shown {shown!r}, got {actual!r}"]
    if type(shown) is not type(actual) or shown != actual:
        return [f"{where}: shown {shown!r}, got {actual!r}"]
    return []


def _line_pattern(line: str) -> re.Pattern[str]:
    return re.compile(".*?".join(re.escape(part) for part in _norm(line).split("...")))


def match_text(shown: str, actual: str) -> list[str]:
    """Shown lines (``...`` = anything) must be real lines, in order."""
    real = [_norm(line) for line in actual.splitlines()]
    k = 0
    for line in shown.splitlines():
        if not line.strip() or line.strip() == "...":
            continue
        pattern = _line_pattern(line)
        while k < len(real) and not pattern.fullmatch(real[k]):
            k += 1
        if k == len(real):
            return [f"no line (in order) matches {line!r}; output:\n{actual[:3000]}"]
        k += 1
    return []


def match_http(shown: str, output: Output) -> list[str]:
    status, *headers = shown.splitlines()
    problems = [] if status == f"HTTP/1.1 {output.status}" else [f"{status!r} but the status is {output.status!r}"]
    for header in headers:
        name, _, value = header.partition(": ")
        if _norm(output.headers.get(name, "")) != _norm(value):
            problems.append(f"header {name}: shown {value!r}, got {output.headers.get(name)!r}")
    return problems


def _shown_json(block: Block) -> Any:
    return json.loads(block.text, parse_float=Shown)


# --------------------------------------------------------------------------- tests


@pytest.fixture(scope="module")
def ctx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Context]:
    data_dir = tmp_path_factory.mktemp("docs")
    demo = CliRunner().invoke(main, ["demo", "--dir", str(data_dir / "demo")], env={"FIS_DATA_DIR": str(data_dir)})
    assert demo.exit_code == 0, demo.output
    cli_dir = tmp_path_factory.mktemp("docs-cli")
    shutil.copyfile(data_dir / "fis.sqlite", cli_dir / "fis.sqlite")
    app = create_app(Settings(data_dir=data_dir))
    app.config["TESTING"] = True
    yield Context(data_dir, cli_dir, demo.stdout, app.test_client())
    app.extensions["fis"].close()


def test_every_example_is_documented_and_known() -> None:
    names = [m.name for m in ALL_MARKED]
    assert set(names) == set(EXAMPLES), (set(names) ^ set(EXAMPLES))
    assert all(m.blocks for m in ALL_MARKED), [m for m in ALL_MARKED if not m.blocks]


@pytest.mark.parametrize("marked", ALL_MARKED, ids=[f"{m.doc}:{m.line}:{m.name}" for m in ALL_MARKED])
def test_example_output_is_real(ctx: Context, marked: Marked) -> None:
    example = EXAMPLES[marked.name]
    commands = "\n".join(b.text for b in marked.blocks if b.lang == "sh").replace("\\\n", "")
    for part in example.command:
        assert part in commands, f"{marked.doc}:{marked.line}: the command should contain {part!r}"
    outputs = [b for b in marked.blocks if b.lang != "sh"]
    problems: list[str] = []
    if example.body is not None:
        problems += match_json(_shown_json(outputs.pop(0)), example.body, "body")
    assert outputs, f"{marked.doc}:{marked.line}: no output block after the example"
    real = example.run(ctx)
    for block in outputs:
        if block.lang == "json":
            problems += match_json(_shown_json(block), real.json())
        elif block.text.startswith("HTTP/1.1 "):
            problems += match_http(block.text, real)
        else:
            problems += match_text(block.text, real.text)
    assert not problems, f"{marked.doc}:{marked.line} ({marked.name}):\n" + "\n".join(problems)


@pytest.mark.parametrize("doc, quote", QUOTES, ids=[f"{d}:{i}" for i, (d, _) in enumerate(QUOTES)])
def test_quoted_numbers_are_real(ctx: Context, doc: str, quote: Callable[[Context], str]) -> None:
    expected = quote(ctx)
    assert expected in " ".join((ROOT / doc).read_text().split()), f"{doc} should say {expected!r}"


def test_comparison_rules() -> None:
    """The matcher itself: rounding to the shown decimals, placeholders, order, ids."""
    shown = json.loads('{"a": 0.668, "b": [1, "..."], "c": "622b4e75-...", "...": "..."}', parse_float=Shown)
    assert match_json(shown, {"a": 0.66812, "b": [1, 2, 3], "c": "622b4e75-5f4b-4237-9373-3340ade8e15d", "d": 1}) == []
    assert match_json(shown, {"a": 0.6686, "b": [1], "c": "x"})  # 0.6686 rounds to 0.669
    assert match_json(json.loads('{"b": ["...", 3, 2]}'), {"b": [1, 2, 3]})  # order matters
    assert match_json(json.loads('{"b": [1, 2]}'), {"b": [1, 2, 3]})  # a list without "..." is whole
    assert match_json(json.loads('{"x": 1}'), {})
    assert match_text("a,...,c\n...\nz", "h\na,b,b,c\ny\nz") == []
    assert match_text("z\na,...,c", "a,b,c\nz")
