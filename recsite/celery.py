"""The Celery application, configured from Django settings (keys prefixed CELERY_)."""

import logging
import os

from celery import Celery
from celery.signals import worker_ready

logger = logging.getLogger(__name__)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "recsite.settings")
# Celery's Django fixup runs Django's system checks as a worker imports its tasks and drops
# what they find; they load the URLconf and with it the whole web side (DRF, matplotlib for the
# charts), about 40 MB in every worker process for nothing. The web process, `migrate` and
# `check --deploy` still run them.
os.environ.setdefault("CELERY_SKIP_CHECKS", "1")

app = Celery("recsite")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_ready.connect
def reap_interrupted_work(sender=None, **kwargs):
    """A worker starting is often a worker restarting after a crash: mark training or scoring
    that a dead process left half-done as failed, unless model work is running right now (its
    holder will reap when it next takes the lease)."""
    from recommender.services.leases import (
        REAPING_AT_START,
        AlreadyRunningError,
        exclusive_model_work,
    )

    owner = f"worker-start:{getattr(sender, 'hostname', 'worker')}"
    try:
        with exclusive_model_work(owner=owner, purpose=REAPING_AT_START):
            pass
    except AlreadyRunningError as busy:
        logger.info("not reaping at start: %s", busy)
