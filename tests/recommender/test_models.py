"""The constraints the models declare, enforced by the database itself."""

import pytest
from django.db import IntegrityError, transaction

from recommender.models import ModelVersion

pytestmark = pytest.mark.django_db


def test_the_database_refuses_a_second_champion(db):
    ModelVersion.objects.create(status=ModelVersion.Status.CHAMPION, created_by="test")

    with pytest.raises(IntegrityError), transaction.atomic():
        ModelVersion.objects.create(status=ModelVersion.Status.CHAMPION, created_by="test")
    assert ModelVersion.objects.filter(status=ModelVersion.Status.CHAMPION).count() == 1
