"""Champion / challenger lifecycle: every change of a version's status, one transaction each,
under the registry lock (see registry.lock_registry)."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse

from recommender.access import may_review
from recommender.models import ModelVersion
from recommender.services.registry import lock_registry, model_version_transition

logger = logging.getLogger(__name__)

Status = ModelVersion.Status

# Which statuses each transition starts from. Anything else is refused.
ALLOWED_FROM = {
    "promote": {Status.CHALLENGER},
    "reject": {Status.CHALLENGER},
    "send to review": {Status.CHALLENGER},
    "approve": {Status.PENDING_REVIEW},
    "decline": {Status.PENDING_REVIEW},
}


class IllegalTransitionError(ValueError):
    """The version is not in a status the requested change can start from."""


def _locked_version(version_id: int, transition: str) -> ModelVersion:
    lock_registry()
    try:
        version = ModelVersion.objects.select_for_update().get(pk=version_id)
    except ModelVersion.DoesNotExist:
        raise IllegalTransitionError(
            f"cannot {transition} model v{version_id}: no such version"
        ) from None
    if version.status not in ALLOWED_FROM[transition]:
        allowed = " or ".join(sorted(ALLOWED_FROM[transition]))
        raise IllegalTransitionError(
            f"cannot {transition} model v{version.pk}: it is {version.get_status_display()}, not {allowed}"
        )
    return version


def _crown(version: ModelVersion, actor: str, reason: str) -> ModelVersion:
    """Retire the current champion (if any) and make `version` champion. Caller holds the lock."""
    for old in ModelVersion.objects.select_for_update().filter(status=Status.CHAMPION):
        model_version_transition(
            version=old,
            to_status=Status.RETIRED,
            actor=actor,
            reason=f"replaced by v{version.pk}: {reason}",
        )
    return model_version_transition(
        version=version, to_status=Status.CHAMPION, actor=actor, reason=reason
    )


@transaction.atomic
def model_version_promote(*, version_id: int, actor: str, reason: str) -> ModelVersion:
    """challenger -> champion; the old champion -> retired."""
    return _crown(_locked_version(version_id, "promote"), actor, reason)


@transaction.atomic
def model_version_reject(*, version_id: int, actor: str, reason: str) -> ModelVersion:
    version = _locked_version(version_id, "reject")
    return model_version_transition(
        version=version, to_status=Status.REJECTED, actor=actor, reason=reason
    )


@transaction.atomic
def model_version_send_to_review(
    *, version_id: int, actor: str, reason: str, degraded: Iterable[str] = ()
) -> ModelVersion:
    """challenger -> pending review, and reviewers are emailed once the change is committed."""
    version = _locked_version(version_id, "send to review")
    version = model_version_transition(
        version=version, to_status=Status.PENDING_REVIEW, actor=actor, reason=reason
    )
    degraded = list(degraded)
    transaction.on_commit(
        lambda: notify_review_needed(version=version, reason=reason, degraded=degraded)
    )
    return version


def _check_reviewer(reviewer) -> None:
    if not may_review(reviewer):
        raise PermissionDenied(f"{reviewer.get_username()} may not review challengers")


@transaction.atomic
def model_version_approve(*, version_id: int, reviewer, comment: str) -> ModelVersion:
    """A reviewer's approval of a pending challenger: it becomes champion."""
    _check_reviewer(reviewer)
    version = _locked_version(version_id, "approve")
    return _crown(
        version, f"user:{reviewer.get_username()}", f"approved in review: {comment}".rstrip(": ")
    )


@transaction.atomic
def model_version_decline(*, version_id: int, reviewer, comment: str) -> ModelVersion:
    """A reviewer's rejection of a pending challenger."""
    _check_reviewer(reviewer)
    version = _locked_version(version_id, "decline")
    return model_version_transition(
        version=version,
        to_status=Status.REJECTED,
        actor=f"user:{reviewer.get_username()}",
        reason=f"rejected in review: {comment}".rstrip(": "),
    )


def _figure(value: float | None) -> str:
    return "insufficient data" if value is None else f"{value:.3f}"


def review_url(version: ModelVersion) -> str:
    return settings.SITE_URL.rstrip("/") + reverse("web:model-review", args=[version.pk])


def notify_review_needed(*, version: ModelVersion, reason: str, degraded: list[str]) -> None:
    """Email the reviewers. A mail failure is logged, never undoes the review request."""
    lines = [
        f"Challenger model v{version.pk} needs a human decision.",
        "",
        f"Why: {reason}",
        f"Degraded metrics: {', '.join(degraded) if degraded else 'none recorded'}",
        f"Holdout benchmark: RMSE {_figure(version.rmse)}, R² {_figure(version.r2)}",
        "",
        f"Review it here: {review_url(version)}",
    ]
    try:
        send_mail(
            subject=f"[film recommender] challenger v{version.pk} awaits review",
            message="\n".join(lines),
            from_email=settings.DEFAULT_FROM_EMAIL,
            recipient_list=settings.REVIEWER_EMAILS,
        )
    except Exception:  # noqa: BLE001 - notification must not fail the lifecycle change
        logger.exception("could not email reviewers about v%s", version.pk)
