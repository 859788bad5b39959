"""What a web server process (WSGI or ASGI) sets up before it serves."""

# numpy loads OpenBLAS; the limit below applies to the libraries loaded when it is set.
import numpy  # noqa: F401
from threadpoolctl import threadpool_limits


def configure_web_process() -> None:
    """One BLAS thread for the whole process.

    A request's numerical work is tiny: one viewer's row times the film factors (1 x 18 by
    18 x 45k at full size), a fold-in's small solve. With OpenBLAS's default of one thread
    per core, each such call wakes the other threads, which then spin waiting for more work:
    at full size an on-the-fly list cost 3.3 ms of CPU with two threads against 1.0 ms with
    one, at the same latency (2.2-2.3 ms). The server's processes are its parallelism.
    Celery workers keep every thread for model work."""
    threadpool_limits(limits=1, user_api="blas")
