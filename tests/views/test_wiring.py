"""What runs for one model, and the wiring pictures of a model and an app."""

from __future__ import annotations

import pytest

from tests.support.signal_pages import detail_url, many_receivers, model_url
from tests.support.testapp.models import Book, Tag

pytestmark = pytest.mark.django_db


def book_saved(sender, **kwargs):
    return None


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


def test_a_model_with_many_receivers_shows_a_page_of_rows_and_says_where_the_rest_are(
    client, superuser, bridged
):
    from django_blinker.inspection.picture import RECEIVERS_DRAWN
    from django_blinker.views.page import RECEIVERS_PER_PAGE

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
