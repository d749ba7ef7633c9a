"""Which process of a multi-process run this is: rank, size and the MPI communicator.

A run launched by ``mpiexec``/``srun`` (or any launcher that sets the PMI, PMIx, Open MPI or Slurm rank
variables) with more than one process is an MPI run: mpi4py (the ``mpi`` extra) is imported and
``COMM_WORLD`` is used. Anything else is one process, and mpi4py is never imported, so single-process runs
need no MPI. ``world()`` is computed once per process.
"""
import functools
import os
from dataclasses import dataclass

# (rank variable, size variable) set by the launchers we know: MPICH/Hydra and Intel MPI (PMI), PMIx
# launchers, Open MPI's mpirun, Slurm's srun.
_LAUNCHER_VARIABLES = (("PMI_RANK", "PMI_SIZE"), ("PMIX_RANK", "PMIX_SIZE"),
                       ("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE"), ("SLURM_PROCID", "SLURM_NTASKS"))


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    comm: object = None  # mpi4py's COMM_WORLD when size > 1, else None

    @property
    def is_root(self):
        return self.rank == 0


def launched_size():
    """The process count the environment's launcher announces (1 when none does)."""
    for rank_var, size_var in _LAUNCHER_VARIABLES:
        if rank_var in os.environ and size_var in os.environ:
            try:
                return max(1, int(os.environ[size_var]))
            except ValueError:
                raise RuntimeError(f"{size_var}={os.environ[size_var]!r} is not a process count") from None
    return 1


@functools.lru_cache(maxsize=None)
def world():
    """This process's World: from MPI's COMM_WORLD when a launcher started several processes."""
    if launched_size() == 1:
        return World()
    try:
        from mpi4py import MPI
    except ImportError:
        raise RuntimeError("this process was started by an MPI launcher with several processes, which needs "
                           "mpi4py: pip install 'lrcn_native[mpi]'") from None
    comm = MPI.COMM_WORLD
    return World(comm.Get_rank(), comm.Get_size(), comm if comm.Get_size() > 1 else None)
