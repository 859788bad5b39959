import threading

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied
from django.db import connection

from recommender.models import ModelVersion
from recommender.services.lifecycle import (
    IllegalTransitionError,
    model_version_approve,
    model_version_decline,
    model_version_promote,
    model_version_reject,
    model_version_send_to_review,
)

Status = ModelVersion.Status


def version(status: str, metrics: dict | None = None) -> ModelVersion:
    return ModelVersion.objects.create(
        status=status,
        created_by="test",
        metrics=metrics if metrics is not None else {"overall": {"r2": 0.3, "rmse": 0.9}},
    )


@pytest.mark.django_db
def test_promotion_retires_the_old_champion_and_records_both_changes():
    old, new = version(Status.CHAMPION), version(Status.CHALLENGER)

    model_version_promote(version_id=new.pk, actor="beat", reason="Action R² improved")

    old.refresh_from_db()
    new.refresh_from_db()
    assert (old.status, new.status) == (Status.RETIRED, Status.CHAMPION)
    assert (
        new.decided_by == "beat" and new.decision_reason == "Action R² improved" and new.decided_at
    )
    assert old.events.last().reason == f"replaced by v{new.pk}: Action R² improved"


@pytest.mark.django_db
def test_rejection_and_review_request_start_only_from_challenger():
    challenger = version(Status.CHALLENGER)
    model_version_reject(version_id=challenger.pk, actor="command:retrain", reason="no improvement")

    with pytest.raises(
        IllegalTransitionError,
        match=rf"cannot promote model v{challenger.pk}: it is rejected, not challenger",
    ):
        model_version_promote(version_id=challenger.pk, actor="beat", reason="again")
    with pytest.raises(
        IllegalTransitionError, match="cannot reject model v999999: no such version"
    ):
        model_version_reject(version_id=999_999, actor="beat", reason="x")


@pytest.mark.django_db
def test_a_review_request_emails_the_reviewers_with_the_degraded_metrics_and_link(
    django_capture_on_commit_callbacks,
):
    challenger = version(Status.CHALLENGER)

    with django_capture_on_commit_callbacks(execute=True):
        model_version_send_to_review(
            version_id=challenger.pk,
            actor="beat",
            reason="mixed results",
            degraded=["genre:Action"],
        )

    assert ModelVersion.objects.get(pk=challenger.pk).status == Status.PENDING_REVIEW
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert f"v{challenger.pk}" in message.subject
    assert "Degraded metrics: genre:Action" in message.body
    assert f"http://127.0.0.1:8000/models/{challenger.pk}/review/" in message.body


@pytest.mark.django_db
def test_the_review_email_rounds_the_benchmark_and_says_when_it_is_missing(
    django_capture_on_commit_callbacks,
):
    measured = version(
        Status.CHALLENGER, metrics={"overall": {"rmse": 0.8758106523855991, "r2": None}}
    )

    with django_capture_on_commit_callbacks(execute=True):
        model_version_send_to_review(
            version_id=measured.pk, actor="beat", reason="mixed results", degraded=[]
        )

    assert "Holdout benchmark: RMSE 0.876, R² insufficient data" in mail.outbox[0].body


@pytest.mark.django_db
def test_a_reviewer_approves_a_pending_challenger_into_champion(reviewer):
    old, pending = version(Status.CHAMPION), version(Status.PENDING_REVIEW)

    model_version_approve(version_id=pending.pk, reviewer=reviewer, comment="looks right")

    pending.refresh_from_db()
    assert pending.status == Status.CHAMPION and pending.decided_by == "user:rita"
    assert pending.decision_reason == "approved in review: looks right"
    assert ModelVersion.objects.get(pk=old.pk).status == Status.RETIRED


@pytest.mark.django_db
def test_a_reviewer_declines_and_approving_a_version_not_pending_is_refused(reviewer):
    pending, challenger = version(Status.PENDING_REVIEW), version(Status.CHALLENGER)

    model_version_decline(version_id=pending.pk, reviewer=reviewer, comment="Drama got worse")

    assert ModelVersion.objects.get(pk=pending.pk).status == Status.REJECTED
    with pytest.raises(IllegalTransitionError, match="it is challenger, not pending_review"):
        model_version_approve(version_id=challenger.pk, reviewer=reviewer, comment="")


@pytest.mark.django_db
def test_an_account_without_the_review_permission_cannot_approve(viewer):
    pending = version(Status.PENDING_REVIEW)

    with pytest.raises(PermissionDenied, match="vic may not review challengers"):
        model_version_approve(version_id=pending.pk, reviewer=viewer, comment="")
    assert ModelVersion.objects.get(pk=pending.pk).status == Status.PENDING_REVIEW


@pytest.mark.django_db(transaction=True)
def test_two_promotions_racing_leave_exactly_one_champion(postgresql):
    version(Status.CHAMPION)
    first, second = version(Status.CHALLENGER), version(Status.CHALLENGER)
    barrier = threading.Barrier(2)
    errors: list[Exception] = []

    def promote(version_id: int) -> None:
        try:
            barrier.wait()
            model_version_promote(
                version_id=version_id, actor=f"thread:{version_id}", reason="race"
            )
        except Exception as exc:  # noqa: BLE001 - collected and checked below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=promote, args=(v.pk,)) for v in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    assert ModelVersion.objects.filter(status=Status.CHAMPION).count() == 1
    # Serialised: one promotion ran after the other, retiring the first winner.
    assert ModelVersion.objects.filter(status=Status.RETIRED).count() == 2
