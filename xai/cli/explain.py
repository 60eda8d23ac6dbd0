"""``xai explain``: explain test samples of a model with one or more methods, from the shell.

The model is a reference model by name, or a user's ``module:factory`` with ``--weights`` and
``--data`` (as for ``xai report``). Each method's explanation is saved as
``OUT/NAME_METHOD.safetensors`` (:meth:`xai.Explanation.load` reads it back) and every sample
gets one figure with all methods side by side, ``OUT/NAME_sampleI.png``.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from pathlib import Path
from typing import Any

from xai.cli.common import device_problem, fail, flag_message, out_folder_problem, seed_problem

_TARGETS = ("predicted", "label")


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


def _subject(args: argparse.Namespace) -> Any:
    import reference_models
    from xai.suite.subject import reference_subject, user_subject

    if args.model in reference_models.available():
        if args.weights or args.data:
            raise ValueError(
                f"--weights/--data: only for a module:factory model; {args.model!r} is a "
                "reference model with shipped weights and data."
            )
        return reference_subject(args.model)
    if ":" not in args.model:
        raise ValueError(
            f"model: expected a reference model ({', '.join(reference_models.available())}) "
            f"or module:factory, got {args.model!r}."
        )
    if not args.weights or not args.data:
        raise ValueError(
            f"model: {args.model} needs --weights FILE.safetensors and --data FILE.npz."
        )
    return user_subject(args.model, args.weights, args.data)


def _explain(args: argparse.Namespace) -> int:

    import xai
    from xai._device import pick_device
    from xai.explainers.parameters import applicable_methods
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
    except (TypeError, ValueError) as error:
        return _fail(flag_message(error, {"model": "model"}))
    device = pick_device(args.device)
    n = len(subject.inputs)
    rows = args.index if args.index is not None else list(range(min(args.samples, n)))
    outside = [i for i in rows if not 0 <= i < n]
    if outside:
        return _fail(f"--index: sample {outside[0]} is outside the test data (0..{n - 1}).")
    methods = args.method or applicable_methods(subject.inputs[:1])
    unknown = [m for m in methods if m not in xai.available_explainers()]
    if unknown:
        return _fail(
            f"--method: unknown method {unknown[0]!r}; available: "
            f"{', '.join(xai.available_explainers())}."
        )
    options = dict(args.option or [])
    if options and len(methods) != 1:
        return _fail("--option: applies to one method; pass exactly one --method with it.")

    model = subject.model.to(device)
    inputs = subject.inputs[rows].to(device)
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

    print(f"{'method':<22}{'seconds':>9}{'evaluations':>13}  file")
    explanations = []
    for method in methods:
        method_options = dict(options)
        if explainer_class(method).stochastic:
            method_options.setdefault("seed", args.seed)
        started = time.perf_counter()
        try:
            explanation = xai.explain(model, inputs, method=method, target=target, **method_options)
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
        path = explanation.save(out / f"{name}_{method}.safetensors")
        explanations.append(explanation)
        evaluations = explanation.extras["model_evaluations"]
        print(f"{method:<22}{seconds:>9.2f}{evaluations:>13}  {path}")
    for position, row in enumerate(rows):
        figure = plot_comparison(explanations, position)
        classes = explanations[0].target[position].item()
        figure.suptitle(
            f"{subject.name}: test sample {row}, label {subject.class_name(int(subject.labels[row]))}"
            f", explained class {subject.class_name(int(classes))}"
        )
        figure.savefig(out / f"{name}_sample{row}.png", dpi=110)
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
    parser.add_argument("model", help="reference model name, or module:factory for your own")
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
    parser.set_defaults(handler=_explain)
