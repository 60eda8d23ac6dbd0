"""The bundled evaluation suite run by ``xai report``: pytest files shipped with the package.

Run it with ``xai report --model NAME --out DIR`` (or ``pytest --pyargs xai.report.suite
--xai-report DIR --suite-model NAME``). :mod:`xai.report.suite.subjects` loads what is tested.
"""
