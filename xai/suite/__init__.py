"""The bundled evaluation suite run by ``xai report``: pytest files shipped with the package.

Run it with ``xai report --model NAME --out DIR`` (or ``pytest --pyargs xai.suite
--xai-report DIR --suite-model NAME``). :mod:`xai.suite.subject` loads what is tested.
"""
