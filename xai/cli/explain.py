"""``xai explain``: explain test samples of a model with one or more methods, from the shell.

The model is a reference model by name, or a user's ``module:factory`` with ``--weights`` and
``--data`` (as for ``xai report``). Each method's explanation is saved as
``OUT/NAME_METHOD.safetensors`` (:meth:`xai.Explanation.load` reads it back) and every sample
gets one figure with all methods side by side, ``OUT/NAME_sampleI.png``.

The text model (keywords_text_cnn) is explained over its token ids with their attention
masks; its explanations keep the tokens, and its figures show each sentence with its tokens
coloured by attribution. ``--text "SENTENCE"`` explains a sentence of your own instead of test
samples (figures ``OUT/NAME_textI.png``; words outside the vocabulary are read as [UNK] and
named on stderr).
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import time
from pathlib import Path
from typing import Any

from xai._files import dumps_json
from xai.cli.common import (
    add_output_flags,
    device_problem,
    fail,
    flag_message,
    out_folder_problem,
    progress_setting,
    seed_problem,
    subject_from_arguments,
)
from xai.errors import InputError

_TARGETS = ("predicted", "label")

_log = logging.getLogger(__name__)


def _fail(message: str) -> int:
    return fail("explain", message)


def _option(text: str) -> tuple[str, Any]:
    """``KEY=VALUE`` with VALUE read as JSON when it is JSON (numbers, true, null, lists),
    else as a string: ``n_steps=100``, ``algorithm=kernel``, ``baselines=0.5``."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return key.strip(), value


def _indices(text: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated sample numbers, e.g. 0,5,12, got {text!r}"
        ) from None
    if not values:
        raise argparse.ArgumentTypeError(f"expected at least one sample number, got {text!r}")
    return values


#: Arguments of xai.explain / explain_dataset that xai explain fills from the data.
_FROM_THE_DATA = {"model_kwargs", "tokens"}


def _methods(args: argparse.Namespace, sample: Any) -> tuple[list[str], dict[str, Any], str]:
    """The methods (``--method``, else those that apply to ``sample``), the ``--option``s, and
    the problem with them (empty when there is none)."""
    import xai
    from xai.explainers.parameters import applicable_methods

    methods = args.method or applicable_methods(sample)
    options = dict(args.option or [])
    unknown = [m for m in methods if m not in xai.available_explainers()]
    if unknown:
        available = ", ".join(xai.available_explainers())
        return methods, options, f"--method: unknown method {unknown[0]!r}; available: {available}."
    if options and len(methods) != 1:
        return (
            methods,
            options,
            "--option: applies to one method; pass exactly one --method with it.",
        )
    given = sorted(_FROM_THE_DATA & set(options))
    if given:
        return (
            methods,
            options,
            f"--option: {given[0]} is not a method option here: xai explain passes the data's "
            "own (the attention masks of a text model, its tokens).",
        )
    return methods, options, ""


def _subject(args: argparse.Namespace) -> Any:
    return subject_from_arguments(args.model, args.weights, args.data)


def _typed_subject(args: argparse.Namespace, subject: Any) -> Any:
    """The subject with the sentences of ``--text`` as its samples (token ids and attention
    masks by the reference text model's tokenizer); words read as [UNK] are named on stderr.

    Raises:
        InputError: about ``--text`` (not a text model; an empty sentence) or a flag that
            needs test samples (``--index``, ``--target label``).
    """
    import dataclasses

    import torch

    from reference_models.datasets import UNK_TOKEN_ID, encode_text

    if not subject.is_text or subject.vocabulary is None:
        raise InputError(
            "--text",
            f"explains sentences of a text model (keywords_text_cnn); {subject.name} takes "
            f"inputs of shape {tuple(subject.inputs.shape[1:])}. Drop --text to explain its "
            "test samples.",
        )
    if args.index is not None:
        raise InputError(
            "--index", "picks test samples; with --text your sentences are explained. Drop one."
        )
    if args.target == "label":
        raise InputError(
            "--target",
            "'label' is the true class of a test sample; your sentences (--text) have none. "
            "Use 'predicted' or a class number.",
        )
    length = int(subject.inputs.shape[1])
    texts = list(args.text)
    ids, mask = encode_text(texts, max_length=length)
    for number, text in enumerate(texts):
        words = text.split()
        if not int(mask[number].sum()):
            raise InputError("--text", f"sentence {number} ({text!r}) holds no words.")
        unknown = [
            word
            for word in words
            if word != "[UNK]" and int(encode_text(word, max_length=1)[0][0, 0]) == UNK_TOKEN_ID
        ]
        if unknown:  # on stderr as "xai explain: --text: ...", also with -q
            _log.warning(
                "--text: sentence %d: %d word(s) outside the vocabulary of %s, read as [UNK]: %s",
                number, len(unknown), subject.name, ", ".join(map(repr, unknown)),
            )  # fmt: skip
        if len([w for w in words if int(encode_text(w, max_length=1)[1].sum())]) > length:
            _log.warning(
                "--text: sentence %d has more than %d words; %s reads the first %d.",
                number, length, subject.name, length,
            )  # fmt: skip
    return dataclasses.replace(
        subject,
        inputs=ids,
        labels=torch.full((len(texts),), -1, dtype=torch.long),  # no true class
        masks=None,
        model_kwargs={"attention_mask": mask},
    )


def _explain(args: argparse.Namespace) -> int:
    if args.summary is not None:
        return _summary(args)
    if args.model is None:
        return _fail("model: expected a reference model name or module:factory.")
    if args.all:
        return _explain_all(args)

    import xai
    from xai._device import pick_device
    from xai._progress import Tracker
    from xai.explainers.registry import explainer_class
    from xai.viz import plot_comparison

    problem = (
        device_problem(args.device)
        or seed_problem(args.seed)
        or (
            f"--samples: expected a positive count, got {args.samples}."
            if args.samples < 1
            else None
        )
    )
    if problem:
        return _fail(problem)
    try:
        subject = _subject(args)
        if args.text is not None:
            subject = _typed_subject(args, subject)
    except (TypeError, ValueError) as error:
        return _fail(flag_message(error, {"model": "model"}))
    device = pick_device(args.device)
    n = len(subject.inputs)
    typed = args.text is not None
    if typed:
        rows = list(range(n))
    else:
        rows = args.index if args.index is not None else list(range(min(args.samples, n)))
    outside = [i for i in rows if not 0 <= i < n]
    if outside:
        return _fail(f"--index: sample {outside[0]} is outside the test data (0..{n - 1}).")
    methods, options, problem = _methods(args, subject.inputs[:1])
    if problem:
        return _fail(problem)

    model = subject.model.to(device)
    inputs = subject.inputs[rows].to(device)
    # a text model's samples go with their attention masks, and keep their tokens
    forward: dict[str, Any] = {}
    if subject.model_kwargs:
        forward["model_kwargs"] = subject.forward_kwargs(rows)
    tokens = subject.tokens(rows)
    if tokens is not None:
        forward["tokens"] = tokens
    if args.target == "predicted":
        target = None
    elif args.target == "label":
        target = subject.labels[rows].to(device)
    else:
        target = args.target
    problem = out_folder_problem("--out", args.out)
    if problem:
        return _fail(problem)
    out = Path(args.out)
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", subject.name)

    # with --json, stdout holds the JSON document only
    say = (lambda *a, **k: None) if args.json else print
    say(f"{'method':<22}{'seconds':>9}{'evaluations':>13}  file")
    explanations = []
    written = []
    tracker = Tracker(progress_setting(args), "explaining", len(methods) + 1, unit="method")
    for method in methods:
        tracker.begin(method)
        method_options = dict(options)
        if explainer_class(method).stochastic:
            method_options.setdefault("seed", args.seed)
        started = time.perf_counter()
        try:
            explanation = xai.explain(
                model, inputs, method=method, target=target, **forward, **method_options
            )
        except (TypeError, ValueError) as error:
            # an option's error names its flag: "--option n_steps: expected at most ..."
            flags = {key: f"--option {key}" for key in options}
            return _fail(f"{method}: {flag_message(error, flags)}")
        except MemoryError:
            return _fail(
                f"{method}: ran out of memory explaining {len(rows)} sample(s) on {device}. "
                "Use smaller --option values (steps, samples, batch sizes) or fewer samples "
                "(--samples, --index)."
            )
        seconds = time.perf_counter() - started
        if subject.feature_names:
            explanation.extras["feature_names"] = subject.feature_names
        if subject.class_names:
            explanation.extras["class_names"] = list(subject.class_names)
        path = explanation.save(out / f"{name}_{method}.safetensors")
        explanations.append(explanation)
        evaluations = explanation.extras["model_evaluations"]
        written.append(
            {"method": method, "seconds": seconds, "model_evaluations": evaluations,
             "file": str(path)}
        )  # fmt: skip
        tracker.end(f"{method}: {len(rows)} sample(s) in {seconds:.2f} s")
        say(f"{method:<22}{seconds:>9.2f}{evaluations:>13}  {path}")
    tracker.begin("figures")
    figures = []
    for position, row in enumerate(rows):
        figure = plot_comparison(explanations, position)
        classes = explanations[0].target[position].item()
        if typed:
            what, file = f"your sentence {row}", f"{name}_text{row}.png"
        else:
            label = subject.class_name(int(subject.labels[row]))
            what, file = f"test sample {row}, label {label}", f"{name}_sample{row}.png"
        figure.suptitle(
            f"{subject.name}: {what}, explained class {subject.class_name(int(classes))}"
        )
        figures.append(str(out / file))
        figure.savefig(figures[-1], dpi=110)
    tracker.end(f"{len(rows)} figure(s)")
    tracker.close()
    if args.json:
        print(
            dumps_json(
                {"model": subject.name, "samples": rows, "explanations": written,
                 "figures": figures, "out": str(out),
                 **({"texts": list(args.text)} if typed else {})},
                indent=2,
            )
        )  # fmt: skip
    elif not args.quiet:
        print(f"xai explain: {len(explanations)} explanation(s) and {len(rows)} figure(s) in {out}")
    return 0


def _target(text: str) -> str | int:
    if text in _TARGETS:
        return text
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected 'predicted', 'label' or a class number, got {text!r}"
        ) from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a class number >= 0, got {value}")
    return value


def add_explain(subparsers: argparse._SubParsersAction) -> None:
    """Add ``xai explain MODEL [--method ... --samples/--index --target --option --out]``."""
    parser = subparsers.add_parser(
        "explain",
        help="explain test samples of a model with one or more methods; save explanations "
        "and figures",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "model", nargs="?", help="reference model name, or module:factory for your own"
    )
    parser.add_argument("--weights", help="safetensors weights of a module:factory model")
    parser.add_argument("--data", help=".npz test data (arrays x, y) of a module:factory model")
    parser.add_argument(
        "--method",
        action="append",
        help="method (repeatable; default: every method that applies to the inputs)",
    )
    parser.add_argument(
        "--samples", type=int, default=4, help="explain the first N test samples (default: 4)"
    )
    parser.add_argument(
        "--index", type=_indices, default=None, help="explain these test samples, e.g. 0,5,12"
    )
    parser.add_argument(
        "--text",
        action="append",
        metavar="SENTENCE",
        help="a text model only: explain this sentence of your own instead of test samples "
        "(repeatable; words outside the vocabulary are read as [UNK] and named on stderr)",
    )
    parser.add_argument(
        "--target",
        type=_target,
        default="predicted",
        help="class to explain: 'predicted' (default), 'label' (the true class) or a number",
    )
    parser.add_argument(
        "--option",
        type=_option,
        action="append",
        metavar="KEY=VALUE",
        help="a method option, e.g. n_steps=100 (repeatable; with one --method)",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of stochastic methods (default: 0)"
    )
    parser.add_argument("--device", default="cpu", help="cpu (default), auto, cuda, cuda:N")
    parser.add_argument(
        "--out", default="xai_explanations", help="folder (default: xai_explanations)"
    )
    whole = parser.add_argument_group(
        "whole datasets",
        "explain every sample of a split (xai.explain_dataset; see docs/dataset_explanations.md)",
    )
    whole.add_argument(
        "--all", action="store_true",
        help="explain every sample of --split, streamed to OUT/METHOD (one folder per method)",
    )  # fmt: skip
    whole.add_argument(
        "--split", default="test",
        help="with --all: the split of a reference model (train, val, test; default test)",
    )  # fmt: skip
    whole.add_argument(
        "--resume", action="store_true",
        help="with --all: continue runs already in OUT (stored batches are kept)",
    )  # fmt: skip
    whole.add_argument(
        "--batch-size", type=int, default=64, help="with --all: samples per batch (default 64)"
    )
    whole.add_argument(
        "--summary", metavar="DIR", default=None,
        help="summarise the run(s) in DIR (written by --all): print the headline numbers and "
        "write figures and summary.json to DIR/METHOD/summary/",
    )  # fmt: skip
    add_output_flags(parser, json="print the methods' times, model evaluations and files as JSON")
    parser.set_defaults(handler=_explain)


# ------------------------------------------------------------------------ whole datasets
def _split_data(args: argparse.Namespace, subject: Any) -> tuple[Any, Any, dict[str, Any]]:
    """``(X, y, model_kwargs)`` of ``--split``: the subject's test data, or another split of a
    reference model; ``model_kwargs`` are the split's per-sample forward arguments (the text
    model's attention masks), one row per sample."""
    if args.split == "test":
        return subject.inputs, subject.labels, dict(subject.model_kwargs)
    import reference_models
    from xai.suite.subject import reference_subject

    if args.model not in reference_models.available():
        raise ValueError(
            f"--split: a module:factory model has one split, its --data (test); got {args.split!r}."
        )
    splits = reference_models.load(args.model).data
    if args.split not in splits:
        raise ValueError(f"--split: expected one of {', '.join(splits)}, got {args.split!r}.")
    split = reference_subject(args.model, split=args.split)
    return split.inputs, split.labels, dict(split.model_kwargs)


def _token_strings(vocabulary: list[str] | None) -> Any:
    """``tokens=`` of :func:`xai.explain_dataset` for a text model: ids -> their strings (as
    :meth:`xai.suite.subject.Subject.tokens`); None without a vocabulary."""
    if vocabulary is None:
        return None

    def strings(ids: Any) -> list[list[str]]:
        return [[vocabulary[i] if 0 <= i < len(vocabulary) else "?" for i in row]
                for row in ids.reshape(len(ids), -1).tolist()]  # fmt: skip

    return strings


def _explain_all(args: argparse.Namespace) -> int:
    """``xai explain MODEL --all [--split S] --out DIR [--resume]``: every sample of the split,
    one run folder per method; a bar on a terminal, one line per method otherwise."""
    import xai
    from xai._device import pick_device
    from xai._progress import on_terminal
    from xai.explainers.registry import explainer_class

    problem = (
        device_problem(args.device)
        or seed_problem(args.seed)
        or (f"--batch-size: expected a positive count, got {args.batch_size}."
            if args.batch_size < 1 else None)
        or ("--all: explains every sample; leave out --index." if args.index else None)
        or out_folder_problem("--out", args.out)
    )  # fmt: skip
    if problem:
        return _fail(problem)
    if args.text is not None:
        return _fail("--all: explains every sample of --split; drop --text (or drop --all).")
    try:
        subject = _subject(args)
        x, y, forward = _split_data(args, subject)
    except (TypeError, ValueError) as error:
        return _fail(flag_message(error, {"model": "model"}))
    # a text model's samples go with their attention masks (one row per sample: each batch
    # is explained with its rows), and its shards keep the tokens
    text: dict[str, Any] = {}
    if forward:
        text["model_kwargs"] = forward
    tokens = _token_strings(subject.vocabulary) if subject.is_text else None
    if tokens is not None:
        text["tokens"] = tokens
    methods, options, problem = _methods(args, x[:1])
    if problem:
        return _fail(problem)
    device = pick_device(args.device)
    model = subject.model.to(device)
    # a bar on a terminal only; elsewhere the one line per method below
    progress = False if args.quiet or args.json else on_terminal()
    say = (lambda *a, **k: None) if args.json or args.quiet else print
    runs = []
    for method in methods:
        if not args.resume and (Path(args.out) / method / "index.json").is_file():
            return _fail(
                f"--out: {str(Path(args.out) / method)!r} holds a run already; pass --resume to "
                "continue it (stored batches are kept), or choose another --out."
            )
        seed = args.seed if explainer_class(method).stochastic else None
        started = time.perf_counter()
        try:
            run = xai.explain_dataset(
                model, (x, y), method, out=Path(args.out) / method,
                target=None if args.target == "predicted" else args.target,
                batch_size=args.batch_size, resume=args.resume, progress=progress, seed=seed,
                feature_names=subject.feature_names, **text, **options,
            )  # fmt: skip
        except (TypeError, ValueError) as error:
            flags = {key: f"--option {key}" for key in options}
            flags.update({"out": "--out", "batch_size": "--batch-size", "target": "--target"})
            return _fail(f"{method}: {flag_message(error, flags)}")
        seconds = time.perf_counter() - started
        runs.append({"method": method, "samples": run.n_samples, "seconds": seconds,
                     "out": str(run.path), "complete": run.complete})  # fmt: skip
        say(
            f"xai explain: {method}: {run.n_samples} {args.split} samples of {subject.name} in "
            f"{seconds:.1f} s ({run.n_samples / max(seconds, 1e-9):.1f}/s) -> {run.path}"
        )
    if args.json:
        print(dumps_json({"model": subject.name, "split": args.split, "runs": runs}, indent=2))
    return 0


def _summary(args: argparse.Namespace) -> int:
    """``xai explain --summary DIR``: the summary of the run in DIR, or of each run folder in
    it (the layout of ``--all``), printed, with figures and ``summary.json`` in
    ``RUN/summary/``."""
    import xai
    from xai._files import write_json
    from xai.evaluation import _shards
    from xai.viz import plot_class_maps, plot_confidence_examples, plot_dataset_summary

    folder = Path(args.summary)
    if not folder.is_dir():
        return _fail(f"--summary: {str(folder)!r} is not a folder.")
    if (folder / _shards.INDEX).is_file():
        folders = [folder]
    else:
        folders = sorted(p.parent for p in folder.glob(f"*/{_shards.INDEX}"))
    if not folders:
        return _fail(
            f"--summary: {str(folder)!r} holds no dataset run (index.json); write one with "
            "xai explain MODEL --all --out DIR."
        )
    say = (lambda *a, **k: None) if args.json else print
    results = []
    for run_folder in folders:
        try:
            run = xai.DatasetExplanation.load(run_folder)
            summary = run.summary()
        except (OSError, ValueError) as error:
            return _fail(f"--summary: {flag_message(error, {'path': '--summary'})}")
        out = run_folder / _shards.SUMMARY
        figures = {
            "overview": plot_dataset_summary(summary),
            "class_maps": plot_class_maps(summary),
            "most_confident": plot_confidence_examples(summary, "most"),
            "least_confident": plot_confidence_examples(summary, "least"),
        }
        out.mkdir(exist_ok=True)
        for name, figure in figures.items():
            figure.savefig(out / f"{name}.png", dpi=110)
        data = {"run": str(run_folder), "complete": run.complete, **summary.to_dict()}
        write_json(out / "summary.json", data)
        results.append(data)
        accuracy = "n/a" if summary.accuracy is None else f"{summary.accuracy:.4f}"
        say(
            f"{run.method}: {summary.n_samples}/{run.n_samples} samples"
            f"{'' if run.complete else ' (incomplete)'}, accuracy {accuracy}, "
            f"{summary.kind} importance {_top(summary)}; figures in {out}"
        )
    if args.json:
        print(dumps_json(results if len(results) > 1 else results[0], indent=2))
    return 0


def _top(summary: Any) -> str:
    """The three most important features (tabular), pixels (images) or positions (text)."""
    values = summary.importance.flatten()
    order = values.argsort(descending=True)[:3].tolist()
    if summary.kind == "image":
        width = int(summary.importance.shape[-1])
        return ", ".join(f"(row {i // width}, col {i % width})" for i in order)
    names = summary.feature_names or [f"x{i}" for i in range(values.numel())]
    return ", ".join(f"{names[i]} {float(values[i]):.3g}" for i in order)
