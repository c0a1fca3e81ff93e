"""The Simplified Chinese catalogue: complete, compiled, shipped, and used by the pages.

Needs GNU gettext's ``msgfmt`` (``apt-get install gettext``; CI installs it).
"""

from __future__ import annotations

import gettext
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.urls import reverse
from django.utils import translation

import django_blinker

PACKAGE = Path(django_blinker.__file__).resolve().parent
LOCALE = PACKAGE / "locale"
PO = LOCALE / "zh_Hans" / "LC_MESSAGES" / "django.po"
MO = PO.with_suffix(".mo")


def _msgfmt(po: Path, mo: Path) -> str:
    found = subprocess.run(
        ["msgfmt", "--check", "--statistics", "-o", str(mo), str(po)],
        capture_output=True,
        text=True,
        check=True,
    )
    return found.stderr


def _msgids(po: Path) -> set[tuple[str | None, str]]:
    """Every (context, msgid) of ``po`` but the header."""
    entries = set()
    context: str | None = None
    current: list[str] | None = None
    field = ""
    for line in [*po.read_text(encoding="utf-8").splitlines(), ""]:
        if line.startswith(("msgctxt ", "msgid ", "msgid_plural ", "msgstr")) or not line:
            if field == "msgid" and current is not None:
                msgid = "".join(current)
                if msgid:
                    entries.add((context, msgid))
            if field == "msgstr" or not line:
                context = None
            field = line.split(" ", 1)[0].split("[")[0] if line else ""
            current = [] if line else None
            if line and current is not None:
                value = line.split(" ", 1)[1]
                current.append(value[1:-1])
                if field == "msgctxt":
                    context = value[1:-1]
        elif line.startswith('"') and current is not None:
            current.append(line[1:-1])
            if field == "msgctxt":
                context = (context or "") + line[1:-1]
    return entries


def test_the_catalogue_has_no_untranslated_or_fuzzy_entry(tmp_path):
    statistics = _msgfmt(PO, tmp_path / "django.mo")
    assert "fuzzy" not in statistics
    assert "untranslated" not in statistics
    assert "translated message" in statistics
    assert "#, fuzzy" not in PO.read_text(encoding="utf-8")


def test_the_compiled_catalogue_is_up_to_date_with_the_po_file(tmp_path):
    _msgfmt(PO, tmp_path / "django.mo")
    with (tmp_path / "django.mo").open("rb") as fresh, MO.open("rb") as shipped:
        assert gettext.GNUTranslations(shipped)._catalog == gettext.GNUTranslations(fresh)._catalog


def test_every_marked_string_is_in_the_catalogue(tmp_path):
    # makemessages on a copy of the package: what `make messages` would extract today.
    copy = tmp_path / "django_blinker"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__", "*.mo"))
    root = Path(__file__).resolve().parent.parent
    subprocess.run(
        [sys.executable, "-m", "django", "makemessages", "-l", "zh_Hans", "--no-obsolete"],
        cwd=copy,
        env={
            **os.environ,
            "PYTHONPATH": str(root),
            "DJANGO_SETTINGS_MODULE": "tests.support.settings",
        },
        capture_output=True,
        check=True,
    )
    extracted = _msgids(copy / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po")
    assert len(extracted) > 150
    assert extracted - _msgids(PO) == set()


def test_the_wheel_ships_the_compiled_catalogue():
    # hatchling's wheel target takes the whole package directory; nothing may ignore it.
    ignored = (PACKAGE.parent / ".gitignore").read_text(encoding="utf-8")
    assert "*.mo" not in ignored
    assert MO.stat().st_size > 4000


@pytest.fixture
def chinese(settings):
    settings.LANGUAGE_CODE = "zh-hans"
    yield
    translation.activate("en-us")


@pytest.fixture
def superuser(db):
    return User.objects.create_superuser("root", password="pw")


@pytest.mark.django_db
def test_the_signal_list_speaks_chinese_and_keeps_signal_names(client, superuser, chinese):
    client.force_login(superuser)
    page = client.get(reverse("admin:django_blinker_signal_changelist")).content.decode()
    assert "<h1>信号</h1>" in page
    assert "搜索信号、接收器和模型" in page
    assert "按命名空间" in page
    assert "post_save" in page
    assert "django.db.models.signals" in page
    assert "Search signals" not in page


@pytest.mark.django_db
def test_the_model_page_speaks_chinese_and_keeps_receiver_names(client, superuser, chinese):
    from django_blinker import signals
    from tests.support.testapp.models import Book

    def book_saved(sender, **kwargs):
        return None

    signals.post_save.connect(book_saved, sender=Book)
    try:
        client.force_login(superuser)
        url = reverse("admin:django_blinker_signal_model", kwargs={"label": "testapp.Book"})
        page = client.get(url).content.decode()
    finally:
        signals.post_save.disconnect(book_saved, sender=Book)
    assert "为 testapp.Book 运行的接收器" in page
    assert "<h2>保存时 " in page
    assert "本模型" in page
    assert "以下操作没有接收器" in page
    assert "tests.test_translations" in page
    assert "book_saved" in page
    assert ">接收器<" in page
    assert "including receivers for any sender" not in page
