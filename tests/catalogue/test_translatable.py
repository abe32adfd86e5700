"""Every text of the catalogue flows that a person reads reaches the translators' catalogue."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ["catalogue/report.py", "catalogue/services.py", "catalogue/admin.py",
           "integration/pipelines/catalog_to_bas.py", "integration/pipelines/catalog_to_keycrm.py",
           "integration/pipelines/prices_to_keycrm.py"]


@pytest.mark.skipif(shutil.which("xgettext") is None, reason="needs GNU gettext")
def test_run_texts_and_refusals_are_extracted_for_translation() -> None:
    # The same extraction ``makemessages`` runs (xgettext with Django's keywords).
    extracted = subprocess.run(
        ["xgettext", "--language=Python", "--from-code=UTF-8", "--keyword=gettext",  # noqa: S607
         "--keyword=gettext_lazy", "--keyword=_", "--output=-", *SOURCES],
        cwd=ROOT, capture_output=True, text=True, check=True).stdout.replace('"\n"', "")

    for msgid in [
        "%(created)d created, %(updated)d updated, %(unchanged)d unchanged (would be written)",
        "; %(count)d messages queued for KeyCRM",
        "Dry run: %(flow)s — %(account)s",
        "The account has no BAS connection.",
        "Fill in the catalogue settings: %(fields)s",
        "group «%(name)s»", "characteristic «%(name)s»", "product «%(name)s»",
        "no article or code",
        "Choose the price type in the catalogue settings.",
        "Choose the cost price type in the catalogue settings.",
        "This configuration has no cost register the portal reads: choose a cost price type "
        "instead.",
        "%(count)d categories are not created in KeyCRM yet; their message goes first",
    ]:
        assert f'msgid "{msgid}"' in extracted, msgid
