"""The HTML page of the report: a self-contained template (inline CSS, no scripts, no links
out of the page; the table of contents and the summary link to anchors inside it).

The layout reads without scripts: failures come first and open; passed and skipped tests are
``<details>`` (closed) that open on a click, or when a link targets them; captured output is a
``<details>`` per stream as pytest names it ("Captured stdout call").
"""

from string import Template

PAGE = Template(
    """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>$title</title>
<style>
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0;
       background: #f5f6f8; color: #1d2330; }
header { background: #1f3a5f; color: #fff; padding: 18px 32px; }
header h1 { margin: 0; font-size: 24px; }
header p { margin: 4px 0 0; opacity: .85; font-size: 13px; }
main { padding: 16px 32px 48px; max-width: 1400px; }
section { background: #fff; border-radius: 8px; padding: 14px 20px; margin: 14px 0;
          box-shadow: 0 1px 3px rgba(0,0,0,.12); }
h2 { font-size: 18px; margin: 4px 0 10px; }
h3 { font-size: 15px; margin: 12px 0 6px; }
.cards { display: flex; gap: 12px; flex-wrap: wrap; }
.card { padding: 10px 18px; border-radius: 6px; color: #fff; min-width: 90px; }
.card b { display: block; font-size: 26px; }
.passed { background: #2e7d32; } .failed, .error { background: #c62828; }
.skipped, .xfailed, .xpassed { background: #757575; } .total { background: #1f3a5f; }
table { border-collapse: collapse; margin: 6px 0 10px; font-size: 13px; }
th, td { border: 1px solid #d6d9de; padding: 4px 10px; text-align: left; }
td { overflow-wrap: anywhere; }
/* headers break between words (and after the <wbr> the writer puts after "_"), never inside
   one: "completene|ss_error" was hard to read */
th { background: #eef1f5; overflow-wrap: normal; word-break: normal; hyphens: none; }
.scroll { overflow-x: auto; max-width: 100%; }
a { color: #1f3a5f; }
nav#contents ol { margin: 4px 0; padding-left: 22px; font-size: 13px; columns: 2 380px; }
nav#contents li { margin: 2px 0; break-inside: avoid; }
ul.failures { margin: 6px 0; padding-left: 20px; font-size: 13px; }
ul.failures li { margin: 4px 0; }
p.crash { font-family: ui-monospace, monospace; font-size: 13px; color: #c62828;
          margin: 6px 0; white-space: pre-wrap; }
p.meta { font-size: 12px; color: #555; margin: 4px 0; }
pre.output { background: #f7f7f9; border-left: 4px solid #9aa3ad; padding: 8px 12px;
             white-space: pre-wrap; font-size: 12px; max-height: 320px; overflow: auto; }
details.test { background: #fff; border-radius: 8px; padding: 10px 20px; margin: 10px 0;
                box-shadow: 0 1px 3px rgba(0,0,0,.12); }
details.test > summary h2 { display: inline; font-size: 15px; }
details.test[open] > summary { margin-bottom: 8px; }
/* a followed link shows the test's title above its target (the body of a <details>) */
details.test > div.body { scroll-margin-top: 64px; }
.test-failed, .test-error { border-left: 6px solid #c62828; }
.test-passed { border-left: 6px solid #2e7d32; }
.test-skipped, .test-xfailed, .test-xpassed { border-left: 6px solid #757575; }
span.bad { color: #c62828; font-family: ui-monospace, monospace; }
details.output { margin: 4px 0; font-size: 13px; }
td.ok { color: #2e7d32; font-weight: 600; } td.bad { color: #c62828; font-weight: 600; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; color: #fff;
         font-size: 12px; margin-left: 8px; vertical-align: middle; }
figure { display: inline-block; max-width: 100%; margin: 6px 12px 6px 0; vertical-align: top; }
figure img { max-width: 100%; border: 1px solid #e0e3e8; background: #fff; }
figcaption { font-size: 12px; color: #555; }
pre.message { background: #fff4f4; border-left: 4px solid #c62828; padding: 8px 12px;
              white-space: pre-wrap; font-size: 12px; max-height: 320px; overflow: auto; }
details summary { cursor: pointer; }
</style>
</head>
<body>
<header><h1>$title</h1><p>$subtitle</p></header>
<main>
<section id="summary"><h2>Summary</h2>
<div class="cards">$cards</div>
$failures
$models
$headline
</section>
<nav id="contents"><section><h2>Contents</h2>$contents</section></nav>
$tests
<section id="provenance"><h2>Provenance</h2>$provenance</section>
</main>
</body>
</html>
"""
)
