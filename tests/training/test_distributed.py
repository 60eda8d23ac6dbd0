"""xai.fit under torchrun: DDP with the gloo backend on CPU, two processes, only rank 0 writes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest
import torch.distributed as dist

SCRIPT = textwrap.dedent(
    """
    import hashlib, json, os, sys
    import torch
    from torch import nn
    import xai

    out, rank = sys.argv[1], int(os.environ["RANK"])
    g = torch.Generator().manual_seed(0)
    x = torch.randn(200, 8, generator=g)
    y = (x[:, 0] + x[:, 1] > 0).long()
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 2))
    history = xai.fit(
        model, (x, y), (x, y), epochs=4, batch_size=16, lr=3e-2, seed=0, device="cpu",
        checkpoint=f"{out}/rank{rank}/model.safetensors", progress=False,
    )
    params = b"".join(p.detach().numpy().tobytes() for p in model.parameters())

    class Pairs(torch.utils.data.Dataset):  # a plain Dataset: the DistributedSampler path
        def __len__(self):
            return len(x)

        def __getitem__(self, i):
            return x[i], y[i]

    torch.manual_seed(0)
    other = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 2))
    other_history = xai.fit(
        other, Pairs(), (x, y), epochs=2, batch_size=16, lr=3e-2, seed=0, device="cpu",
        progress=False,
    )
    other_params = b"".join(p.detach().numpy().tobytes() for p in other.parameters())
    result = json.dumps({
        "dataset_digest": hashlib.sha256(other_params).hexdigest(),
        "dataset_epochs": len(other_history),
        "rank": rank,
        "world_size": int(os.environ["WORLD_SIZE"]),
        "digest": hashlib.sha256(params).hexdigest(),
        "group_open": torch.distributed.is_initialized(),
        "val_accuracy": history[-1]["val_accuracy"],
        "epochs": len(history), "losses": history.column("train_loss"),
    })
    with open(f"{out}/result{rank}.json", "w") as handle:  # one file per rank: no interleaving
        handle.write(result)
    """
)


@pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(), reason="no gloo")
def test_fit_under_torchrun_with_two_processes(tmp_path) -> None:
    script = tmp_path / "train_ddp.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CI": "1"}
    # Own process group, so a timeout kills the launcher's workers too (no orphans left behind).
    process = subprocess.Popen(
        [
            sys.executable, "-m", "torch.distributed.run", "--standalone",
            "--nproc_per_node", "2", str(script), str(tmp_path),
        ],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, start_new_session=True,
    )  # fmt: skip
    try:
        _, stderr = process.communicate(timeout=150)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        pytest.fail("torchrun with 2 processes did not finish within 150 s")
    assert process.returncode == 0, stderr[-3000:]
    results = [json.loads((tmp_path / f"result{rank}.json").read_text()) for rank in (0, 1)]
    assert sorted(r["rank"] for r in results) == [0, 1]
    assert all(r["world_size"] == 2 for r in results)
    # DDP keeps the replicas identical: both ranks end with the same weights
    assert results[0]["digest"] == results[1]["digest"]
    assert results[0]["dataset_digest"] == results[1]["dataset_digest"]
    assert results[0]["dataset_digest"] != results[0]["digest"]
    # the group fit() created is kept for the second fit (and destroyed at exit)
    assert all(r["group_open"] and r["dataset_epochs"] == 2 for r in results)
    assert all(r["val_accuracy"] > 0.85 for r in results), results
    # only rank 0 writes
    assert (tmp_path / "rank0" / "model.safetensors").is_file()
    assert (tmp_path / "rank0" / "model.history.json").is_file()
    assert not (tmp_path / "rank1").exists()
    meta = json.loads((tmp_path / "rank0" / "model.json").read_text())
    assert meta["training"]["world_size"] == 2
