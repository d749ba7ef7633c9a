"""Which process of a multi-process run this is: rank, size and the MPI communicator.

A run launched by ``mpiexec``/``srun`` (or any launcher that sets the PMI, PMIx, Open MPI or Slurm rank
variables) with more than one process is an MPI run: mpi4py (the ``mpi`` extra) is imported and
``COMM_WORLD`` is used. Anything else is one process, and mpi4py is never imported, so single-process runs
need no MPI. ``world()`` is computed once per process.
"""
import contextlib
import functools
import os
import sys
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


def on_root(fn, ranks=None):
    """fn()'s result on every rank of `ranks` (a World; default world()), computed by rank 0 alone while the
    others wait: for what a multi-process run must do once (write a settings file, list the inputs) or what is
    inherently serial. An exception in fn on rank 0 is raised on every rank, so all stop with its message."""
    ranks = ranks or world()
    if ranks.size == 1:
        return fn()
    result = error = None
    if ranks.is_root:
        try:
            result = fn()
        except Exception as e:  # noqa: BLE001 -- handed to every rank below and raised there
            error = e
    result, error = ranks.comm.bcast((result, error), root=0)
    if error is not None:
        raise error
    return result


@contextlib.contextmanager
def abort_on_error(ranks, what):
    """Around one rank's own share of the work: an exception escaping it ends every rank (MPI_Abort) with a
    line naming this rank, instead of leaving the others waiting forever in their next collective."""
    try:
        yield
    except BaseException as e:
        if ranks.size > 1:
            print(f"{what}: rank {ranks.rank}/{ranks.size} failed ({type(e).__name__}: {e}): ending every rank",
                  file=sys.stderr, flush=True)
            ranks.comm.Abort(1)
        raise
