"""The Ukrainian catalogue stays complete: every message the code can show is in
``locale/uk/LC_MESSAGES/django.po`` with a real translation, the compiled ``django.mo`` that
is committed beside it says the same, and the admin speaks Ukrainian or English as asked.

To update the catalogue after adding messages (see ``locale/README.md``)::

    .venv/bin/python manage.py makemessages -l uk --no-obsolete -i .venv -i var \\
        -i emulators -i tests -i bench -i docs -i "*.egg-info"
    # translate the new and fuzzy entries, then
    .venv/bin/python manage.py compilemessages -l uk -i .venv
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import polib
import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import translation

from accounts.services import keycrm_account_check
from mappings.sandbox import ExpressionError, compile_expression
from runs.services import run_start

CATALOGUE = Path(django_settings.BASE_DIR) / "locale" / "uk" / "LC_MESSAGES"
PO_FILE = CATALOGUE / "django.po"
MO_FILE = CATALOGUE / "django.mo"
# Not the portal's UI: the emulators speak the vendors' protocol text, the rest is not shipped.
NOT_UI = [".venv", "var", "emulators", "tests", "bench", "docs", "*.egg-info"]
UKRAINIAN_PLURAL_FORMS = 4
# %(name)s, %(share).0f, %d and %% in python-format messages; {id} in the few str.format ones.
PLACEHOLDER = re.compile(r"%(?:\(\w+\))?[-#0 +]*\d*(?:\.\d+)?[diouxXeEfFgGcrsa%]|\{\w*\}")

Key = tuple[str, str, str]


def _key(entry: polib.POEntry) -> Key:
    return entry.msgctxt or "", entry.msgid, entry.msgid_plural or ""


def _show(keys: set[Key]) -> str:
    return "\n".join(f"  {msgid!r}" for _, msgid, _ in sorted(keys))


@pytest.fixture(scope="module")
def catalogue() -> polib.POFile:
    return polib.pofile(str(PO_FILE))


@pytest.fixture(scope="module")
def entries(catalogue: polib.POFile) -> list[polib.POEntry]:
    return [entry for entry in catalogue if not entry.obsolete]


@pytest.fixture(scope="module")
def extracted(tmp_path_factory: pytest.TempPathFactory) -> polib.POFile:
    """What ``makemessages`` extracts from the code as it is now, into a copy of the project
    so the committed catalogue is neither read nor touched."""
    if shutil.which("xgettext") is None:
        pytest.skip("makemessages needs GNU gettext's xgettext (apt-get install gettext)")
    source = Path(django_settings.BASE_DIR)
    copy = tmp_path_factory.mktemp("i18n") / "project"
    shutil.copytree(source, copy, ignore=shutil.ignore_patterns(
        *NOT_UI, ".*", "__pycache__", "*.pyc", "locale", "node_modules"))
    with pytest.MonkeyPatch.context() as patch, \
            override_settings(LOCALE_PATHS=[str(copy / "locale")]):
        patch.chdir(copy)
        call_command("makemessages", locale=["uk"], ignore_patterns=NOT_UI, no_obsolete=True,
                     verbosity=0)
    return polib.pofile(str(copy / "locale" / "uk" / "LC_MESSAGES" / "django.po"))


def test_every_message_in_the_code_is_in_the_catalogue(
        extracted: polib.POFile, entries: list[polib.POEntry]) -> None:
    in_code = {_key(entry) for entry in extracted if not entry.obsolete}
    in_catalogue = {_key(entry) for entry in entries}

    missing = in_code - in_catalogue
    assert len(in_code) > 600  # the extraction saw the whole portal, not an empty copy
    assert not missing, (
        f"{len(missing)} message(s) in the code are not in {PO_FILE.name}; run makemessages "
        f"(see this module's docstring), translate them and compilemessages:\n{_show(missing)}")


def _translated(entry: polib.POEntry) -> bool:
    if entry.msgid_plural:
        forms = entry.msgstr_plural
        return len(forms) == UKRAINIAN_PLURAL_FORMS and all(f.strip() for f in forms.values())
    return bool(entry.msgstr.strip())


def test_every_message_has_a_ukrainian_translation(entries: list[polib.POEntry]) -> None:
    fuzzy = {_key(entry) for entry in entries if "fuzzy" in entry.flags}
    untranslated = {_key(entry) for entry in entries if not _translated(entry)}

    assert not fuzzy, f"fuzzy (guessed by msgmerge, not checked by a person):\n{_show(fuzzy)}"
    assert not untranslated, f"no Ukrainian translation:\n{_show(untranslated)}"


def test_the_catalogue_header_is_ukrainian(catalogue: polib.POFile) -> None:
    assert catalogue.metadata["Language"] == "uk"
    assert catalogue.metadata["Plural-Forms"].startswith(f"nplurals={UKRAINIAN_PLURAL_FORMS};")
    assert not catalogue.metadata_is_fuzzy


def test_translations_keep_every_placeholder(entries: list[polib.POEntry]) -> None:
    broken = []
    for entry in entries:
        if entry.msgid_plural:
            pairs = [(entry.msgid_plural if n else entry.msgid, text)
                     for n, text in entry.msgstr_plural.items()]
        else:
            pairs = [(entry.msgid, entry.msgstr)]
        for source, text in pairs:
            # A plural form may leave the number out ("одну перевірку"), never add or rename.
            wanted, found = set(PLACEHOLDER.findall(source)), set(PLACEHOLDER.findall(text))
            if found - wanted or (not entry.msgid_plural and found != wanted):
                broken.append(f"  {entry.msgid!r}: {sorted(wanted)} → {sorted(found)}")

    assert not broken, "placeholders changed in translation:\n" + "\n".join(broken)


def test_ukrainian_apostrophes_are_typographic(entries: list[polib.POEntry]) -> None:
    """об’єкт, not об'єкт: a ' in a translation would end the JavaScript string of a
    ``confirm('{% translate … %}')`` and break the button."""
    ascii_apostrophe = re.compile(r"(?<=[А-Яа-яІіЇїЄєҐґ])'(?=[А-Яа-яІіЇїЄєҐґ])")
    wrong = {_key(entry) for entry in entries
             if any(ascii_apostrophe.search(text)
                    for text in [entry.msgstr, *entry.msgstr_plural.values()])}

    assert not wrong, f"write ’ (U+2019) instead of ':\n{_show(wrong)}"


def _texts(entry: polib.POEntry | polib.MOEntry) -> tuple[str, dict[int, str]]:
    return entry.msgstr, {int(n): text for n, text in entry.msgstr_plural.items()}


def test_the_committed_mo_is_compiled_from_the_po(entries: list[polib.POEntry]) -> None:
    """Compared by content, not by file times: a fresh clone gives both files the time of the
    checkout, in no particular order."""
    assert MO_FILE.exists(), "run compilemessages: the .mo is committed so that no gettext " \
                             "tools are needed to run the portal"
    compiled = {_key(entry): _texts(entry) for entry in polib.mofile(str(MO_FILE))
                if entry.msgid}
    expected = {_key(entry): _texts(entry) for entry in entries if "fuzzy" not in entry.flags}

    stale = {key for key in expected.keys() | compiled.keys()
             if expected.get(key) != compiled.get(key)}
    assert not stale, f"{MO_FILE.name} is older than {PO_FILE.name}; run compilemessages:\n" \
                      f"{_show(stale)}"


@pytest.fixture
def operator_client(admin_user) -> Client:
    client = Client()
    client.force_login(admin_user)
    return client


def _accounts_page(client: Client, **headers: str) -> str:
    response = client.get(reverse("admin:accounts_keycrmaccount_changelist"), headers=headers)
    assert response.status_code == 200
    return response.content.decode()


@pytest.mark.django_db
def test_the_admin_speaks_ukrainian_when_the_browser_asks(operator_client: Client) -> None:
    page = _accounts_page(operator_client, accept_language="uk,en;q=0.5")

    assert "Облікові записи KeyCRM" in page  # our model's plural name
    assert "Портал KeyCRM ⇄ BAS" in page  # the site title
    assert "Облікові записи KeyCRM і підключення до BAS" in page  # our app's name
    assert "KeyCRM accounts" not in page


@pytest.mark.django_db
def test_the_admin_speaks_english_when_the_browser_asks(operator_client: Client) -> None:
    page = _accounts_page(operator_client, accept_language="en-US,en;q=0.9")

    assert "KeyCRM accounts" in page
    assert "KeyCRM ⇄ BAS portal" in page
    assert "KeyCRM accounts and BAS connections" in page
    assert "Облікові записи KeyCRM" not in page


@pytest.mark.django_db
def test_the_language_cookie_wins_over_the_browser(operator_client: Client) -> None:
    operator_client.cookies[django_settings.LANGUAGE_COOKIE_NAME] = "uk"
    assert "Облікові записи KeyCRM" in _accounts_page(operator_client, accept_language="en")

    operator_client.cookies[django_settings.LANGUAGE_COOKIE_NAME] = "en"
    assert "KeyCRM accounts" in _accounts_page(operator_client, accept_language="uk")


@pytest.mark.django_db
def test_without_a_preference_the_portal_speaks_its_default_language(
        operator_client: Client, settings) -> None:
    settings.LANGUAGE_CODE = "uk"  # the product's default (the suite runs in English)

    page = _accounts_page(operator_client)

    assert '<html lang="uk"' in page
    assert "Облікові записи KeyCRM" in page


def test_a_stored_message_is_written_in_the_language_of_its_moment(keycrm_account) -> None:
    """Messages kept in the database (check results, record outcomes) are translated with
    gettext when they are made: a worker runs in the portal's language, Ukrainian, and the
    text stays as written whatever language a reader's browser asks for later."""
    with translation.override("uk"):
        keycrm_account_check(account=keycrm_account)
    keycrm_account.refresh_from_db()
    assert keycrm_account.last_check_message.startswith("API-ключ працює: KeyCRM відповів")

    with translation.override("en"):
        keycrm_account_check(account=keycrm_account)
    keycrm_account.refresh_from_db()
    assert keycrm_account.last_check_message.startswith("The API key works: KeyCRM answered")


@pytest.mark.django_db
def test_the_progress_page_gives_its_script_the_unit_in_the_page_language(
        operator_client: Client) -> None:
    """The page's JavaScript writes the time left itself; it takes the unit from the page."""
    run = run_start(kind="test", title="Синхронізація довідників", total=40)
    url = reverse("admin:runs_run_change", args=[run.pk])

    ukrainian = operator_client.get(url, headers={"accept-language": "uk"}).content.decode()
    english = operator_client.get(url, headers={"accept-language": "en"}).content.decode()

    assert 'data-seconds-unit="с"' in ukrainian
    assert "Хід виконання" in ukrainian
    assert 'data-seconds-unit="s"' in english
    assert "Progress" in english


@pytest.mark.parametrize(("language", "expected"), [
    ("uk", "Неможливо додати: текст і ціле число (рядок 1, стовпець 1)"),
    ("en", "Cannot add text and a whole number (line 1, column 1)"),
])
def test_an_expression_error_is_told_in_the_active_language(language: str,
                                                            expected: str) -> None:
    """The sandbox builds its messages from parts (the operation, the kinds of values, the
    place); each part is translated when the message is made."""
    expression = compile_expression("order.number + 1")

    with translation.override(language):
        with pytest.raises(ExpressionError) as refused:
            expression.evaluate({"order": {"number": "KC-1"}})
        told = str(refused.value)

    assert told == expected
