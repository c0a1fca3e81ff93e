"""The wiring picture (django_blinker/picture.py), its admin pages and its DOT."""

from __future__ import annotations

import itertools
import re
import subprocess
import xml.etree.ElementTree as ET

import pytest
from django.contrib.auth.models import Permission, User
from django.db.models.signals import post_save as django_post_save
from django.http import Http404
from django.urls import resolve, reverse

from django_blinker import after_commit, background, inspection, signals
from django_blinker.inspection import ModelReceiver, SignalInfo, picture
from django_blinker.inspection.describe import ReceiverInfo
from django_blinker.inspection.picture import Box
from django_blinker.views.wiring import AppSignalsView
from tests.support.signal_pages import detail_url
from tests.support.testapp.models import Author, Book, Tag

SVG = "{http://www.w3.org/2000/svg}"


def book_saved(sender, **kwargs):
    return None


async def book_indexed(sender, **kwargs):
    return None


def anything_saved(sender, **kwargs):
    return None


def tag_deleted(sender, **kwargs):
    return None


def native_book_saved(sender, **kwargs):
    return None


def receipt_mailed(sender, **kwargs):
    return None


def search_updated(sender, **kwargs):
    return None


@pytest.fixture
def connected():
    """Receivers of every mode on the test app's models, through the real API."""
    signals.post_save.connect(book_saved, sender=Book)
    signals.post_save.connect(book_indexed, sender=Book)
    signals.post_save.connect(anything_saved)
    signals.post_delete.connect(tag_deleted, sender=Tag)
    django_post_save.connect(native_book_saved, sender=Book)
    after_commit.on_commit(signals.post_save, receipt_mailed, sender=Book)
    background.in_background(signals.post_save, search_updated, sender=Book, backend="inline")
    yield
    background.disconnect(signals.post_save, search_updated)
    after_commit.disconnect(signals.post_save, receipt_mailed)
    django_post_save.disconnect(native_book_saved, sender=Book)
    for signal in signals.namespace.values():
        signal._clear_state()


def found_for(*models):
    every = inspection.discover()
    return {model._meta.label: inspection.receivers_for_model(every, model) for model in models}


def labels(graph, kind):
    return [node.label for node in graph.of_kind(kind)]


def targets(graph, node_id):
    return {edge.target for edge in graph.edges if edge.source == node_id}


def node(graph, kind, label, sub=None):
    matches = [n for n in graph.of_kind(kind) if n.label == label and sub in (None, n.sub)]
    assert len(matches) == 1, (kind, label, sub, graph.of_kind(kind))
    return matches[0]


# The graph -------------------------------------------------------------------------------


def test_graph_follows_model_signal_receiver_mode_for_real_receivers(connected):
    graph = picture.wiring(found_for(Book), signal_url=lambda s: f"/s/{s.system}/{s.name}")
    assert labels(graph, "model") == ["Book"]
    assert set(labels(graph, "signal")) == {"post_save"}
    blinker_save = node(graph, "signal", "post_save", "blinker, on save")
    django_save = node(graph, "signal", "post_save", "django, on save")
    assert blinker_save.url == "/s/blinker/post_save"
    assert django_save.url == "/s/django/post_save"
    assert targets(graph, node(graph, "model", "Book").id) == {blinker_save.id, django_save.id}
    under_blinker = {
        n.label for n in graph.of_kind("receiver") if n.id in targets(graph, blinker_save.id)
    }
    assert under_blinker == {
        "tests.inspection.test_picture.book_saved",
        "tests.inspection.test_picture.book_indexed",
        "tests.inspection.test_picture.anything_saved",
        "tests.inspection.test_picture.receipt_mailed",
        "tests.inspection.test_picture.search_updated",
    }
    assert "tests.inspection.test_picture.native_book_saved" in {
        n.label for n in graph.of_kind("receiver") if n.id in targets(graph, django_save.id)
    }
    assert "tests.inspection.test_picture.tag_deleted" not in labels(graph, "receiver")
    modes = {n.label: n for n in graph.of_kind("mode")}
    assert list(modes)[:3] == ["inline", "after commit", "inline after commit"]
    mailed = node(graph, "receiver", "tests.inspection.test_picture.receipt_mailed")
    assert targets(graph, mailed.id) == {modes["after commit"].id}
    searched = node(graph, "receiver", "tests.inspection.test_picture.search_updated")
    assert targets(graph, searched.id) == {modes["inline after commit"].id}
    assert mailed.url == blinker_save.url
    anything = node(graph, "receiver", "tests.inspection.test_picture.anything_saved")
    assert anything.sub == "any sender"
    assert "tests/inspection/test_picture.py:" in anything.title
    indexed = node(graph, "receiver", "tests.inspection.test_picture.book_indexed")
    assert "async, inline" in indexed.title


def test_each_model_keeps_its_own_receivers_in_an_app_picture(connected):
    graph = picture.wiring(found_for(Author, Book, Tag), model_url=lambda label: f"/m/{label}")
    assert labels(graph, "model") == ["Author", "Book", "Tag"]
    assert node(graph, "model", "Tag").url == "/m/testapp.Tag"
    tag_signals = targets(graph, node(graph, "model", "Tag").id)
    tag_receivers = {
        n.label
        for n in graph.of_kind("receiver")
        if any(n.id in targets(graph, s) for s in tag_signals)
    }
    assert "tests.inspection.test_picture.tag_deleted" in tag_receivers
    assert "tests.inspection.test_picture.book_saved" not in tag_receivers
    # Receivers for any sender run for every model, and are drawn under each.
    assert (
        sum(
            label == "tests.inspection.test_picture.anything_saved"
            for label in labels(graph, "receiver")
        )
        == 3
    )
    assert len(graph.of_kind("mode")) == len({n.label for n in graph.of_kind("mode")})


def test_models_with_nothing_connected_are_left_out(bridged_clean):
    graph = picture.wiring({"testapp.Shelf": []})
    assert graph.nodes == () and graph.edges == ()


@pytest.fixture
def bridged_clean():
    yield
    for signal in signals.namespace.values():
        signal._clear_state()


# Untrusted text --------------------------------------------------------------------------

ODD = 'odd<script>alert("x")</script>&amp;\'{n1 -> n2}; \\N \\"\x00\x1b\ud800\nend\\'


def fake(name=ODD, sender="any", mode="inline", signal_name=ODD):
    signal = SignalInfo(
        system="blinker",
        namespace='ns"<>&',
        name=signal_name,
        doc="",
        app=None,
        module=None,
        is_model_signal=True,
        receivers=(),
    )
    receiver = ReceiverInfo(
        name=name,
        kind="function",
        file="a<b>.py",
        line=1,
        sender=sender,
        sender_model=None,
        weak=True,
        is_async=False,
        mode=mode,
    )
    return ModelReceiver(signal, receiver, "save", f"why {ODD}")


def clean(text):
    return re.sub("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff]", "\ufffd", text)


def test_odd_names_are_escaped_in_the_svg():
    graph = picture.wiring({'app.M<"&>': [fake()]}, signal_url=lambda s: '/s/?a=1&b="<x>"')
    svg = picture.to_svg(graph, f"title {ODD}")
    assert "<script" not in svg
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    assert root.find(f"{SVG}title").text == clean(f"title {ODD}")
    titles = [element.text for element in root.iter(f"{SVG}title")]
    assert any(text and text.startswith(clean(ODD) + "\n") for text in titles)
    hrefs = {element.get("href") for element in root.iter(f"{SVG}a")}
    assert hrefs == {'/s/?a=1&b="<x>"'}
    assert [element for element in root.iter() if element.tag.endswith("script")] == []


def test_long_names_are_cut_to_their_box_and_keep_their_end():
    name = "project.receivers." + "very_long_" * 10 + "handler"
    graph = picture.wiring({"app.M": [fake(name=name)]})
    root = ET.fromstring(picture.to_svg(graph, "t"))
    shown = [t.text for t in root.iter(f"{SVG}text") if t.get("class") == "db-w-label"]
    cut = next(text for text in shown if text.endswith("handler"))
    assert cut.startswith("…") and len(cut) < len(name)
    room = (picture.COLUMN_WIDTHS["receiver"] - 2 * picture.TEXT_X) / (
        picture.FONT_SIZE * picture.CHAR_WIDTH
    )
    assert len(cut) <= room
    assert any(t.text.startswith(name + "\n") for t in root.iter(f"{SVG}title"))


def test_dot_strings_escape_quotes_backslashes_and_line_breaks():
    assert picture.dot_string('a"b') == r'"a\"b"'
    assert picture.dot_string("a\\") == r'"a\\"'
    assert picture.dot_string("a\nb") == r'"a\nb"'
    assert picture.dot_string("\\N") == r'"\\N"'
    assert picture.dot_string("&lt;") == '"&amp;lt;"'


# A hundred receivers ---------------------------------------------------------------------


@pytest.fixture
def hundred():
    """A hundred real receivers on Book and Tag, in three modes."""
    made = []
    for number in range(100):

        def receiver(sender, **kwargs):
            return None

        receiver.__qualname__ = f"receiver_with_a_rather_long_descriptive_name_{number:03d}"
        made.append(receiver)
        if number % 10 == 0:
            after_commit.on_commit(signals.post_save, receiver, sender=Book)
        elif number % 3 == 0:
            signals.pre_delete.connect(receiver, sender=Tag, weak=False)
        else:
            signals.post_save.connect(receiver, sender=Book, weak=False)
    yield made
    for receiver in made[::10]:
        after_commit.disconnect(signals.post_save, receiver)
    for signal in signals.namespace.values():
        signal._clear_state()


def test_a_hundred_receivers_get_a_row_each_and_no_box_overlaps(hundred):
    graph = picture.wiring(found_for(Book, Tag))
    assert len(graph.of_kind("receiver")) == 100
    placed = picture.layout(graph)
    boxes = placed.boxes
    assert set(boxes) == {n.id for n in graph.nodes}
    for (a, first), (b, second) in itertools.combinations(boxes.items(), 2):
        assert not first.overlaps(second), (a, first, b, second)
    for box in boxes.values():
        assert box.x >= 0 and box.x + box.width <= placed.width
        assert box.y >= 0 and box.y + box.height <= placed.height
    assert placed.height >= 100 * picture.ROW
    for edge in graph.edges:
        assert boxes[edge.source].x + boxes[edge.source].width < boxes[edge.target].x
    for signal in graph.of_kind("signal"):
        rows = sorted(boxes[target].y for target in targets(graph, signal.id))
        centred = (rows[0] + rows[-1]) / 2
        # A long list starts level with its signal; a short one is centred on it.
        assert boxes[signal.id].y == (rows[0] if len(rows) > 9 else centred)
    root = ET.fromstring(picture.to_svg(graph, "a hundred"))
    assert float(root.get("height")) == placed.height
    assert len([g for g in root.iter(f"{SVG}g") if "db-w-receiver" in g.get("class", "")]) == 100


def test_overlap_is_what_the_geometry_says():
    assert Box(0, 0, 10, 10).overlaps(Box(5, 5, 10, 10))
    assert not Box(0, 0, 10, 10).overlaps(Box(10, 0, 10, 10))
    assert not Box(0, 0, 10, 10).overlaps(Box(0, 10, 10, 10))


# DOT -------------------------------------------------------------------------------------


def render(dot_text):
    """Graphviz's own SVG of ``dot_text``: parsing fails loudly on any DOT error."""
    done = subprocess.run(
        ["dot", "-Tsvg"], input=dot_text.encode(), capture_output=True, check=False
    )
    assert done.returncode == 0, done.stderr.decode()
    assert done.stderr == b"", done.stderr.decode()
    return ET.fromstring(done.stdout)


@pytest.mark.graphviz
def test_dot_of_real_receivers_is_valid_graphviz(connected):
    graph = picture.wiring(found_for(Author, Book, Tag), signal_url=lambda s: f"/s/{s.name}")
    dot = picture.to_dot(graph, "wiring of testapp")
    rendered = render(dot)
    nodes = [g for g in rendered.iter(f"{SVG}g") if g.get("class") == "node"]
    assert len(nodes) == len(graph.nodes)
    edges = [g for g in rendered.iter(f"{SVG}g") if g.get("class") == "edge"]
    assert len(edges) == len(graph.edges)
    texts = {t.text for t in rendered.iter(f"{SVG}text")}
    assert "tests.inspection.test_picture.receipt_mailed" in texts
    assert "inline after commit" in texts
    links = {a.get("{http://www.w3.org/1999/xlink}href") for a in rendered.iter(f"{SVG}a")}
    assert "/s/post_save" in links


@pytest.mark.graphviz
def test_dot_shows_odd_names_literally():
    url = '/s/?a=1&b="2 <3>"&lt;'
    graph = picture.wiring({"app.M": [fake()]}, signal_url=lambda s: url)
    rendered = render(picture.to_dot(graph, ODD))
    texts = [t.text for t in rendered.iter(f"{SVG}text")]
    # The label's own line break splits it; every other character is shown as it was.
    first, _, second = clean(ODD).partition("\n")
    assert first in texts and second in texts
    xlink = "{http://www.w3.org/1999/xlink}"
    links = [a for a in rendered.iter(f"{SVG}a") if a.get(f"{xlink}href")]
    assert {a.get(f"{xlink}href") for a in links} == {"/s/?a=1&b=%222%20%3C3%3E%22&lt;"}
    tooltips = [a.get(f"{xlink}title") for a in links]
    assert any(t.startswith('odd<script>alert("x")</script>&amp;\'{n1 -> n2}; ') for t in tooltips)


def test_dot_is_one_statement_per_line_with_balanced_braces(connected):
    dot = picture.to_dot(picture.wiring(found_for(Book)))
    lines = dot.splitlines()
    assert lines[0] == 'digraph "wiring" {' and lines[-1] == "}"
    assert dot.count("{") == dot.count("}")
    statement = re.compile(
        r'\s*(n\d+( -> n\d+)?( \[.*\])?;|subgraph "\w+" \{|rank=same;|\}|\w+ \[.*\];)'
    )
    assert [line for line in lines[1:-1] if not statement.fullmatch(line)] == []


# The admin pages -------------------------------------------------------------------------


@pytest.fixture
def admin_client(client, db):
    client.force_login(User.objects.create_superuser("root", password="pw"))
    return client


def model_page(label):
    return reverse("admin:django_blinker_signal_model", kwargs={"label": label})


def app_page(label):
    return reverse("admin:django_blinker_signal_app", kwargs={"app_label": label})


def inline_svg(response):
    content = response.content.decode()
    found = re.search(r'<svg [^>]*class="db-wiring-svg".*?</svg>', content, re.S)
    assert found, "no <svg> on the page"
    return ET.fromstring(found.group(0))


def test_model_page_draws_the_wiring_and_its_links_lead_to_signal_pages(admin_client, connected):
    response = admin_client.get(model_page("testapp.Book"))
    assert response.status_code == 200
    root = inline_svg(response)
    shown = {t.text for t in root.iter(f"{SVG}text")}
    assert any(text.endswith("test_picture.book_saved") for text in shown), shown
    hrefs = {a.get("href") for a in root.iter(f"{SVG}a")}
    assert detail_url("blinker", "django_blinker.signals", "post_save") in hrefs
    for href in hrefs:
        assert resolve(href).url_name == "django_blinker_signal_detail"
        assert admin_client.get(href).status_code == 200, href
    assert app_page("testapp").encode() in response.content
    assert b"django_blinker/wiring.css" in response.content


def test_model_page_without_receivers_draws_nothing(admin_client, bridged_clean):
    response = admin_client.get(model_page("testapp.Shelf"))
    assert response.status_code == 200
    assert b"db-wiring-svg" not in response.content


def test_app_page_draws_every_model_and_links_to_their_pages(admin_client, connected):
    response = admin_client.get(app_page("testapp"))
    assert response.status_code == 200
    root = inline_svg(response)
    hrefs = {a.get("href") for a in root.iter(f"{SVG}a")}
    assert model_page("testapp.Tag") in hrefs
    for href in hrefs:
        assert resolve(href).url_name in {
            "django_blinker_signal_detail",
            "django_blinker_signal_model",
        }
        assert admin_client.get(href).status_code == 200, href
    assert model_page("testapp.Shelf").encode() in response.content


def test_unknown_app_is_404_naming_a_close_one(admin_client, rf):
    assert admin_client.get(app_page("testap")).status_code == 404
    request = rf.get(app_page("testap"))
    request.user = User.objects.get(username="root")
    with pytest.raises(
        Http404, match="'testap' is not an installed app label; did you mean 'testapp'"
    ):
        AppSignalsView.as_view()(request, app_label="testap")


def test_app_page_needs_the_permission(client, db):
    staff = User.objects.create_user("staff", password="pw", is_staff=True)
    client.force_login(staff)
    assert client.get(app_page("testapp")).status_code == 403
    staff.user_permissions.add(
        Permission.objects.get(content_type__app_label="django_blinker", codename="view_signal")
    )
    client.force_login(User.objects.get(pk=staff.pk))
    assert client.get(app_page("testapp")).status_code == 200
