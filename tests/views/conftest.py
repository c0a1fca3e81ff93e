"""The users who look at the signal pages."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission, User


@pytest.fixture
def staff(db):
    return User.objects.create_user("staff", password="pw", is_staff=True)


@pytest.fixture
def viewer(staff):
    staff.user_permissions.add(
        Permission.objects.get(content_type__app_label="django_blinker", codename="view_signal")
    )
    return User.objects.get(pk=staff.pk)


@pytest.fixture
def superuser(db):
    return User.objects.create_superuser("root", password="pw")
