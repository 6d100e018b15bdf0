"""Data-parallel training of the PyTorch models: DistributedDataParallel under torchrun.

With `train.devices` above 1 (or `auto` on a machine with several GPUs) the train stage starts torchrun
itself, as `torchrun --standalone --nproc-per-node N stages/train.py NAME` would, one worker per device.
Under torchrun -- the stage's own, or one started by hand on each node of a cluster -- the stage is a
worker: it joins the process group (NCCL on GPUs, gloo on CPUs), reads its share of every batch of the
seeded order, and only rank 0 writes the model, the checkpoints and the dvclive logs. `batch_size` is
the whole batch over all workers, so the hyperparameters do not change with the number of devices.
"""

import logging
import os
import shutil
import signal
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

from ..core.errors import UserError


@dataclass(frozen=True)
class Group:
    """This process's place among the training's workers."""

    rank: int
    world_size: int
    local_rank: int

    @property
    def is_main(self) -> bool:
        """Rank 0: the one worker that writes files."""
        return self.rank == 0


SINGLE = Group(rank=0, world_size=1, local_rank=0)


def under_torchrun() -> bool:
    """Whether this process is one of several workers that torchrun started (it sets WORLD_SIZE, RANK and
    LOCAL_RANK; a world of one is a single process)."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def processes(devices: int | str) -> int:
    """How many workers `train.devices` asks for: "auto" is one per visible GPU, one without a GPU."""
    gpus = torch.cuda.device_count()
    if devices == "auto":
        return max(1, gpus)
    if 0 < gpus < int(devices):
        raise UserError(
            f"params.yaml: train.devices = {devices}, but PyTorch sees {gpus} GPU(s): one worker "
            "per GPU, so at most that many (or auto)"
        )
    return int(devices)


def join() -> Group:
    """Join torchrun's process group (NCCL when this worker has a GPU, gloo otherwise) and take this
    worker's GPU, before anything is placed on one. One process outside torchrun: SINGLE."""
    if not under_torchrun():
        return SINGLE
    group = Group(int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), int(os.environ["LOCAL_RANK"]))
    if torch.cuda.is_available():
        torch.cuda.set_device(group.local_rank)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return group


def leave(group: Group) -> None:
    """Wait for every worker, then leave the process group."""
    if group.world_size > 1 and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def broadcast(value, group: Group):
    """Rank 0's `value` (any picklable object, tensors included), on every worker."""
    if group.world_size == 1:
        return value
    holder = [value if group.is_main else None]
    dist.broadcast_object_list(holder, src=0)
    return holder[0]


def seed_epoch(seed: int, epoch: int, group: Group) -> None:
    """Reseed PyTorch's generator (dropout's masks) from (seed, epoch, rank) at each epoch: workers draw
    their own masks, and a resumed worker, whose own generator state no checkpoint holds (rank 0 writes
    them), draws the masks it would have drawn."""
    if group.world_size > 1:
        torch.manual_seed(int(np.random.SeedSequence([seed, epoch, group.rank]).generate_state(1)[0]))


def sum_over_workers(values: dict[str, float], group: Group) -> dict[str, float]:
    """Each key's sum over all workers (every worker has the same keys)."""
    if group.world_size == 1:
        return values
    keys = sorted(values)
    totals = torch.tensor([values[key] for key in keys], dtype=torch.float64)
    dist.all_reduce(totals.to(_collective_device()))
    return dict(zip(keys, totals.tolist()))


def _collective_device() -> torch.device:
    return torch.device("cuda") if dist.get_backend() == "nccl" else torch.device("cpu")


def launch(script: str, name: str, workers: int) -> None:
    """Run `script name` in `workers` processes under torchrun on this machine and wait for them. Their
    output comes through; their error output goes to a log folder, so that when one fails -- and
    torchrun stops the others, whose errors then only echo it -- this ends with one line naming it."""
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import get_args_parser, run

    for logger in ("torch.distributed.run", "torch.distributed.elastic", "torch.distributed.launcher"):
        logging.getLogger(logger).setLevel(logging.CRITICAL)  # its report would repeat the line below
    log_dir = Path(tempfile.mkdtemp(prefix=f"torchrun-{name}-"))
    args = get_args_parser().parse_args(
        [
            "--standalone",
            "--nproc-per-node",
            str(workers),
            "--max-restarts",
            "0",
            "--log-dir",
            str(log_dir),
            "--redirects",
            "2",
            script,
            name,
        ]
    )
    print(
        f"{name}: data-parallel training in {workers} processes (torchrun, "
        f"{'NCCL, one GPU each' if torch.cuda.is_available() else 'gloo on the CPU'})",
        flush=True,
    )
    try:
        run(args)
    except ChildFailedError as error:
        # A worker killed by a signal is the cause; the others' errors (a lost peer) are its echo.
        rank, failure = min(error.failures.items(), key=lambda item: (item[1].exitcode >= 0, item[1].timestamp))
        raise UserError(
            f"train@{name}: worker {rank} of {workers} (pid {failure.pid}) "
            f"{_ending(failure.exitcode, _error_line(log_dir, failure.local_rank))}; torchrun "
            f"stopped the others (their error output: {log_dir}). Rerun to resume from the last "
            "complete checkpoint"
        ) from None
    shutil.rmtree(log_dir, ignore_errors=True)


def _error_line(log_dir: Path, local_rank: int) -> str:
    """The one-line error ("error: ...") a worker printed last, if it printed one."""
    for path in log_dir.glob(f"**/{local_rank}/stderr.log"):
        lines = [line for line in path.read_text(errors="replace").splitlines() if line.startswith("error: ")]
        if lines:
            return lines[-1].removeprefix("error: ")
    return ""


def _ending(exitcode: int, error_line: str) -> str:
    if exitcode < 0:
        try:
            return f"was killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"was killed by signal {-exitcode}"
    return f"failed: {error_line}" if error_line else f"exited with status {exitcode}"
