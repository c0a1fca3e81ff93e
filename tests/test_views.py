from __future__ import annotations

import functools
import re
import weakref

import blinker
import pytest
from django.contrib.auth.models import Permission, User
from django.db.models.signals import ModelSignal
from django.dispatch import Signal as DjangoSignal
from django.urls import reverse

from django_blinker import inspection, signals
from tests.support.testapp.models import Book, Tag

pytestmark = pytest.mark.django_db

LIST = "admin:django_blinker_signal_changelist"


def detail_url(system, namespace, name):
    return reverse(
        "admin:django_blinker_signal_detail",
        kwargs={"system": system, "namespace": namespace, "name": name},
    )


def model_url(label):
    return reverse("admin:django_blinker_signal_model", kwargs={"label": label})


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


@pytest.fixture
def clean_namespace():
    before = dict(blinker.default_namespace)
    yield blinker.default_namespace
    for name in set(blinker.default_namespace) - set(before):
        del blinker.default_namespace[name]


@pytest.fixture
def bridged():
    yield signals
    for signal in signals.namespace.values():
        signal._clear_state()


def book_saved(sender, **kwargs):
    return None


class Listener:
    def on_save(self, sender, **kwargs):
        return None

    def __call__(self, sender, **kwargs):
        return None


def decorated(function):
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        return function(*args, **kwargs)

    return wrapper


@decorated
def audited(sender, **kwargs):
    return None


async def async_receiver(sender, **kwargs):
    return None


# Permission matrix ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        reverse(LIST),
        detail_url("blinker", "django_blinker.signals", "post_save"),
        model_url("testapp.Book"),
    ],
)
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


@pytest.mark.parametrize(
    "url",
    [
        reverse(LIST),
        detail_url("blinker", "django_blinker.signals", "post_save"),
        model_url("testapp.Book"),
    ],
)
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


@pytest.mark.parametrize(
    "url",
    [
        reverse(LIST),
        detail_url("blinker", "django_blinker.signals", "post_save"),
        model_url("testapp.Book"),
    ],
)
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


# Content -------------------------------------------------------------------------------


def test_list_groups_signals_by_namespace_with_receiver_counts(
    client, superuser, bridged, clean_namespace
):
    bridged.post_save.connect(book_saved, sender=Book)
    blinker.signal("app-started").connect(book_saved)
    client.force_login(superuser)
    content = client.get(reverse(LIST)).content.decode()
    assert "django_blinker.signals" in content
    assert "blinker.default_namespace" in content
    assert "django.db.models.signals" in content
    assert detail_url("blinker", "django_blinker.signals", "post_save") in content
    assert 'class="breadcrumbs"' in content
    counts = {
        row.info.key: len(row.info.receivers)
        for _, group in client.get(reverse(LIST)).context["groups"]
        for row in group
    }
    assert counts[("blinker", "django_blinker.signals", "post_save")] == 1
    assert counts[("blinker", "blinker.default_namespace", "app-started")] == 1


def test_search_finds_signals_by_receiver_and_model(client, superuser, bridged):
    bridged.post_save.connect(book_saved, sender=Book)
    client.force_login(superuser)
    response = client.get(reverse(LIST), {"q": "test_views.book_saved"})
    rows = [row.info.key for _, group in response.context["groups"] for row in group]
    assert rows == [("blinker", "django_blinker.signals", "post_save")]
    response = client.get(reverse(LIST), {"q": "testapp.book"})
    assert ("testapp.Book", model_url("testapp.Book")) in response.context["matching_models"]
    assert ("blinker", "django_blinker.signals", "post_save") in [
        row.info.key for _, group in response.context["groups"] for row in group
    ]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"system": "django"}, {"django"}),
        ({"system": "blinker"}, {"blinker"}),
    ],
)
def test_system_filter(client, superuser, params, expected):
    client.force_login(superuser)
    response = client.get(reverse(LIST), params)
    systems = {row.info.system for _, group in response.context["groups"] for row in group}
    assert systems == expected


def test_namespace_and_app_filters(client, superuser):
    client.force_login(superuser)
    response = client.get(reverse(LIST), {"namespace": "django.contrib.auth.signals"})
    namespaces = [namespace for namespace, _ in response.context["groups"]]
    assert namespaces == ["django.contrib.auth.signals"]
    response = client.get(reverse(LIST), {"app": "auth"})
    apps = {row.info.app for _, group in response.context["groups"] for row in group}
    assert apps == {"auth"}


def test_signal_named_like_a_script_is_escaped_everywhere(client, superuser, clean_namespace):
    evil = "<script>alert(1)</script>"
    signal = blinker.signal(evil, doc="<img src=x onerror=alert(2)>")

    def handler(sender, **kwargs):
        return None

    handler.__qualname__ = "<b>handler</b>"
    signal.connect(handler, sender="<i>sender</i>")
    client.force_login(superuser)
    for url in (
        reverse(LIST),
        reverse(LIST) + "?q=%3Cscript",
        detail_url("blinker", "blinker.default_namespace", evil),
    ):
        response = client.get(url)
        assert response.status_code == 200, url
        content = response.content.decode()
        stripped = content.replace("<wbr>", "")
        assert evil not in stripped
        assert "<img src=x" not in stripped
        assert "<b>handler</b>" not in stripped
        assert "<i>sender</i>" not in stripped
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in content
    assert "&lt;b&gt;handler&lt;/b&gt;" in content.replace("<wbr>", "")


def test_detail_shows_every_kind_of_receiver_name(client, superuser, bridged):
    listener = Listener()
    callable_object = Listener()
    receivers = [
        (book_saved, "tests.test_views.book_saved", "function"),
        (listener.on_save, "tests.test_views.Listener.on_save", "bound method"),
        (functools.partial(book_saved), "partial(tests.test_views.book_saved)", "partial"),
        (callable_object, "tests.test_views.Listener()", "callable object"),
        (audited, "tests.test_views.audited", "decorated function"),
        (
            lambda sender, **kw: None,
            "tests.test_views.test_detail_shows_every_kind_of_receiver_name.<locals>.<lambda>",
            "lambda",
        ),
        (async_receiver, "tests.test_views.async_receiver", "function"),
    ]
    for receiver, _, _ in receivers:
        bridged.post_save.connect(receiver, sender=Book, weak=False)
    client.force_login(superuser)
    response = client.get(detail_url("blinker", "django_blinker.signals", "post_save"))
    rows = response.context["receivers"]
    assert [(row.info.name, row.info.kind) for row in rows] == [
        (name, kind) for _, name, kind in receivers
    ]
    assert all(row.info.sender == "testapp.Book" for row in rows)
    assert rows[-1].info.is_async
    assert rows[0].info.file == "tests/test_views.py"
    assert rows[0].info.line == book_saved.__code__.co_firstlineno
    content = re.sub(r"<(wbr|/?span[^>]*)>", "", response.content.decode())
    assert "tests.test_views.Listener.on_save" in content
    assert "tests/test_views.py:" in content
    assert model_url("testapp.Book") in content


def test_receiver_mode_comes_from_the_wrapper(client, superuser, bridged):
    def wrapper(sender, **kwargs):
        return book_saved(sender, **kwargs)

    wrapper.__wrapped__ = book_saved
    wrapper.django_blinker_mode = "after_commit"
    bridged.post_save.connect(wrapper, sender=Book, weak=False)
    client.force_login(superuser)
    row = client.get(detail_url("blinker", "django_blinker.signals", "post_save")).context[
        "receivers"
    ][0]
    assert (row.info.name, row.info.mode) == ("tests.test_views.book_saved", "after commit")


def test_run_mode_says_what_actually_happens(client, superuser, bridged, settings):
    from django_blinker import after_commit
    from django_blinker.background import disconnect, in_background
    from tests.support import background_receivers

    receivers = [
        background_receivers.book_saved,
        background_receivers.author_saved,
        background_receivers.failing,
    ]
    after_commit.on_commit(bridged.post_save, book_saved, sender=Book)
    in_background(bridged.post_save, receivers[0], sender=Book, backend="inline")
    in_background(bridged.post_save, receivers[1], sender=Book, backend="celery")
    in_background(bridged.post_save, receivers[2], sender=Book, backend="tasks")
    client.force_login(superuser)
    url = detail_url("blinker", "django_blinker.signals", "post_save")
    try:
        settings.DJANGO_BLINKER = {"OUTBOX": False}
        modes = [row.info.mode for row in client.get(url).context["receivers"]]
        assert modes == ["after commit", "inline after commit", "celery", "tasks"]
        settings.DJANGO_BLINKER = {}
        modes = [row.info.mode for row in client.get(url).context["receivers"]]
        assert modes == [
            "after commit",
            "inline after commit",
            "celery via outbox",
            "tasks via outbox",
        ]
        assert "after_commit" not in client.get(url).content.decode()
    finally:
        after_commit.disconnect(bridged.post_save, book_saved)
        for receiver in receivers:
            disconnect(bridged.post_save, receiver)


def test_dead_weak_receivers_are_skipped(client, superuser, clean_namespace):
    signal = blinker.signal("short-lived")

    def soon_gone(sender, **kwargs):
        return None

    signal.connect(soon_gone)
    ref = weakref.ref(soon_gone)
    del soon_gone
    assert ref() is None
    client.force_login(superuser)
    response = client.get(detail_url("blinker", "blinker.default_namespace", "short-lived"))
    assert response.status_code == 200
    assert response.context["receivers"] == []


def test_django_signal_shows_native_receivers_and_hides_the_bridge_hook(client, superuser, bridged):
    from django.db.models.signals import post_save

    def native(sender, **kwargs):
        return None

    post_save.connect(native, sender=Book)
    bridged.post_save.connect(book_saved, sender=Book)
    try:
        client.force_login(superuser)
        response = client.get(detail_url("django", "django.db.models.signals", "post_save"))
        names = [row.info.name for row in response.context["receivers"]]
        assert names == [
            "tests.test_views.test_django_signal_shows_native_receivers_and_hides_the_bridge_hook"
            ".<locals>.native"
        ]
        assert response.context["signal"].hooked
        assert response.context["counterpart"].key == (
            "blinker",
            "django_blinker.signals",
            "post_save",
        )
        assert "hooked into Django now" in response.content.decode()
    finally:
        post_save.disconnect(native, sender=Book)


def test_django_builtin_receivers_are_listed(client, superuser):
    client.force_login(superuser)
    response = client.get(detail_url("django", "django.db.models.signals", "post_migrate"))
    names = {row.info.name for row in response.context["receivers"]}
    assert "django.contrib.auth.management.create_permissions" in names
    assert "django.contrib.contenttypes.management.create_contenttypes" in names


# Django 5.2 and 6.x receiver records ---------------------------------------------------


def native_handler(sender, **kwargs):
    return None


def _records(signal, sender, receivers):
    key = ((id(native_handler), id(sender) if sender is not None else id(None)),)
    return key


@pytest.mark.parametrize("version", ["5.2", "6.x"])
def test_both_receiver_record_shapes_are_understood(version):
    signal = ModelSignal(use_caching=True)
    strong = functools.partial(native_handler)
    records = []
    for receiver, sender, weak in (
        (native_handler, Book, True),
        (strong, None, False),
    ):
        target = weakref.ref(receiver) if weak else receiver
        key = (id(receiver), id(sender))
        if version == "5.2":
            records.append((key, target, False))
        else:
            sender_ref = weakref.ref(sender) if sender is not None else None
            records.append((key, target, sender_ref, False))
    signal.receivers = records
    infos, hooked = inspection.receivers.django_receivers(
        signal, inspection.receivers.SenderNames()
    )
    assert not hooked
    assert [(i.name, i.sender, i.sender_model, i.weak) for i in infos] == [
        ("tests.test_views.native_handler", "testapp.Book", "testapp.Book", True),
        ("partial(tests.test_views.native_handler)", "any", None, False),
    ]


def test_6x_record_with_a_dead_sender_is_skipped():
    class Gone:
        pass

    sender = Gone()
    signal = DjangoSignal()
    signal.receivers = [
        ((id(native_handler), id(sender)), native_handler, weakref.ref(sender), False)
    ]
    del sender
    infos, _ = inspection.receivers.django_receivers(signal, inspection.receivers.SenderNames())
    assert infos == []


def test_real_receivers_of_this_django_version_are_read(bridged):
    signal = ModelSignal(use_caching=True)
    signal.connect(native_handler, sender=Tag)
    signal.connect(native_handler, dispatch_uid="uid-1")
    infos, _ = inspection.receivers.django_receivers(signal, inspection.receivers.SenderNames())
    assert [(i.name, i.sender, i.dispatch_uid) for i in infos] == [
        ("tests.test_views.native_handler", "testapp.Tag", None),
        ("tests.test_views.native_handler", "any", "uid-1"),
    ]


# Model page ----------------------------------------------------------------------------


def test_model_page_lists_what_runs_from_both_systems(client, superuser, bridged):
    from django.db.models.signals import pre_delete

    def native_delete(sender, **kwargs):
        return None

    def any_init(sender, **kwargs):
        return None

    def tags_changed(sender, **kwargs):
        return None

    pre_delete.connect(native_delete, sender=Book)
    bridged.post_init.connect(any_init, weak=False)
    bridged.m2m_changed.connect(tags_changed, sender=Book.tags.through, weak=False)
    bridged.post_save.connect(book_saved, sender=Tag)
    try:
        client.force_login(superuser)
        response = client.get(model_url("testapp.Book"))
        sections = {section.action: section.rows for section in response.context["sections"]}
        assert [(r.info.name.rsplit(".", 1)[-1], r.reason) for r in sections["init"]] == [
            ("any_init", "any sender")
        ]
        assert [r.info.name.rsplit(".", 1)[-1] for r in sections["delete"]] == ["native_delete"]
        assert sections["delete"][0].signal.system == "django"
        assert [r.info.name.rsplit(".", 1)[-1] for r in sections["m2m change"]] == ["tags_changed"]
        assert sections["save"] == []
        assert "What runs for testapp.Book" in response.content.decode()
    finally:
        pre_delete.disconnect(native_delete, sender=Book)


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
        assert rows["tests.test_views.book_saved"].recorded
        assert not rows["tests.test_views.native_handler"].recorded
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


def test_choosing_a_system_narrows_the_namespace_and_app_filters(client, superuser):
    client.force_login(superuser)
    filters = {
        key: [label for label, _, _ in choices]
        for _, key, choices in client.get(reverse(LIST), {"system": "django"}).context["filters"]
    }
    assert "django.db.models.signals" in filters["namespace"]
    assert "django_blinker.signals" not in filters["namespace"]
    assert "django_blinker" not in filters["app"]
    assert filters["system"] == ["All", "Blinker", "Django"]


def test_a_chosen_filter_stays_listed_when_others_exclude_it(client, superuser):
    client.force_login(superuser)
    response = client.get(
        reverse(LIST), {"system": "django", "namespace": "django_blinker.signals"}
    )
    namespaces = dict((key, choices) for _, key, choices in response.context["filters"])[
        "namespace"
    ]
    assert ("django_blinker.signals", True) in [(label, chosen) for label, _, chosen in namespaces]


@pytest.mark.parametrize("who", ["staff", "superuser"])
def test_view_on_site_shortcut_for_the_signal_model_is_404(client, request, who):
    from django.contrib.contenttypes.models import ContentType

    from django_blinker.models import Signal

    client.force_login(request.getfixturevalue(who))
    content_type = ContentType.objects.get_for_model(Signal)
    response = client.get(f"/admin/r/{content_type.pk}/1/")
    assert response.status_code == 404


def test_a_signal_with_thousands_of_receivers_is_paginated(client, superuser, clean_namespace):
    signal = blinker.signal("crowded")
    keep = [functools.partial(book_saved, n) for n in range(450)]
    for receiver in keep:
        signal.connect(receiver, weak=False)
    client.force_login(superuser)
    url = detail_url("blinker", "blinker.default_namespace", "crowded")
    first = client.get(url)
    assert len(first.context["receivers"]) == 200
    assert "450 receivers, in call order" in first.content.decode()
    assert len(client.get(url, {"p": 3}).context["receivers"]) == 50


def test_the_signal_list_is_paginated(client, superuser, clean_namespace):
    for number in range(150):
        blinker.signal(f"many-{number:03d}")
    client.force_login(superuser)
    response = client.get(reverse(LIST), {"namespace": "blinker.default_namespace"})
    assert response.context["page"].paginator.num_pages == 2
    assert sum(len(rows) for _, rows in response.context["groups"]) == 100


def test_source_paths_break_only_after_separators():
    from django_blinker.templatetags.django_blinker import breakable_path

    assert breakable_path("shop/<b>.py") == (
        '<span class="db-nobreak">shop/</span><wbr><span class="db-nobreak">&lt;b&gt;.py</span>'
    )


def test_docstrings_render_as_restructuredtext_like_admindocs():
    import docutils  # noqa: F401  (a test dependency: the rendering under test needs it)

    from django_blinker.templatetags.django_blinker import docstring

    html = docstring("Sent for an ``Order``.\n\nSee :model:`shop.Order`. <script>")
    assert '<tt class="docutils literal">Order</tt>' in html
    assert '<tt class="docutils literal">shop.Order</tt>' in html
    assert "&lt;script&gt;" in html
    assert "``" not in html


def test_a_signal_doc_with_script_links_renders_on_its_page_without_them(
    client, superuser, clean_namespace
):
    import docutils  # noqa: F401  (a test dependency: the rendering under test needs it)

    blinker.signal(
        "order-paid",
        doc="Sent when an order is paid.\n\n"
        "Pay `here <javascript:alert(1)>`_, at `the till <JaVaScRiPt:alert(2)>`__, see\n"
        "data:text/html,x and `the guide <https://example.com/guide>`_.\n\n"
        ".. image:: javascript:alert(3)\n\n"
        ".. raw:: html\n\n   <script>alert(4)</script>\n",
    )
    client.force_login(superuser)
    response = client.get(detail_url("blinker", "blinker.default_namespace", "order-paid"))
    assert response.status_code == 200
    content = response.content.decode()
    doc = content[content.index('<div class="db-doc">') :]
    doc = doc[: doc.index("</div>")]
    assert re.findall(r'(?:href|src)="([^"]*)"', doc) == ["https://example.com/guide"]
    assert "Pay here, at the till, see" in doc
    hrefs = re.findall(r'(?:href|src)="\s*([^"]*)"', content)
    assert [h for h in hrefs if re.match(r"(?i)(javascript|data|vbscript):", h)] == []
    assert "alert(4)" not in content


def test_docstrings_are_plain_text_without_docutils(monkeypatch):
    from django.contrib.admindocs import utils

    from django_blinker.templatetags.django_blinker import docstring

    monkeypatch.setattr(utils, "docutils_is_available", False)
    assert docstring("Sent for an ``Order``.\n\n<b>bold</b>") == (
        "<p>Sent for an ``Order``.</p>\n\n<p>&lt;b&gt;bold&lt;/b&gt;</p>"
    )


def test_breakable_escapes_before_adding_break_opportunities():
    from django_blinker.templatetags.django_blinker import breakable

    assert breakable("<script>a.b</script>") == ("&lt;script&gt;a.<wbr>b&lt;/<wbr>script&gt;")


def many_receivers(count):
    made = []
    for number in range(count):

        def receiver(sender, **kwargs):
            return None

        receiver.__qualname__ = f"many_{number:04d}"
        made.append(receiver)
    return made


def test_a_model_with_many_receivers_shows_a_page_of_rows_and_says_where_the_rest_are(
    client, superuser, bridged
):
    from django_blinker.inspection.picture import RECEIVERS_DRAWN
    from django_blinker.views import RECEIVERS_PER_PAGE

    made = many_receivers(RECEIVERS_PER_PAGE * 2 + 50)
    for receiver in made:
        bridged.post_save.connect(receiver, sender=Book, weak=False)
    client.force_login(superuser)
    response = client.get(model_url("testapp.Book"))
    assert response.status_code == 200
    (save,) = [section for section in response.context["sections"] if section.action == "save"]
    assert save.total >= len(made)
    assert len(save.rows) == RECEIVERS_PER_PAGE
    assert save.hidden == save.total - RECEIVERS_PER_PAGE
    post_save_url = detail_url("blinker", "django_blinker.signals", "post_save")
    assert ("post_save", post_save_url) in save.hidden_in
    content = response.content.decode()
    assert f"{save.hidden} more receivers are listed on their signals" in content
    assert f'<a href="{post_save_url}">post_save</a>' in content
    # The picture draws a bounded number of receivers per signal and one box for the rest.
    picture = str(response.context["picture"])
    boxes = picture.count('<g class="db-w-node db-w-receiver">')
    assert RECEIVERS_DRAWN < boxes <= RECEIVERS_DRAWN + 10, boxes
    assert f"{len(made) - RECEIVERS_DRAWN} more receivers" in picture


def test_a_signal_with_many_receivers_builds_rows_for_its_page_alone(client, superuser, bridged):
    from django_blinker.views import RECEIVERS_PER_PAGE

    made = many_receivers(RECEIVERS_PER_PAGE * 2 + 50)
    for receiver in made:
        bridged.post_save.connect(receiver, sender=Book, weak=False)
    client.force_login(superuser)
    url = detail_url("blinker", "django_blinker.signals", "post_save")
    last = client.get(url, {"p": 3})
    assert last.status_code == 200
    assert last.context["page"].paginator.count == len(made)
    assert [row.info.name for row in last.context["receivers"]] == [
        f"tests.test_views.many_{number:04d}" for number in range(2 * RECEIVERS_PER_PAGE, len(made))
    ]
    assert all(row.model_url == model_url("testapp.Book") for row in last.context["receivers"])
