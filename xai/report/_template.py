"""The HTML page of the report: a self-contained template (inline CSS, no scripts, no links)."""

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
th, td { border: 1px solid #d6d9de; padding: 4px 10px; text-align: left;
         overflow-wrap: anywhere; }
th { background: #eef1f5; }
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
$models
$headline
</section>
$tests
<section id="provenance"><h2>Provenance</h2>$provenance</section>
</main>
</body>
</html>
"""
)
