"""What every signal page shares: who may see it, the methods it takes, its figures."""

from __future__ import annotations

import blinker
import pytest
from django.contrib.auth.models import Permission, User
from django.urls import reverse

from tests.support.signal_pages import LIST, detail_url, model_url
from tests.support.testapp.models import Book

pytestmark = pytest.mark.django_db

PAGES = [
    reverse(LIST),
    detail_url("blinker", "django_blinker.signals", "post_save"),
    model_url("testapp.Book"),
]


def book_saved(sender, **kwargs):
    return None


def native_handler(sender, **kwargs):
    return None


@pytest.mark.parametrize("url", PAGES)
def test_anonymous_user_is_sent_to_the_login_page(client, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_non_staff_user_is_sent_to_the_login_page(client, db):
    user = User.objects.create_user("plain", password="pw")
    user.user_permissions.add(Permission.objects.get(codename="view_signal"))
    client.force_login(user)
    response = client.get(reverse(LIST))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


@pytest.mark.parametrize("url", PAGES)
def test_staff_without_the_permission_gets_403(client, staff, url):
    client.force_login(staff)
    response = client.get(url)
    assert response.status_code == 403
    assert b"post_save" not in response.content


def test_staff_without_the_permission_does_not_see_signals_on_the_admin_index(client, staff):
    client.force_login(staff)
    assert reverse(LIST).encode() not in client.get(reverse("admin:index")).content


@pytest.mark.parametrize("who", ["viewer", "superuser"])
def test_viewer_and_superuser_see_signals_on_the_admin_index(client, request, who):
    client.force_login(request.getfixturevalue(who))
    content = client.get(reverse("admin:index")).content.decode()
    assert reverse(LIST) in content
    assert ">Signals<" in content
    assert reverse("admin:django_blinker_signal_add") not in content if _has_add_url() else True


def _has_add_url():
    try:
        reverse("admin:django_blinker_signal_add")
    except Exception:
        return False
    return True


@pytest.mark.parametrize("who", ["viewer", "superuser"])
def test_viewer_and_superuser_get_every_page(client, request, who):
    client.force_login(request.getfixturevalue(who))
    for url in (
        reverse(LIST),
        detail_url("blinker", "django_blinker.signals", "post_save"),
        detail_url("django", "django.db.models.signals", "post_migrate"),
        model_url("testapp.Book"),
    ):
        assert client.get(url).status_code == 200, url


@pytest.mark.parametrize("url", PAGES)
def test_post_is_refused(client, superuser, url):
    client.force_login(superuser)
    assert client.post(url).status_code == 405


def test_nothing_can_be_added_changed_or_deleted(rf, superuser):
    from django.contrib import admin

    from django_blinker.models import Signal

    model_admin = admin.site._registry[Signal]
    request = rf.get("/")
    request.user = superuser
    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request)
    assert not model_admin.has_delete_permission(request)
    assert model_admin.has_view_permission(request)


def test_unknown_signal_and_model_are_404(client, superuser):
    client.force_login(superuser)
    assert client.get(detail_url("blinker", "nowhere", "nothing")).status_code == 404
    response = client.get(model_url("testapp.Bok"))
    assert response.status_code == 404


@pytest.mark.parametrize("who", ["staff", "superuser"])
def test_view_on_site_shortcut_for_the_signal_model_is_404(client, request, who):
    from django.contrib.contenttypes.models import ContentType

    from django_blinker.models import Signal

    client.force_login(request.getfixturevalue(who))
    content_type = ContentType.objects.get_for_model(Signal)
    response = client.get(f"/admin/r/{content_type.pk}/1/")
    assert response.status_code == 404


def test_activity_note_says_figures_are_this_process(client, superuser, settings):
    settings.DJANGO_BLINKER = {"ACTIVITY": True}
    client.force_login(superuser)
    content = client.get(reverse(LIST)).content.decode()
    assert "this process" in content


def test_receivers_that_are_never_recorded_say_so_instead_of_zero(
    client, superuser, bridged, settings, clean_namespace
):
    from django.db.models.signals import post_save

    settings.DJANGO_BLINKER = {"ACTIVITY": True}
    blinker.signal("plain").connect(book_saved)
    bridged.post_save.connect(book_saved, sender=Book)
    post_save.connect(native_handler, sender=Book)
    client.force_login(superuser)
    try:
        response = client.get(model_url("testapp.Book"))
        (save,) = [section for section in response.context["sections"] if section.action == "save"]
        rows = {row.info.name: row for row in save.rows}
        assert rows["tests.views.test_page.book_saved"].recorded
        assert not rows["tests.views.test_page.native_handler"].recorded
        content = response.content.decode()
        assert content.count(">not recorded</td>") == 1

        plain = client.get(detail_url("blinker", "blinker.default_namespace", "plain"))
        assert not plain.context["show_figures"]
        assert "not recorded" in plain.content.decode()
        assert '<th scope="col">Calls</th>' not in plain.content.decode()

        listing = client.get(reverse(LIST), {"q": "plain"}).context["groups"]
        (row,) = [row for _, rows in listing for row in rows if row.info.name == "plain"]
        assert not row.recorded
    finally:
        post_save.disconnect(native_handler, sender=Book)
