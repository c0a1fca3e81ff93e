"""The outbox's admin pages: who may see them, what they show, retry and discard."""

from __future__ import annotations

import datetime
import html
import re
import uuid

import pytest
from django.contrib.admin import site
from django.contrib.admin.models import CHANGE, DELETION, LogEntry
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from django_blinker import background, signals
from django_blinker.admin import OutboxEventAdmin
from django_blinker.background import in_background, outbox
from django_blinker.delivery.event import Event
from django_blinker.models import OutboxEvent
from tests.support import background_receivers as receivers
from tests.support.testapp.models import Author, Book

pytestmark = pytest.mark.django_db

LIST = reverse("admin:django_blinker_outboxevent_changelist")
RECEIVER = "tests.support.background_receivers.book_saved"


def detail_url(event):
    return reverse("admin:django_blinker_outboxevent_change", args=[event.pk])


def user(name, *codenames):
    created = User.objects.create_user(name, password="pw", is_staff=True)
    created.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="django_blinker", codename__in=codenames)
    )
    return created


def client_for(someone, csrf=False):
    client = Client(enforce_csrf_checks=csrf)
    client.force_login(someone)
    return client


def event(note="hello", **fields):
    """An outbox row whose payload carries ``note``."""
    payload = {
        "version": 2,
        "event": str(uuid.uuid4()),
        "signal": "note_taken",
        "receiver": "tests.receivers.take_note",
        "sender": "notebook",
        "kwargs": {"note": note},
    }
    outbox.store(Event.sealed(payload), "celery")
    row = OutboxEvent.objects.get(pk=payload["event"])
    if fields:
        OutboxEvent.objects.filter(pk=row.pk).update(**fields)
        row.refresh_from_db()
    return row


def state(row):
    found = OutboxEvent.objects.filter(pk=row.pk).values_list(
        "attempts", "dead", "last_error", "next_attempt_at"
    )
    return found.first()


def dead(**fields):
    return event(
        dead=True,
        attempts=10,
        last_error="ConnectionError: " + "broker down " * 20,
        next_attempt_at=timezone.now() + datetime.timedelta(minutes=5),
        **fields,
    )


def csrf_token(response):
    return re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', response.content)[1].decode()


@pytest.fixture
def staff(db):
    return user("staff")


@pytest.fixture
def viewer(db):
    return user("viewer", "view_outboxevent")


@pytest.fixture
def manager(db):
    return user("manager", "view_outboxevent", "manage_outboxevent")


# Who may see what.


def test_anonymous_users_are_sent_to_the_login_page(client):
    row = event()
    for url in (LIST, detail_url(row)):
        response = client.get(url)
        assert response.status_code == 302
        assert response.url.startswith(reverse("admin:login"))


def test_staff_without_the_permission_get_403(staff):
    row = event()
    client = client_for(staff)
    assert client.get(LIST).status_code == 403
    assert client.get(detail_url(row)).status_code == 403


def test_viewers_see_the_list_and_the_detail_without_any_action(viewer):
    row = dead()
    client = client_for(viewer)
    response = client.get(LIST)
    assert response.status_code == 200
    assert response.context["action_form"] is None
    assert b'name="action"' not in response.content
    assert str(row.pk).encode() in response.content
    detail = client.get(detail_url(row))
    assert detail.status_code == 200
    assert b'name="_save"' not in detail.content
    assert b"deletelink" not in detail.content


def test_managers_are_offered_retry_and_discard_only(manager):
    event()
    response = client_for(manager).get(LIST)
    choices = [name for name, _label in response.context["action_form"].fields["action"].choices]
    assert choices == ["", "retry_now", "discard"]
    assert b"Retry now" in response.content


def test_manage_implies_view(db):
    row = event()
    client = client_for(user("manage_only", "manage_outboxevent"))
    assert client.get(LIST).status_code == 200
    assert client.get(detail_url(row)).status_code == 200


def test_nobody_adds_edits_or_deletes_through_the_admin(manager):
    superuser = User.objects.create_superuser("root", password="pw")
    row = event()
    before = state(row)
    for someone in (manager, superuser):
        client = client_for(someone)
        assert client.get(reverse("admin:django_blinker_outboxevent_add")).status_code == 403
        response = client.post(detail_url(row), {"attempts": "0", "dead": "on"})
        assert response.status_code == 403
        delete = reverse("admin:django_blinker_outboxevent_delete", args=[row.pk])
        assert client.post(delete, {"post": "yes"}).status_code == 403
    assert state(row) == before


# What the pages show.


def test_the_list_shows_every_column_with_the_error_truncated(viewer):
    row = dead()
    response = client_for(viewer).get(LIST)
    content = response.content.decode()
    headers = re.findall(r'<th scope="col" class="[^"]*column-(\w+)', content)
    assert headers == ["created", "event", "concerns", "receiver_name", "state", "error"]
    assert "10 attempts" in content
    assert "ConnectionError: broker down broker down" in content
    assert row.last_error not in content
    assert "…" in content


def event_about(kwargs, sender="notebook"):
    payload = {
        "version": 2,
        "event": str(uuid.uuid4()),
        "signal": "post_save",
        "receiver": "tests.receivers.index_book",
        "sender": sender,
        "kwargs": kwargs,
    }
    outbox.store(Event.sealed(payload), "celery")
    return OutboxEvent.objects.get(pk=payload["event"])


def test_the_list_says_which_object_each_event_concerns(viewer):
    saved = event_about({"instance": {"$model": ["testapp.Book", 42]}})
    deleted = event_about({"instance": {"$snapshot": ["testapp.Tag", {"id": 7, "name": "sf"}]}})
    keyed = event_about({"instance": {"$model": ["testapp.Book", {"$uuid": "0f0e"}]}})
    secret = event_about({"instance": {"$model": ["sessions.Session", "abc123secret"]}})
    by_class = event_about({}, sender={"$class": "testapp.Author"})
    admin = OutboxEventAdmin(OutboxEvent, site)
    assert admin.concerns(saved) == 'testapp.Book <span class="db-key">42</span>'
    assert admin.concerns(deleted) == 'testapp.Tag <span class="db-key">7</span>'
    assert admin.concerns(keyed) == 'testapp.Book <span class="db-key">0f0e</span>'
    assert "abc123secret" not in admin.concerns(secret)
    assert admin.concerns(by_class) == "testapp.Author"
    assert admin.concerns(event()) == "-"
    content = client_for(viewer).get(LIST).content.decode()
    assert 'testapp.Book <span class="db-key">42</span>' in content
    assert "abc123secret" not in content


def test_the_list_shows_a_short_event_id_and_the_detail_the_full_one(viewer):
    row = event()
    full = str(row.pk)
    listed = client_for(viewer).get(LIST).content.decode()
    assert f'note_taken<br><code class="db-event-id" title="{full}">{full[:8]}</code>' in listed
    assert f">{full}<" not in listed
    detail = client_for(viewer).get(detail_url(row)).content.decode()
    assert full in detail


def test_the_list_filters_by_state_signal_and_backend(viewer):
    pending, failed = event(), dead()
    published = event(published_at=timezone.now(), attempts=1)
    confirmed = event(published_at=timezone.now(), confirmed_at=timezone.now(), attempts=1)
    client = client_for(viewer)

    def listed(**query):
        response = client.get(LIST, query)
        assert response.status_code == 200
        return [e.pk for e in response.context["cl"].result_list]

    assert listed(state="dead") == [failed.pk]
    assert listed(state="waiting") == [pending.pk]
    assert listed(state="published") == [published.pk]
    assert listed(state="confirmed") == [confirmed.pk]
    content = client.get(LIST).content.decode()
    for label in ("waiting to be published", "published, not confirmed", "confirmed"):
        assert f">{label}</" in content
    assert ">dead-lettered</" in content
    by_signal = client.get(LIST, {"signal": "note_taken", "backend": "celery"})
    assert len(by_signal.context["cl"].result_list) == 4
    assert client.get(LIST, {"backend": "tasks"}).context["cl"].result_list.count() == 0


@pytest.mark.parametrize("term", ["id", "receiver", "signal"])
def test_the_list_searches_event_id_receiver_and_signal(viewer, term, settings):
    settings.DJANGO_BLINKER = {"OUTBOX": True}
    in_background(signals.post_save, receivers.book_saved, sender=Book, backend="celery")
    try:
        Book.objects.create(title="x", author=Author.objects.create(name="y"))
    finally:
        background.disconnect(signals.post_save, receivers.book_saved)
    other = event()
    row = OutboxEvent.objects.get(receiver=RECEIVER)
    query = {"id": str(row.pk), "receiver": "book_saved", "signal": "post_save"}[term]
    found = client_for(viewer).get(LIST, {"q": query}).context["cl"].result_list
    assert [e.pk for e in found] == [row.pk]
    assert other.pk not in [e.pk for e in found]


def test_the_detail_shows_every_field_and_the_payload_as_json(viewer):
    row = dead()
    content = client_for(viewer).get(detail_url(row)).content.decode()
    for label in ("Id", "Signal", "Receiver", "Backend", "Created at", "State", "Attempts"):
        assert f">{label}:<" in content
    for label in ("Published at", "Confirmed at", "Next attempt at", "Last error", "Payload"):
        assert f">{label}:<" in content
    assert row.last_error.strip() in content  # Django 6.1 trims the trailing space
    assert '<pre class="django-blinker-payload">{\n  &quot;version&quot;: 2,' in content
    assert "&quot;note&quot;: &quot;hello&quot;" in content
    assert row.message not in content


def test_the_payload_is_html_escaped(viewer):
    row = event(note="<script>alert('outbox')</script>")
    content = client_for(viewer).get(detail_url(row)).content.decode()
    assert "<script>alert(" not in content
    assert "&lt;script&gt;alert(&#x27;outbox&#x27;)&lt;/script&gt;" in content


def test_an_unreadable_payload_says_why(viewer):
    row = event()
    OutboxEvent.objects.filter(pk=row.pk).update(message="forged:signature")
    content = client_for(viewer).get(detail_url(row)).content.decode()
    assert "unreadable: bad signature" in content


# Actions: POST with CSRF, for managers only.


def post_action(client, action, rows, **extra):
    token = csrf_token(client.get(LIST))
    data = {
        "action": action,
        "_selected_action": [str(row.pk) for row in rows],
        "index": "0",
        "csrfmiddlewaretoken": token,
        **extra,
    }
    return client.post(LIST, data)


def test_retry_now_revives_the_selected_events(manager):
    revived, untouched = dead(), dead()
    client = client_for(manager, csrf=True)
    response = post_action(client, "retry_now", [revived])
    assert response.status_code == 302
    attempts, is_dead, last_error, next_attempt_at = state(revived)
    assert (attempts, is_dead, last_error) == (0, False, "")
    assert next_attempt_at <= timezone.now()
    assert state(untouched)[:2] == (10, True)
    entry = LogEntry.objects.get()
    assert (entry.action_flag, entry.object_id, entry.user_id) == (
        CHANGE,
        str(revived.pk),
        manager.pk,
    )
    follow = client.get(response.url)
    assert "1 event will be published on the relay" in follow.content.decode()


def test_retry_now_leaves_confirmed_events_alone_and_says_so(manager):
    waiting = dead()
    confirmed = event(published_at=timezone.now(), confirmed_at=timezone.now(), attempts=1)
    client = client_for(manager, csrf=True)
    response = post_action(client, "retry_now", [waiting, confirmed])
    page = client.get(response.url).content.decode()
    assert "1 event will be published on the relay&#x27;s next pass." in page
    assert "1 event already confirmed by a worker, left alone." in page
    assert state(confirmed)[:2] == (1, False)
    assert [entry.object_id for entry in LogEntry.objects.all()] == [str(waiting.pk)]


def test_confirmed_and_dead_events_show_no_next_attempt(viewer):
    confirmed = event(published_at=timezone.now(), confirmed_at=timezone.now(), attempts=1)
    rows = {str(row.pk): row for row in client_for(viewer).get(LIST).context["cl"].result_list}
    admin_page = client_for(viewer).get(LIST).context["cl"].model_admin
    assert admin_page.next_attempt(rows[str(confirmed.pk)]) is None
    assert admin_page.next_attempt(dead()) is None
    pending = event()
    assert admin_page.next_attempt(pending) == pending.next_attempt_at


def test_discard_asks_first_then_deletes(manager):
    gone, kept = dead(), event()
    client = client_for(manager, csrf=True)
    confirm = post_action(client, "discard", [gone])
    assert confirm.status_code == 200
    page = confirm.content.decode()
    assert f"note_taken event {gone.pk} for tests.receivers.take_note" in page
    assert "dead after 10 attempts" in page
    assert OutboxEvent.objects.filter(pk=gone.pk).exists()
    token = csrf_token(confirm)
    response = client.post(
        LIST,
        {
            "action": "discard",
            "_selected_action": [str(gone.pk)],
            "post": "yes",
            "csrfmiddlewaretoken": token,
        },
    )
    assert response.status_code == 302
    assert list(OutboxEvent.objects.values_list("pk", flat=True)) == [kept.pk]
    entry = LogEntry.objects.get()
    assert (entry.action_flag, entry.object_id) == (DELETION, str(gone.pk))
    assert "Discarded 1 event" in client.get(response.url).content.decode()


def test_actions_without_the_csrf_token_are_refused(manager):
    row = dead()
    before = state(row)
    client = client_for(manager, csrf=True)
    for action in ("retry_now", "discard"):
        data = {"action": action, "_selected_action": [str(row.pk)], "index": "0", "post": "yes"}
        assert client.post(LIST, data).status_code == 403
    assert state(row) == before


def test_viewers_cannot_run_the_actions_by_posting_them(viewer):
    row = dead()
    before = state(row)
    client = client_for(viewer, csrf=True)
    for action in ("retry_now", "discard"):
        post_action(client, action, [row], post="yes")
    assert state(row) == before
    assert not LogEntry.objects.exists()


def test_get_never_changes_anything(manager):
    row = dead()
    before = state(row)
    client = client_for(manager)
    query = {"action": "discard", "_selected_action": str(row.pk), "index": "0", "post": "yes"}
    client.get(LIST, query)
    client.get(LIST, {**query, "action": "retry_now"})
    client.get(detail_url(row), query)
    assert state(row) == before
    assert not LogEntry.objects.exists()


def test_the_admin_index_lists_the_outbox_for_viewers(viewer):
    content = client_for(viewer).get(reverse("admin:index")).content.decode()
    assert html.escape(LIST) in content
    assert "Outbox events" in content
