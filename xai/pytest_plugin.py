"""pytest plugin: turn evaluation tests into a report (``pytest --xai-report DIR``).

Registered through the ``pytest11`` entry point. Without ``--xai-report`` it writes nothing and
renders nothing; the ``xai_report`` fixture then only records metrics as JUnit properties.

With ``--xai-report DIR`` the run writes ``DIR/index.html`` (self-contained),
``DIR/report.json`` (schema: :data:`xai.report.SCHEMA`) and ``DIR/summary.md``, also when tests
fail. ``DIR`` is claimed before any test runs (:func:`xai.report.writers.prepare_folder`): a
folder that cannot be written to, or that holds report files xai did not write, is a usage error
(exit code 4) naming it; a report that cannot be written at the end makes the exit code 3.

Under pytest-xdist each worker appends the records of each test as it finishes to its own
journal in a spool folder under ``DIR`` (one line per test, :func:`xai._files.append_line`),
so a worker that dies loses only the test it was running; the controller merges the journals
with the outcomes it receives anyway, writes one report and removes the spool. (A worker that
was given no spool folder ships its records at the end through ``workeroutput``.)

Fixtures:
    xai_report: record metrics, tables, figures and explanations into the test's section.
    xai_reference_model: ``xai_reference_model("shapes_cnn")`` -> a
        :class:`reference_models.ReferenceModel`, loaded once per session.

xai's own modules are imported inside the hooks and fixtures that use them: the plugin is
loaded by every pytest run in an environment where xai is installed, and importing torch and
the report writers at that point would slow every such run and put xai's modules in
``sys.modules`` before pytest's assertion rewriting.
"""

from __future__ import annotations

import json
import logging
import math
import os
import secrets
import shutil
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from xai.report.model import MetricCheck, Report

_log = logging.getLogger(__name__)

#: Name under which the per-run report collector is registered with pytest.
COLLECTOR_NAME = "xai-report-collector"
_WORKER_KEY = "xai_report"
#: Key of ``workerinput`` that gives a worker its spool folder.
_SPOOL_KEY = "xai_report_spool"
_SPOOL_PREFIX = ".xai-spool-"
_COLLECTOR = pytest.StashKey["ReportCollector | None"]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("xai", "xai evaluation report")
    group.addoption(
        "--xai-report",
        metavar="DIR",
        default=None,
        help="write an evaluation report (index.html, report.json, summary.md) into DIR",
    )
    group.addoption(
        "--xai-report-title",
        metavar="TITLE",
        default="xai evaluation report",
        help="title of the report (default: 'xai evaluation report')",
    )
    group.addoption(
        "--xai-report-root",
        metavar="DIR",
        default=None,
        help="the project whose git commit and state the report records (default: pytest's "
        "rootdir)",
    )


def pytest_configure(config: pytest.Config) -> None:
    directory = config.getoption("xai_report", default=None)
    config.stash[_COLLECTOR] = None
    if not directory:
        return
    path = Path(directory)
    if path.exists() and not path.is_dir():
        raise pytest.UsageError(
            f"--xai-report: expected a folder for the report, got the existing file {path}. "
            "Pass a folder name, e.g. --xai-report reports/xai."
        )
    if config.pluginmanager.has_plugin(COLLECTOR_NAME):  # configured twice: keep the first
        config.stash[_COLLECTOR] = config.pluginmanager.get_plugin(COLLECTOR_NAME)
        return
    if not hasattr(config, "workerinput"):  # the controller (or a run without xdist)
        from xai.errors import InputError
        from xai.report.writers import prepare_folder

        try:
            prepare_folder(path)
        except InputError as error:
            raise pytest.UsageError(f"--xai-report: {error.detail}") from error
        except OSError as error:
            raise pytest.UsageError(
                f"--xai-report: cannot write the report into the folder {str(path)!r} "
                f"({error.strerror or error}). Pass a folder that can be created and written to."
            ) from error
    collector = ReportCollector(config, path.resolve())
    config.stash[_COLLECTOR] = collector
    config.pluginmanager.register(collector, COLLECTOR_NAME)


def pytest_unconfigure(config: pytest.Config) -> None:
    collector = config.stash.get(_COLLECTOR, None)
    if collector is not None and config.pluginmanager.is_registered(collector):
        config.pluginmanager.unregister(collector)


class ReportCollector:
    """Collects one run's records and writes the report (controller) or ships them (worker)."""

    def __init__(self, config: pytest.Config, directory: Path) -> None:
        from xai.report.model import Report

        self.config = config
        self.directory = directory
        self.is_worker = hasattr(config, "workerinput")
        self.report: Report = Report(title=config.getoption("xai_report_title"))
        self.seeds: set[int] = set()
        #: the random state when the tests started (read after collection)
        self.start_seeds: dict[str, Any] = {}
        self.written: dict[str, Path] = {}
        self.error: str | None = None
        #: controller: the spool folder of the workers' journals (made for the first worker)
        self.spool: Path | None = None
        #: worker: its journal in the controller's spool folder, and what it has sent
        self.journal: Path | None = None
        self.sent_models: dict[str, Any] = {}
        self.sent_seeds: set[int] = set()
        if self.is_worker:
            spool = config.workerinput.get(_SPOOL_KEY)  # type: ignore[attr-defined]
            if spool:
                worker = config.workerinput.get("workerid", "gw")  # type: ignore[attr-defined]
                self.journal = Path(spool) / f"{worker}-{os.getpid()}.jsonl"

    # --- seeds (where the tests run: a worker under xdist) ---

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.start_seeds = _torch_seeds()

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        """The random state as the test starts, before its fixtures run: what a test's own
        ``torch.manual_seed`` sets afterwards does not change it."""
        seeds = _torch_seeds()
        if seeds:
            self.report.record(item.nodeid).seeds.update(seeds)

    # --- outcomes (on the controller these include the workers' reports) ---

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if self.is_worker:  # the controller receives every report (and writes the page)
            return
        record = self.report.record(report.nodeid)
        message = report.longreprtext if report.failed else ""
        # captured stdout/stderr/log, as pytest names them ("Captured stdout call"); each
        # phase's report repeats the earlier phases' sections, add_section keeps one of each
        for name, text in report.sections:
            record.add_section(str(name), str(text))
        if report.failed and not record.summary:
            record.summary = _crash_line(report)
        record.duration += float(report.duration)  # set-up + call + teardown
        # pytest-xdist reports a test whose worker died with when="???": a failed call
        when = report.when if report.when in ("setup", "call", "teardown") else "call"
        if when in ("setup", "call"):
            if hasattr(report, "wasxfail"):
                record.outcome = "xfailed" if report.skipped else "xpassed"
            elif report.failed:
                record.outcome = "error" if when == "setup" else "failed"
            elif report.skipped:
                record.outcome = "skipped"
                longrepr = report.longrepr
                if isinstance(longrepr, tuple) and len(longrepr) == 3:
                    record.message = str(longrepr[2])
                    record.summary = record.message
            elif when == "call":
                record.outcome = "passed"
        elif report.failed:  # teardown error
            record.outcome = "error"
        if message:
            record.message = (record.message + "\n" + message).strip()

    # --- xdist ---

    def payload(self) -> str:
        """The records with entries, the models and seeds, as JSON for the controller."""
        from xai._files import dumps_json

        return dumps_json(
            {
                "records": [t.to_dict() for t in self.report.tests.values() if t.has_entries()],
                "models": self.report.models,
                "seeds": sorted(self.seeds),
            }
        )

    def merge_payload(self, text: str) -> None:
        data = json.loads(text)
        self.report.merge(data["records"], data["models"])
        self.seeds.update(data.get("seeds", []))

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        """Controller: give each worker (and each replacement of a dead one) the spool."""
        if self.spool is None:
            self.spool = self.directory / f"{_SPOOL_PREFIX}{secrets.token_hex(6)}"
            self.spool.mkdir(parents=True, exist_ok=True)
        node.workerinput[_SPOOL_KEY] = str(self.spool)

    def pytest_runtest_logfinish(self, nodeid: str, location: Any) -> None:
        """Worker: append this test's records (and models and seeds new since the last
        record) to the journal as soon as the test has finished."""
        if self.journal is None:
            return
        record = self.report.tests.pop(nodeid, None)
        try:
            self.send(record)
        except OSError as error:  # keep it, and everything after, for the end (workeroutput)
            _log.warning("xai report: cannot append to %s (%s)", self.journal, error)
            self.journal = None
            if record is not None:
                self.report.tests[nodeid] = record

    def send(self, *records: Any) -> None:
        """Worker: one journal line with ``records`` (those with entries) and what is new."""
        from xai._files import append_line, dumps_json

        if self.journal is None:
            raise RuntimeError("send() is for pytest-xdist workers, which have a journal.")
        entries = [r.to_dict() for r in records if r is not None and r.has_entries()]
        models = {k: v for k, v in self.report.models.items() if self.sent_models.get(k) != v}
        seeds = self.seeds - self.sent_seeds
        if not (entries or models or seeds):
            return
        append_line(
            self.journal, dumps_json({"records": entries, "models": models, "seeds": sorted(seeds)})
        )
        self.sent_models.update(models)
        self.sent_seeds |= seeds

    def merge_spool(self) -> None:
        """Controller: merge every worker's journal, then remove the spool folder. A line that
        does not parse (the last one of a worker killed while writing it) is skipped."""
        if self.spool is None:
            return
        for journal in sorted(self.spool.glob("*.jsonl")):
            for number, line in enumerate(journal.read_text("utf-8", "replace").splitlines(), 1):
                try:
                    self.merge_payload(line)
                except (ValueError, KeyError, TypeError) as error:
                    _log.warning("xai report: skipped line %d of %s (%s)", number, journal, error)
        shutil.rmtree(self.spool, ignore_errors=True)
        self.spool = None

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        payload = getattr(node, "workeroutput", {}).get(_WORKER_KEY)
        if payload:  # a worker without a spool folder: everything at its end
            self.merge_payload(payload)

    # --- end of run ---

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if self.is_worker:
            if self.journal is not None:
                self.send(*self.report.tests.values())  # anything recorded outside a test
            else:
                self.config.workeroutput[_WORKER_KEY] = self.payload()  # type: ignore[attr-defined]
            return
        from xai.errors import InputError
        from xai.report.provenance import collect
        from xai.report.writers import write_report

        try:
            self.merge_spool()
        except OSError as error:  # the folder went away: reported as the write failing below
            _log.error("xai report: could not read the workers' records: %s", error)

        # the seeds as the tests started (each test's own are in its record), not as they
        # ended: a test's torch.manual_seed(0) would show as the run's seed
        seeds: dict[str, Any] = {"PYTHONHASHSEED": os.environ.get("PYTHONHASHSEED")}
        seeds.update(self.start_seeds)
        seeds["explanations"] = sorted(self.seeds)
        root = self.config.getoption("xai_report_root", default=None) or self.config.rootpath
        self.report.provenance = collect(Path(root), seeds)
        self.report.provenance["exit_status"] = int(exitstatus)
        try:
            self.written = write_report(self.report, self.directory)
        except (OSError, InputError) as error:
            detail = error.detail if isinstance(error, InputError) else str(error)
            self.error = f"could not write the report into the folder {self.directory}: {detail}"
            _log.error("xai report: %s", self.error)
            if session.exitstatus in (
                pytest.ExitCode.OK,
                pytest.ExitCode.TESTS_FAILED,
                pytest.ExitCode.NO_TESTS_COLLECTED,
            ):
                session.exitstatus = pytest.ExitCode.INTERNAL_ERROR

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.is_worker:
            return
        if self.error:
            terminalreporter.write_line(f"xai report: {self.error}", red=True)
        elif self.written:
            terminalreporter.write_line(f"xai report: {self.written['html'].resolve()}")


def _torch_seeds() -> dict[str, Any]:
    """``{"torch_initial_seed": ...}`` when the run has imported torch, else ``{}`` (importing
    it here would slow every run that does not use it)."""
    torch = sys.modules.get("torch")
    if torch is None or not hasattr(torch, "initial_seed"):
        return {}
    return {"torch_initial_seed": int(torch.initial_seed())}


def _crash_line(report: pytest.TestReport) -> str:
    """The failure in one line, as pytest's short test summary shows it."""
    crash = getattr(report.longrepr, "reprcrash", None)
    text = str(getattr(crash, "message", "") or "").strip()
    if not text:
        lines = [line for line in report.longreprtext.splitlines() if line.strip()]
        text = lines[-1].strip() if lines else ""
    return text.splitlines()[0] if text else ""


def _number(value: Any, argument: str, allow_none: bool = False) -> float | None:
    if value is None and allow_none:
        return None
    if hasattr(value, "item") and getattr(value, "numel", lambda: 1)() == 1:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        kind = "a number or None" if allow_none else "a number"
        raise TypeError(
            f"{argument}: expected {kind} (int, float or a one-element tensor), "
            f"got {type(value).__name__}. Pass e.g. float(value)."
        )
    value = float(value)
    return value if math.isfinite(value) else None


def _name(name: Any, argument: str = "name") -> str:
    if not isinstance(name, str) or not name.strip():
        raise TypeError(f"{argument}: expected a non-empty string, got {name!r}.")
    return name


class XaiReport:
    """What the ``xai_report`` fixture gives a test: methods that record into its section.

    Without ``--xai-report`` metrics still reach JUnit XML; figures are closed, not rendered.
    """

    def __init__(self, node: pytest.Item, collector: ReportCollector | None) -> None:
        self._node = node
        self._collector = collector

    @property
    def enabled(self) -> bool:
        """True when the run writes a report (``--xai-report`` given)."""
        return self._collector is not None

    def _record(self) -> Any:
        if self._collector is None:  # internal: callers check `enabled` first
            raise RuntimeError(
                "xai_report: no report is being written (run with --xai-report DIR)."
            )
        return self._collector.report.record(self._node.nodeid)

    def metric(
        self,
        name: str,
        value: Any,
        threshold: Any = None,
        higher_is_better: bool = True,
    ) -> MetricCheck:
        """Record a metric; returns whether it meets ``threshold`` (true without one).

        Args:
            name: the metric's name, e.g. ``"accuracy"``.
            value: a number or one-element tensor (NaN/inf are recorded as missing).
            threshold: the value the metric must reach, or None.
            higher_is_better: whether larger values are better (``*_error``: False).

        Returns:
            A :class:`~xai.report.model.MetricCheck`: true when the metric meets its
            threshold (or has none), shown as its verdict, so that a failing
            ``assert xai_report.metric("accuracy", acc, threshold=0.9)`` reads
            ``assert accuracy 0.406 < threshold 0.9``.

        Raises:
            TypeError: a non-string name, a non-numeric value or threshold.
            ValueError: a threshold that is not a finite number.
        """
        from xai.report.model import Metric, MetricCheck

        name = _name(name)
        number = _number(value, "value")
        limit = _number(threshold, "threshold", allow_none=True)
        if threshold is not None and limit is None:
            raise ValueError(f"threshold: expected a finite number, got {threshold!r}.")
        if not isinstance(higher_is_better, bool):
            raise TypeError(f"higher_is_better: expected True or False, got {higher_is_better!r}.")
        metric = Metric(name, number, limit, higher_is_better)
        self._node.user_properties.append((f"xai.{name}", "nan" if number is None else number))
        if self._collector is not None:
            self._record().metrics.append(metric)
        return MetricCheck(metric)

    def figure(self, name: str, figure: Any, caption: str = "") -> None:
        """Record a matplotlib figure (embedded as PNG; the figure is closed)."""
        from xai.report.model import FigureEntry, figure_to_png

        name = _name(name)
        if not hasattr(figure, "savefig"):
            raise TypeError(
                f"figure: expected a matplotlib Figure, got {type(figure).__name__}. "
                "Pass the Figure, e.g. expl.plot(0) or plt.gcf()."
            )
        if self._collector is None:
            _close(figure)
            return
        self._record().figures.append(FigureEntry(name, figure_to_png(figure), "figure", caption))

    def explanation(
        self,
        name: str,
        explanation: Any,
        samples: int = 4,
        *,
        class_names: Sequence[str] | None = None,
        probabilities: Any = None,
        model_name: str | None = None,
    ) -> None:
        """Record an attribution gallery: the first ``samples`` samples of one explanation,
        or, given a sequence of explanations of the same inputs, the input and their maps
        side by side.

        Args:
            name: the gallery's name.
            explanation: an :class:`xai.Explanation`, or a sequence of them.
            samples: how many samples to show (default 4).
            class_names: names of the classes, shown in titles and captions instead of
                numbers (default: the explanation's ``extras["class_names"]``).
            probabilities: the model's class probabilities ``(N, K)`` for the explained
                inputs, to show the predicted class and its probability.
            model_name: the model's name, for the figures' titles.

        Raises:
            TypeError: ``explanation`` is not an explanation or a sequence of them.
            ValueError: ``samples`` is not a positive int.
        """
        from xai.explanation import Explanation
        from xai.report.model import FigureEntry, figure_to_png

        name = _name(name)
        group = [explanation] if isinstance(explanation, Explanation) else explanation
        if (
            not isinstance(group, Sequence)
            or not group
            or not all(isinstance(e, Explanation) for e in group)
        ):
            raise TypeError(
                "explanation: expected an xai.Explanation or a non-empty sequence of them, "
                f"got {type(explanation).__name__}."
            )
        if not isinstance(samples, int) or isinstance(samples, bool) or samples < 1:
            raise ValueError(f"samples: expected a positive int, got {samples!r}.")
        if self._collector is None:
            return
        from xai.viz import plot_comparison

        for member in group:
            seed = member.params.get("seed")
            if isinstance(seed, int):
                self._collector.seeds.add(seed)
        record = self._record()
        methods = ", ".join(e.method for e in group)
        from xai.viz import plot_explanation
        from xai.viz._common import class_label

        names = class_names if class_names is not None else group[0].extras.get("class_names")
        labels = {"class_names": class_names, "probabilities": probabilities}
        for index in range(min(samples, len(group[0]))):
            target = class_label(int(group[0].target[index]), names)
            if len(group) == 1:
                figure = plot_explanation(group[0], index, model_name=model_name, **labels)
            else:
                figure = plot_comparison(group, index, model_name=model_name, **labels)
            caption = f"sample {index}, target {target}: {methods}"
            record.figures.append(
                FigureEntry(f"{name} [{index}]", figure_to_png(figure), "explanation", caption)
            )

    def table(
        self,
        name: str,
        rows: Sequence[Mapping[str, Any]] | Sequence[Sequence[Any]] | Mapping[str, Any],
        columns: Sequence[str] | None = None,
    ) -> None:
        """Record a table: a list of dicts (columns from their keys), a list of rows with
        ``columns``, or a mapping (one row per key: ``name``, ``value``)."""
        from xai._files import to_json_value
        from xai.report.model import Table

        name = _name(name)
        if isinstance(rows, Mapping):
            columns, body = ["name", "value"], [[k, v] for k, v in rows.items()]
        elif isinstance(rows, Sequence) and not isinstance(rows, str):
            if all(isinstance(row, Mapping) for row in rows):
                keys: list[str] = list(columns or [])
                if not keys:
                    for row in rows:
                        keys += [str(k) for k in row if str(k) not in keys]
                body = [[row.get(k) for k in keys] for row in rows]  # type: ignore[union-attr]
                columns = keys
            elif columns is not None:
                body = [list(row) for row in rows]
                if any(len(row) != len(columns) for row in body):
                    raise ValueError(
                        f"rows: every row needs {len(columns)} values (one per column)."
                    )
            else:
                raise TypeError(
                    "rows: expected a list of dicts, or a list of sequences with columns=[...]."
                )
        else:
            raise TypeError(
                f"rows: expected a list of dicts, a list of sequences or a dict, "
                f"got {type(rows).__name__}."
            )
        if self._collector is not None:
            table = Table(name, [str(c) for c in columns], to_json_value(body))
            self._record().tables.append(table)

    def dataset_run(self, name: str, run: Any, top_k: int = 5) -> None:
        """Record a dataset explanation run (:func:`xai.explain_dataset`): its settings and
        progress, per-class counts and most/least confident samples as tables, and its
        summary figures.

        Args:
            name: the section's name for the run.
            run: an :class:`xai.DatasetExplanation` or the folder it was written to.
            top_k: how many most/least confident samples to show.

        Raises:
            TypeError: ``run`` is neither a run nor a folder.
            ValueError: the folder is not an xai run (from ``DatasetExplanation.load``).
        """
        import os

        from xai.evaluation.dataset_run import DatasetExplanation

        name = _name(name)
        if isinstance(run, str | os.PathLike):
            run = DatasetExplanation.load(run)
        if not isinstance(run, DatasetExplanation):
            raise TypeError(
                f"run: expected an xai.DatasetExplanation or its folder, got {type(run).__name__}."
            )
        if self._collector is None:
            return
        summary = run.summary(top_k=top_k)
        data = summary.to_dict()
        self.table(
            f"{name}: run",
            {
                "method": run.method,
                "options": run.options,
                "target": run.target,
                "samples": f"{run.done_samples} of {run.n_samples}",
                "complete": run.complete,
                "batch size": run.batch_size,
                "seed": run.seed,
                "folder": str(run.path),
            },
        )
        counts = data["class_counts"]
        classes = max(len(values) for values in counts.values())
        self.table(
            f"{name}: samples per class",
            [
                {"class": k, **{kind: values[k] for kind, values in counts.items()}}
                for k in range(classes)
            ],
        )
        for which in ("most_confident", "least_confident"):
            self.table(f"{name}: {which.replace('_', ' ')}", data[which])
        from xai.viz import plot_class_maps, plot_confidence_examples, plot_dataset_summary

        self.figure(f"{name}: summary", plot_dataset_summary(summary))
        self.figure(f"{name}: per-class maps", plot_class_maps(summary))
        for which in ("most", "least"):
            self.figure(f"{name}: {which} confident", plot_confidence_examples(summary, which))

    def model(self, name: str, **info: Any) -> None:
        """Record a model the run evaluated (shown in the report's summary)."""
        from xai._files import to_json_value

        name = _name(name)
        if self._collector is not None:
            self._collector.report.models[name] = to_json_value(info)


def _close(figure: Any) -> None:
    try:
        import matplotlib.pyplot as plt

        plt.close(figure)
    except Exception:  # not a pyplot figure
        pass


@pytest.fixture
def xai_report(request: pytest.FixtureRequest) -> XaiReport:
    """Record metrics, tables, figures and explanations into this test's report section."""
    return XaiReport(request.node, request.config.stash.get(_COLLECTOR, None))


@pytest.fixture(scope="session")
def xai_reference_model(request: pytest.FixtureRequest) -> Callable[[str], Any]:
    """``xai_reference_model(name)`` -> the reference model ``name``, loaded once per session
    (see :func:`reference_models.load`)."""
    cache: dict[str, Any] = {}
    collector = request.config.stash.get(_COLLECTOR, None)

    def load(name: str) -> Any:
        if name not in cache:
            import reference_models

            ref = reference_models.load(name)
            cache[name] = ref
            if collector is not None:
                test_metrics = ref.info.metrics.get("test", {})
                collector.report.models[name] = {
                    "task": ref.info.task,
                    "num_classes": ref.info.num_classes,
                    "source": f"reference_models ({Path(ref.info.weights).name})",
                    "shipped_test_accuracy": test_metrics.get("accuracy"),
                }
        return cache[name]

    return load
