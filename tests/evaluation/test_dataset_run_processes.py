"""xai.explain_dataset across processes: killed with SIGKILL and resumed, memory bounded by one
batch whatever the number of rows, two processes under torchrun (gloo, CPU) equal to one, a
failed rank leaving the run resumable, and NCCL on GPUs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch
import torch.distributed as dist

import xai
from tests.evaluation._models import collect, image_data, image_model, tabular_data, tabular_model
from xai.evaluation.dataset_run import explain_dataset

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "CI": "1", "PYTHONPATH": str(ROOT)}


def _wait(process: subprocess.Popen, seconds: float) -> str:
    try:
        _, stderr = process.communicate(timeout=seconds)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        pytest.fail(f"the subprocess did not finish within {seconds} s")
    return stderr


# ------------------------------------------------------------------------- SIGKILL
KILLED = textwrap.dedent(
    """
    import sys, time
    import torch
    from tests.evaluation._models import image_data, image_model
    from xai.evaluation.dataset_run import explain_dataset

    model = image_model()
    forward = model.forward
    def slow(x):  # slow enough to be killed mid-run
        time.sleep(0.02)
        return forward(x)
    model.forward = slow
    x, y = image_data(32)
    explain_dataset(model, (x, y), "smoothgrad", out=sys.argv[1], batch_size=4, seed=5,
                    target="label", nsamples=3, progress=False)
    """
)


@pytest.mark.slow
def test_a_run_killed_with_sigkill_resumes_to_the_uninterrupted_result(tmp_path) -> None:
    out = tmp_path / "killed"
    script = tmp_path / "killed.py"
    script.write_text(KILLED)
    process = subprocess.Popen(
        [sys.executable, str(script), str(out)], env=ENV, start_new_session=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        if out.is_dir() and len(list(out.glob("shard-*.safetensors"))) >= 2:
            break
        time.sleep(0.01)
    assert process.poll() is None, process.communicate()[1][-2000:]
    os.killpg(process.pid, signal.SIGKILL)
    process.communicate()
    # what the kill left: complete shards only (a temporary file at most), a valid index
    stored = sorted(out.glob("shard-*.safetensors"))
    assert 2 <= len(stored) < 8
    for path in stored:
        assert len(xai.Explanation.load(path)) == 4
    json.loads((out / "index.json").read_text())
    partial = xai.DatasetExplanation.load(out)
    assert not partial.complete and len(partial) == len(stored)
    before = {path.name: path.stat().st_mtime_ns for path in stored}

    model, (x, y) = image_model(), image_data(32)
    arguments = {"batch_size": 4, "seed": 5, "target": "label", "nsamples": 3}
    resumed = explain_dataset(model, (x, y), "smoothgrad", out=out, **arguments)
    whole = explain_dataset(model, (x, y), "smoothgrad", out=tmp_path / "whole", **arguments)
    assert resumed.complete and len(resumed) == 8
    assert not list(out.glob(".*.tmp"))
    assert {p.name: p.stat().st_mtime_ns for p in stored} == before  # not explained again
    got, expected = collect(resumed), collect(whole)
    assert torch.equal(got["indices"], torch.arange(32))
    assert torch.equal(got["attributions"], expected["attributions"])
    assert torch.equal(got["target"], expected["target"])


# ------------------------------------------------------------------------- memory
MEMORY = textwrap.dedent(
    """
    import json, sys
    import torch
    from torch.utils.data import Dataset
    from tests.evaluation._models import image_model
    from xai.evaluation.dataset_run import explain_dataset

    def peak_kib():
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmHWM"))

    class Generated(Dataset):  # rows made on demand: the data itself takes no memory
        def __init__(self, n):
            self.n = n
        def __len__(self):
            return self.n
        def __getitem__(self, i):
            g = torch.Generator().manual_seed(i)
            return torch.rand(3, 48, 48, generator=g), i % 3

    rows, out = int(sys.argv[1]), sys.argv[2]
    model = image_model(channels=3)
    warm = explain_dataset(model, Generated(32), "gradcam", out=out + "_warm", batch_size=16)
    warm.summary()
    before = peak_kib()
    run = explain_dataset(model, Generated(rows), "gradcam", out=out, batch_size=16,
                          target="label")
    run.summary(top_k=5)
    print(json.dumps({"before": before, "after": peak_kib(), "rows": rows}))
    """
)


def _peak(tmp_path: Path, rows: int) -> dict[str, int]:
    script = tmp_path / "memory.py"
    script.write_text(MEMORY)
    result = subprocess.run(
        [sys.executable, str(script), str(rows), str(tmp_path / f"run{rows}")],
        env=ENV, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_memory_stays_bounded_by_one_batch(tmp_path) -> None:
    one, ten = _peak(tmp_path, 160), _peak(tmp_path, 1600)
    # the peak of the whole process, as the issue states it ...
    assert ten["after"] <= 1.5 * one["after"], (one, ten)
    # ... and, sharper, what the run added to it: 10x the rows write ~53 MB more results
    # (inputs and maps, 37 kB a row), none of which stays in memory
    grown_one, grown_ten = one["after"] - one["before"], ten["after"] - ten["before"]
    assert grown_ten - grown_one < 40 * 1024, (grown_one, grown_ten)


# ------------------------------------------------------------------------- torchrun
DISTRIBUTED = textwrap.dedent(
    """
    import json, os, sys
    import torch
    import torch.distributed as dist
    from torch.utils.data import Dataset
    from tests.evaluation._models import image_data, image_model, tabular_data, tabular_model
    from xai.evaluation.dataset_run import explain_dataset

    out, fail_rank = sys.argv[1], int(sys.argv[2])
    rank = int(os.environ["RANK"])

    class Pairs(Dataset):
        def __init__(self, x, y):
            self.x, self.y = x, y
        def __len__(self):
            return len(self.x)
        def __getitem__(self, i):
            return self.x[i], self.y[i]

    if fail_rank >= 0:  # rank fail_rank dies after its first batch
        model = image_model()
        forward, calls = model.forward, []
        def failing(x):
            calls.append(1)
            if rank == fail_rank and len(calls) > 3:
                raise RuntimeError("rank failed on purpose")
            return forward(x)
        model.forward = failing
        x, y = image_data(40)
        explain_dataset(model, (x, y), "integrated_gradients", out=out + "/failed",
                        batch_size=4, n_steps=4)
        sys.exit(0)
    x, y = tabular_data(45)
    runs = {
        "ig": explain_dataset(tabular_model(), (x, y), "integrated_gradients", out=out + "/ig",
                              batch_size=4, target="label", n_steps=8),
        "smoothgrad": explain_dataset(tabular_model(), Pairs(x, y), "smoothgrad",
                                      out=out + "/smoothgrad", batch_size=6, seed=3, nsamples=4),
        "gradcam": explain_dataset(image_model(), image_data(10), "gradcam",
                                   out=out + "/gradcam", batch_size=3),
    }
    # started again: every batch is stored, nothing to do on either rank
    again = explain_dataset(tabular_model(), (x, y), "integrated_gradients", out=out + "/ig",
                            batch_size=4, target="label", n_steps=8)
    result = {
        "rank": rank, "world_size": dist.get_world_size(),
        "complete": {name: run.complete for name, run in runs.items()},
        "again": again.complete,
    }
    with open(f"{out}/result{rank}.json", "w") as handle:
        handle.write(json.dumps(result))
    """
)


def _torchrun(tmp_path: Path, fail_rank: int, seconds: float = 240) -> subprocess.Popen:
    script = tmp_path / "distributed.py"
    script.write_text(DISTRIBUTED)
    return subprocess.Popen(
        [
            sys.executable, "-m", "torch.distributed.run", "--standalone",
            "--nproc_per_node", "2", str(script), str(tmp_path), str(fail_rank),
        ],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV,
        start_new_session=True,
    )  # fmt: skip


gloo = pytest.mark.skipif(
    not dist.is_available() or not dist.is_gloo_available(), reason="no gloo backend"
)


@gloo
def test_two_processes_under_torchrun_equal_one(tmp_path) -> None:
    process = _torchrun(tmp_path, fail_rank=-1)
    stderr = _wait(process, 240)
    assert process.returncode == 0, stderr[-3000:]
    results = [json.loads((tmp_path / f"result{r}.json").read_text()) for r in (0, 1)]
    assert [r["rank"] for r in results] == [0, 1]
    assert all(r["world_size"] == 2 and r["again"] for r in results)
    assert all(all(r["complete"].values()) for r in results)

    x, y = tabular_data(45)
    single = {
        "ig": explain_dataset(tabular_model(), (x, y), "integrated_gradients",
                              out=tmp_path / "one_ig", batch_size=4, target="label", n_steps=8),
        "smoothgrad": explain_dataset(tabular_model(), (x, y), "smoothgrad",
                                      out=tmp_path / "one_sg", batch_size=6, seed=3, nsamples=4),
        "gradcam": explain_dataset(image_model(), image_data(10), "gradcam",
                                   out=tmp_path / "one_gc", batch_size=3),
    }  # fmt: skip
    for name, one in single.items():
        two = xai.DatasetExplanation.load(tmp_path / name)
        assert two.complete and two.index["world_size"] == 2
        # each rank wrote its own shards, every other batch: no overlap, no gap
        ranks = [e.extras["dataset_run"]["rank"] for e in two]
        assert ranks == [b % 2 for b in range(two.n_batches)], name
        got, expected = collect(two), collect(one)
        assert torch.equal(got["indices"], torch.arange(one.n_samples)), name
        assert torch.equal(got["target"], expected["target"]), name
        # other thread counts may round the last bits of a product differently
        torch.testing.assert_close(got["attributions"], expected["attributions"], rtol=1e-6,
                                   atol=1e-7)  # fmt: skip


@gloo
@pytest.mark.slow
def test_a_failed_rank_leaves_the_run_resumable(tmp_path) -> None:
    process = _torchrun(tmp_path, fail_rank=1)
    stderr = _wait(process, 240)
    assert process.returncode != 0 and "rank failed on purpose" in stderr
    out = tmp_path / "failed"
    partial = xai.DatasetExplanation.load(out)
    assert not partial.complete
    for path in out.glob("shard-*.safetensors"):
        xai.Explanation.load(path)  # complete files only
    model, (x, y) = image_model(), image_data(40)
    resumed = explain_dataset(model, (x, y), "integrated_gradients", out=out, batch_size=4,
                              n_steps=4)  # fmt: skip
    whole = explain_dataset(model, (x, y), "integrated_gradients", out=tmp_path / "whole",
                            batch_size=4, n_steps=4)  # fmt: skip
    assert resumed.complete
    torch.testing.assert_close(collect(resumed)["attributions"], collect(whole)["attributions"],
                               rtol=1e-6, atol=1e-7)  # fmt: skip


NCCL = textwrap.dedent(
    """
    import json, os, sys
    import torch
    from tests.evaluation._models import image_data, image_model
    from xai.evaluation.dataset_run import explain_dataset

    run = explain_dataset(image_model(), image_data(30), "integrated_gradients",
                          out=sys.argv[1], batch_size=4, device="auto", n_steps=8)
    print(json.dumps({"device": str(next(iter(run)).extras["device"]), "ok": run.complete}))
    """
)


@pytest.mark.gpu
def test_nccl_on_gpus_equals_one_process(tmp_path) -> None:
    script = tmp_path / "nccl.py"
    script.write_text(NCCL)
    count = min(torch.cuda.device_count(), 2)
    process = subprocess.Popen(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node",
         str(count), str(script), str(tmp_path / "gpu")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV,
        start_new_session=True,
    )  # fmt: skip
    stderr = _wait(process, 240)
    assert process.returncode == 0, stderr[-3000:]
    run = xai.DatasetExplanation.load(tmp_path / "gpu")
    assert run.complete and run.index["world_size"] == count
    model = image_model().cuda()
    one = explain_dataset(model, image_data(30), "integrated_gradients", out=tmp_path / "one",
                          batch_size=4, n_steps=8)  # fmt: skip
    torch.testing.assert_close(collect(run)["attributions"], collect(one)["attributions"],
                               rtol=1e-4, atol=1e-6)  # fmt: skip
