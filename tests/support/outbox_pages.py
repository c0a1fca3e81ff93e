"""Who looks at the outbox's admin pages."""

from __future__ import annotations

from django.contrib.auth.models import Permission, User
from django.test import Client


def viewer_client() -> Client:
    """A test client logged in, with a password, as staff who may only view outbox events."""
    viewer = User.objects.create_user("viewer", password="viewer-pass", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_outboxevent"))
    client = Client()
    assert client.login(username="viewer", password="viewer-pass")
    return client
