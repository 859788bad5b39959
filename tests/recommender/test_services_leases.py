"""One piece of model work at a time (recommender.services.leases): the lease, the reaper, and
a task refused while another holds it (queueing a second request: test_services_jobs.py)."""

import threading
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from recommender import tasks
from recommender.engine.model import SVDConfig
from recommender.models import Lease, ModelVersion, ModelVersionEvent, ScoringRun
from recommender.services.leases import (
    REAP_WAIT_SECONDS,
    REAPING_AT_START,
    AlreadyRunningError,
    exclusive_model_work,
    interrupted_work_reap,
    lease_acquire,
    lease_holder,
    lease_release,
)
from recommender.services.registry import model_version_train

pytestmark = pytest.mark.django_db


def test_a_second_owner_is_refused_with_what_since_when_and_who():
    first = lease_acquire(owner="task-a", purpose="retraining", seconds=60)

    with pytest.raises(AlreadyRunningError) as refused:
        lease_acquire(owner="task-b", purpose="training", seconds=60)

    since = timezone.localtime(first.acquired_at)
    assert str(refused.value) == f"retraining already running since {since:%H:%M}, task task-a"
    assert lease_holder().owner == "task-a"


def test_the_same_owner_takes_its_lease_back_and_an_expired_lease_is_free():
    lease_acquire(owner="task-a", purpose="training", seconds=60)
    again = lease_acquire(owner="task-a", purpose="training", seconds=60)  # a redelivery
    assert again.owner == "task-a"

    Lease.objects.update(expires_at=timezone.now() - timedelta(seconds=1))  # its holder died
    assert lease_holder() is None
    lease_acquire(owner="task-b", purpose="retraining", seconds=60)
    assert lease_holder().owner == "task-b"

    assert not lease_release(owner="task-a"), "only the owner releases"
    assert lease_release(owner="task-b") and Lease.objects.count() == 0


def test_taking_the_lease_marks_work_a_dead_holder_left_half_done_as_failed(
    bundled_subset, artifact_dir
):
    champion = model_version_train(actor="test", config=SVDConfig(n_factors=5, n_epochs=2))
    orphan = ModelVersion.objects.create(created_by="task:dead")  # status training
    run = ScoringRun.objects.create(model_version=champion, created_by="task:dead")

    with exclusive_model_work(owner="task-new", purpose="retraining"):
        orphan.refresh_from_db()
        run.refresh_from_db()
        assert orphan.status == ModelVersion.Status.FAILED
        assert run.status == ScoringRun.Status.FAILED and "interrupted" in run.error
        event = ModelVersionEvent.objects.filter(version=orphan).latest("at")
        assert "interrupted" in event.reason and "task-new" in event.actor
        assert lease_holder().owner == "task-new"

    champion.refresh_from_db()
    assert champion.status == ModelVersion.Status.CHAMPION, "the champion is not touched"
    assert lease_holder() is None, "released at the end of the block"
    assert not interrupted_work_reap(actor="test"), "nothing left to reap"


def test_a_task_finding_the_work_busy_returns_who_is_busy_and_does_nothing(bundled_subset):
    lease_acquire(owner="task-a", purpose="retraining", seconds=60)

    result = tasks.train.apply(
        kwargs={"family": "svd", "config": {"n_factors": 5, "n_epochs": 2}}
    ).get()

    assert result["skipped"].startswith("retraining already running since ")
    assert ModelVersion.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_requests_on_postgresql_one_wins(postgresql):
    """Two connections race for the lease at the same moment: exactly one gets it."""
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def request(owner: str) -> None:
        try:
            barrier.wait()
            lease_acquire(owner=owner, purpose="retraining", seconds=60)
            outcomes.append("acquired")
        except AlreadyRunningError:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=request, args=(f"task-{i}",)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes) == ["acquired", "refused"]
    assert Lease.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_work_asked_for_while_a_worker_starts_waits_for_its_reap_and_no_longer(postgresql):
    """A worker's start-up reap holds the lease for a moment: work asked for then waits for it
    (a task queued as a second worker started was skipped); any other holder refuses at once."""
    lease_acquire(owner="worker-start:w1", purpose=REAPING_AT_START, seconds=60)
    released = threading.Timer(
        0.5, lambda: (lease_release(owner="worker-start:w1"), connection.close())
    )
    released.start()
    started = time.monotonic()

    with exclusive_model_work(owner="task-a", purpose="scoring"):
        waited = time.monotonic() - started
        assert lease_holder().owner == "task-a"
    released.join()

    assert 0.4 < waited < REAP_WAIT_SECONDS
    lease_acquire(owner="task-b", purpose="retraining", seconds=60)
    started = time.monotonic()
    with (
        pytest.raises(AlreadyRunningError),
        exclusive_model_work(owner="task-c", purpose="scoring"),
    ):
        pass
    assert time.monotonic() - started < 0.5, "refused at once"
