"""Run every example in docs/examples (``make docs``); fails on the first one that fails."""

import subprocess
import sys
import tempfile
from pathlib import Path

here = Path(__file__).parent
failed = []
with tempfile.TemporaryDirectory() as out:
    for example in sorted(here.glob("*.py")):
        if example.name == "run_all.py":
            continue
        print(f"== {example.name}", flush=True)
        result = subprocess.run([sys.executable, str(example), out], check=False)
        if result.returncode != 0:
            failed.append(example.name)
if failed:
    sys.exit(f"examples failed: {', '.join(failed)}")
print("all examples ran")
