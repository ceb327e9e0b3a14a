"""Running as one of several processes started by torchrun (several GPUs or machines).

torchrun sets RANK, WORLD_SIZE and LOCAL_RANK; alone, a process is rank 0 of 1 and every method
here is a no-op. Training and batch captioning share this.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

import torch

T = TypeVar("T")
# Processes wait for the slowest one (rank 0 caching features alone, uneven shards after a resume),
# which may take long; torchrun stops every process when one fails, so a dead peer never hangs us.
GROUP_TIMEOUT = datetime.timedelta(hours=24)


@dataclass(frozen=True)
class Distributed:
    """This process's place among the processes torchrun started: rank of world_size."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0  # the rank on this machine: picks the GPU

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Distributed:
        env = os.environ if env is None else env
        return cls(int(env.get("RANK", 0)), int(env.get("WORLD_SIZE", 1)), int(env.get("LOCAL_RANK", 0)))

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def take(self, items: Sequence[T]) -> list[T]:
        """This process's share of the items: every world_size-th, from its rank."""
        return list(items[self.rank :: self.world_size])

    def default_device(self) -> str:
        return f"cuda:{self.local_rank}" if torch.cuda.is_available() else "cpu"

    # Collective operations: every process must call them, in the same order.

    def barrier(self) -> None:
        if self.enabled:
            torch.distributed.barrier()

    def broadcast_flag(self, flag: bool) -> bool:
        """Rank 0's flag, on every process."""
        if not self.enabled:
            return flag
        value = torch.tensor([1.0 if flag else 0.0])
        torch.distributed.broadcast(value, src=0)
        return bool(value.item())

    def mean(self, value: float) -> float:
        if not self.enabled:
            return value
        total = torch.tensor([value], dtype=torch.float64)
        torch.distributed.all_reduce(total)
        return total.item() / self.world_size

    def sum_ints(self, values: Sequence[int]) -> list[int]:
        if not self.enabled:
            return list(values)
        total = torch.tensor(list(values), dtype=torch.int64)
        torch.distributed.all_reduce(total)
        return total.tolist()


@contextmanager
def process_group(dist: Distributed, backend: str = "gloo") -> Iterator[Distributed]:
    """Join (and finally leave) the process group when there are several processes. gloo works
    with CPU tensors on any machine; nccl is for tensors on GPUs."""
    if not dist.enabled or torch.distributed.is_initialized():
        yield dist
        return
    torch.distributed.init_process_group(backend, rank=dist.rank, world_size=dist.world_size, timeout=GROUP_TIMEOUT)
    try:
        yield dist
    finally:
        torch.distributed.destroy_process_group()
