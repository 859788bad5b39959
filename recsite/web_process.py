"""What a web server process (WSGI or ASGI) does before it serves its first request."""

from django.urls import get_resolver
from threadpoolctl import threadpool_limits


def prepare_web_process() -> None:
    """Import every view, then run BLAS on one thread. Call once Django is set up.

    The URLconf, and with it every view and what the views use (the engine, numpy, pandas,
    scipy), is imported here: Django does it on the first request, which then took 1.1-1.7 s
    at full size. A server (gunicorn) loads the WSGI module before it accepts a request, so
    that cost moves to start-up.

    One BLAS thread, for every BLAS library loaded by then (threadpoolctl limits those it
    finds): a request's numerical work is tiny, one viewer's row times the film factors
    (1 x 18 by 18 x 45k at full size) or a fold-in's small solve. With OpenBLAS's default of a
    thread per core, each such call wakes the other threads, which then spin waiting for more
    work: at full size an on-the-fly list cost 3.3 ms of CPU with two threads against 1.0 ms
    with one, at the same latency. The server's processes are its parallelism. Celery workers
    keep every thread for model work."""
    get_resolver().url_patterns  # noqa: B018 (reading it imports the URLconf's modules)
    threadpool_limits(limits=1, user_api="blas")
