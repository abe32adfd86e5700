"""Every admin page for every kind of caller. For each registered model — its list, add,
change (one real object), delete and history pages — and for the custom admin views and the
list actions, the answer matches the role's intent (``api/roles.py``):

* anonymous → redirected to the login page, for every page;
* staff without a role → 403 on every model page (and an empty index);
* operator → sees everything (200, change pages read-only: no save button), adds, changes and
  deletes nothing; of the actions only "Re-process", "Send again" and dry runs;
* configurator → also adds, changes and deletes accounts, connections and mappings (payment
  routes and document rules included), and adds and changes the loops' settings;
* superuser → everything the admin offers at all.

What an admin page offers at all (``OFFERS``) is the portal's design — a log is read-only for
a superuser too — and is kept apart from what a role may (``intended``). At the end of the
module the table of pages × roles → status is printed (evidence of the run)."""

from __future__ import annotations

import collections
import datetime as dt
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group, User
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.authtoken.models import Token

from api.roles import CONFIGURATOR, OPERATOR
from catalogue.models import CatalogueSettings
from dashboard.services import failure_causes
from documents.models import DocumentAction, DocumentRule, FollowupSettings, PaymentRoute
from integration.models import BasChangesSettings, BasDocumentState
from mappings.models import Correspondence, DirectoryEntry, FieldMapping, StatusCorrespondence
from runs.models import Run
from staging.models import (
    BackfillJob,
    Exchange,
    InboundRecord,
    OutboxMessage,
    OutboxState,
    PollCursor,
    RecordState,
)
from stock.models import PushedStock, StockSettings

pytestmark = pytest.mark.django_db

ROLES = ("anonymous", "staff", "operator", "configurator", "superuser")
V, A, C, D = "view", "add", "change", "delete"
ALL = frozenset({V, A, C, D})
LOGIN = "/admin/login/"
COUNTERPARTIES = "Catalog_Контрагенты"

# What each admin page offers at all, to anyone: the admin classes' own design.
OFFERS: dict[str, frozenset[str]] = {
    "auth.group": ALL, "auth.user": ALL, "authtoken.tokenproxy": ALL,
    "accounts.basconnection": ALL, "accounts.keycrmaccount": ALL,
    "mappings.correspondence": ALL, "mappings.statuscorrespondence": ALL,
    # A mirror of KeyCRM: only a product's or an offer's BAS item is edited by hand.
    "mappings.directoryentry": frozenset({V, C}),
    "mappings.documentprofile": ALL, "mappings.fieldmapping": ALL,
    # What was received and what the system wrote: read-only.
    "staging.inboundrecord": frozenset({V}),
    "staging.outboxmessage": frozenset({V}), "integration.basdocumentstate": frozenset({V}),
    # Logs a superuser may clear (no role has a delete right on them).
    "staging.exchange": frozenset({V, D}), "runs.run": frozenset({V, D}),
    "stock.pushedstock": frozenset({V, D}), "documents.documentaction": frozenset({V, D}),
    "staging.pollcursor": ALL, "staging.backfilljob": ALL,
    "integration.baschangessettings": ALL, "catalogue.cataloguesettings": ALL,
    "stock.stocksettings": ALL, "documents.paymentroute": ALL,
    "documents.followupsettings": ALL, "documents.documentrule": ALL,
}
AUTH = {"auth.group", "auth.user", "authtoken.tokenproxy"}
# The configuration a configurator manages: add, change and delete.
CONFIGURATION = {"accounts.basconnection", "accounts.keycrmaccount", "mappings.correspondence",
                 "mappings.statuscorrespondence", "mappings.directoryentry",
                 "mappings.documentprofile", "mappings.fieldmapping", "documents.paymentroute",
                 "documents.documentrule"}
# The loops' settings (and polling, backfills): a configurator adds and changes them.
LOOP_SETTINGS = {"staging.pollcursor", "staging.backfilljob", "integration.baschangessettings",
                 "catalogue.cataloguesettings", "stock.stocksettings",
                 "documents.followupsettings"}

# Actions that change nothing configured: whoever sees the list may run them.
LOOKING_ACTIONS = {
    "staging.inboundrecord": {"reprocess"}, "staging.outboxmessage": {"send_again"},
    "stock.stocksettings": {"dry_run"},
    "catalogue.cataloguesettings": {"dry_run_to_bas", "dry_run_to_keycrm", "dry_run_prices",
                                    "dry_run_cost"},
}
# Actions that change a connection or run a loop for real: whoever may change the row.
CHANGING_ACTIONS = {
    "accounts.basconnection": {"check_connection"},
    "accounts.keycrmaccount": {"check_connection", "rotate_webhook_token",
                               "sync_directories_action"},
    "staging.pollcursor": {"poll_now"}, "staging.backfilljob": {"resume"},
    "integration.baschangessettings": {"run_now"},
    "catalogue.cataloguesettings": {"run_to_bas", "run_to_keycrm", "run_prices", "run_cost"},
    "stock.stocksettings": {"push_now"},
    "documents.followupsettings": {"check_bas_payments_now"},
}


def intended(role: str, label: str) -> frozenset[str]:
    """What ``role`` may do with the model, by the roles' definition."""
    if role == "superuser":
        return ALL
    if role in {"anonymous", "staff"} or label in AUTH:
        return frozenset()
    if role == "configurator" and label in CONFIGURATION:
        return ALL
    if role == "configurator" and label in LOOP_SETTINGS:
        return frozenset({V, A, C})
    return frozenset({V})


def allowed(role: str, label: str) -> frozenset[str]:
    return intended(role, label) & OFFERS[label]


def expected_actions(role: str, label: str) -> set[str]:
    verbs = allowed(role, label)
    actions = set(LOOKING_ACTIONS.get(label, set())) if V in verbs else set()
    if C in verbs:
        actions |= CHANGING_ACTIONS.get(label, set())
    if D in verbs and label != "authtoken.tokenproxy":  # DRF's token list has no actions
        actions.add("delete_selected")
    return actions


# --- the rows ------------------------------------------------------------------------------

@pytest.fixture
def objects(shop, bas, keycrm_account, bas_connection) -> dict[str, Any]:
    """One real object of every registered model (the object id its admin URLs take), and a
    counterparty in BAS for the picker to find."""
    bas.seed("sb", {COUNTERPARTIES: [{"Description": "Олена Коваль"}]})
    account = keycrm_account
    someone = User.objects.create(username="someone", is_staff=True)
    record = InboundRecord.objects.create(
        account=account, source="webhook", event="order.change_order_status",
        keycrm_order_id=17, state=RecordState.WAITING, body='{"id": 17}',
        message="Status «Відправлено» has no BAS state")
    now = timezone.now()
    rows = {
        "auth.group": Group.objects.get(name=OPERATOR),
        "auth.user": someone,
        "accounts.basconnection": bas_connection,
        "accounts.keycrmaccount": account,
        "mappings.correspondence": Correspondence.objects.create(
            account=account, directory="buyer", keycrm_id=5, bas_entity_set=COUNTERPARTIES,
            bas_ref=uuid.uuid4(), bas_presentation="Олена Коваль"),
        "mappings.statuscorrespondence": StatusCorrespondence.objects.filter(
            account=account).first(),
        "mappings.directoryentry": DirectoryEntry.objects.create(
            account=account, directory="product", keycrm_id=1, name="Футболка", sku="TSH-BLK"),
        "mappings.documentprofile": shop.profile,
        "mappings.fieldmapping": FieldMapping.objects.filter(profile=shop.profile).first(),
        "staging.inboundrecord": record,
        "staging.exchange": Exchange.objects.create(
            system="keycrm", method="GET", url=f"{account.api_base_url}/order/17", status=200,
            record=record),
        "staging.outboxmessage": OutboxMessage.objects.create(
            account=account, kind="keycrm.put", key="order:17:status",
            state=OutboxState.WAITING, payload={"path": "/order/17", "body": {}}),
        "staging.pollcursor": PollCursor.objects.create(account=account),
        "staging.backfilljob": BackfillJob.objects.create(account=account,
                                                          since=now - dt.timedelta(days=1)),
        "integration.baschangessettings": BasChangesSettings.objects.create(account=account),
        "integration.basdocumentstate": BasDocumentState.objects.create(
            account=account, entity_set="Document_ЗаказПокупателя", bas_ref=uuid.uuid4()),
        "runs.run": Run.objects.create(kind="test", title="Перевірка", account=account),
        "catalogue.cataloguesettings": CatalogueSettings.objects.create(account=account),
        "stock.stocksettings": StockSettings.objects.create(account=account,
                                                            keycrm_warehouse_id=1),
        "stock.pushedstock": PushedStock.objects.create(
            account=account, keycrm_warehouse_id=1, offer_id=1, pushed_at=now),
        "documents.paymentroute": PaymentRoute.objects.create(
            account=account, keycrm_payment_method_id=1, kind="bank"),
        "documents.followupsettings": FollowupSettings.objects.create(account=account),
        "documents.documentrule": DocumentRule.objects.create(account=account, action="ship"),
        "documents.documentaction": DocumentAction.objects.create(
            account=account, keycrm_order_id=17, key="payment:1", action="payment",
            outcome="done"),
    }
    # DRF's token admin takes the user's id as the object id.
    Token.objects.create(user=someone)
    rows["authtoken.tokenproxy"] = someone
    assert all(row is not None for row in rows.values()), rows
    return rows


def _client_as(role: str) -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    # A page that crashes is a 500 in the table, not an exception that hides the other pages.
    client.raise_request_exception = False
    if role == "anonymous":
        return client
    if role == "superuser":
        user = User.objects.create(username=role, is_staff=True, is_superuser=True)
    else:
        user = User.objects.create(username=role, is_staff=True)
    group = {"operator": OPERATOR, "configurator": CONFIGURATOR}.get(role)
    if group:
        # The groups come from the api app's post-migrate handler; get() fails without it.
        user.groups.add(Group.objects.get(name=group))
    client.force_login(user)
    return client


# --- the table printed at the end ----------------------------------------------------------

TABLE: dict[str, dict[str, str]] = collections.defaultdict(dict)


@pytest.fixture(scope="module", autouse=True)
def print_table(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if not TABLE:
        return
    width = max(len(page) for page in TABLE)
    # The pages first, then the action lists (long cells), each block aligned on its own.
    blocks = ([p for p in TABLE if not p.endswith(" actions")],
              [p for p in TABLE if p.endswith(" actions")])
    lines = []
    for pages in blocks:
        columns = {r: max([len(r)] + [len(TABLE[p].get(r, "-")) for p in pages]) for r in ROLES}
        lines += ["", f"{'admin page':<{width}}  "
                  + "  ".join(f"{r:<{columns[r]}}" for r in ROLES)]
        lines += [f"{page:<{width}}  " + "  ".join(
            f"{TABLE[page].get(r, '-'):<{columns[r]}}" for r in ROLES) for page in pages]
    capture = request.config.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled():
        print("\n".join(lines), flush=True)


def _note(page: str, role: str, response, extra: str = "") -> None:
    TABLE[page][role] = f"{response.status_code}{extra}"


# --- the tests -----------------------------------------------------------------------------

def test_every_registered_model_is_classified():
    registered = {model._meta.label_lower for model in admin.site._registry}

    assert registered == set(OFFERS)


@pytest.mark.parametrize("role", ROLES)
def test_every_model_page_follows_the_role(role, objects):
    client = _client_as(role)
    wrong = []
    for model in admin.site._registry:
        label = model._meta.label_lower
        info = model._meta.app_label, model._meta.model_name
        pk = objects[label].pk
        verbs = allowed(role, label)
        pages = {
            "list": (reverse("admin:{}_{}_changelist".format(*info)), V in verbs),
            "add": (reverse("admin:{}_{}_add".format(*info)), A in verbs),
            "change": (reverse("admin:{}_{}_change".format(*info), args=[pk]), bool(verbs)),
            "delete": (reverse("admin:{}_{}_delete".format(*info), args=[pk]), D in verbs),
            "history": (reverse("admin:{}_{}_history".format(*info), args=[pk]), bool(verbs)),
        }
        for page, (url, may) in pages.items():
            response = client.get(url)
            saves = page == "change" and response.status_code == 200 and (
                b'name="_save"' in response.content)
            _note(f"{label} {page}", role, response,
                  " ro" if page == "change" and response.status_code == 200 and not saves
                  else "")
            if role == "anonymous":
                ok = response.status_code == 302 and response["Location"].startswith(LOGIN)
            else:
                ok = response.status_code == (200 if may else 403)
                if page == "change" and may:
                    # Read-only for whoever may only look: no save button.
                    ok = ok and saves == (C in verbs)
            if not ok:
                wrong.append((label, page, response.status_code, saves))
        if role != "anonymous" and V in verbs:
            form = client.get(pages["list"][0]).context["action_form"]
            actions = set(dict(form.fields["action"].choices)) - {""} if form else set()
            TABLE[f"{label} actions"][role] = ",".join(sorted(actions)) or "none"
            if actions != expected_actions(role, label):
                wrong.append((label, "actions", sorted(actions),
                              sorted(expected_actions(role, label))))

    assert wrong == [], "\n".join(map(str, wrong))


def test_staff_without_a_role_see_an_empty_index(objects):
    response = _client_as("staff").get(reverse("admin:index"))

    assert response.status_code == 200
    assert response.context["app_list"] == []


def _act(client: Client, label: str, action: str, pk: int):
    app_label, model_name = label.split(".")
    return client.post(reverse(f"admin:{app_label}_{model_name}_changelist"),
                       {"action": action, "_selected_action": [pk]})


@pytest.mark.parametrize("role", ROLES[1:])
def test_actions_run_only_for_whom_they_are_meant(role, objects):
    """An operator re-processes and sends again; rotating a webhook token or running a loop
    for real is refused (the admin answers "No action selected" and changes nothing)."""
    client = _client_as(role)
    account = objects["accounts.keycrmaccount"]
    token = account.webhook_token

    lists = {"reprocess": "staging.inboundrecord", "send_again": "staging.outboxmessage",
             "rotate_webhook_token": "accounts.keycrmaccount",
             "run_to_bas": "catalogue.cataloguesettings"}
    responses = {action: _act(client, label, action, objects[label].pk)
                 for action, label in lists.items()}
    for action, response in responses.items():
        _note(f"action {action} (POST)", role, response)

    looks = role != "staff"
    configures = role in {"configurator", "superuser"}
    record = InboundRecord.objects.get(pk=objects["staging.inboundrecord"].pk)
    message = OutboxMessage.objects.get(pk=objects["staging.outboxmessage"].pk)
    account.refresh_from_db()
    # Staff without a role see no list (403). Otherwise the admin redirects back to the list
    # after an action, run or refused ("No action selected"); a list that offers its caller
    # no action at all ignores the POST and shows itself (200).
    assert {a: r.status_code for a, r in responses.items()} == {
        action: 403 if not looks else 302 if expected_actions(role, label) else 200
        for action, label in lists.items()}
    assert record.state == (RecordState.QUEUED if looks else RecordState.WAITING)
    assert message.state == (OutboxState.QUEUED if looks else OutboxState.WAITING)
    assert (account.webhook_token != token) == configures
    assert Run.objects.filter(kind__startswith="catalogue").exists() == configures


def _custom_pages(objects: dict[str, Any]) -> dict[str, tuple[str, str, dict]]:
    account = objects["accounts.keycrmaccount"]
    connection = objects["accounts.basconnection"]
    profile = objects["mappings.documentprofile"]
    [cause] = failure_causes(scopes=("record",))
    return {
        "account check (POST)": (
            "post", reverse("admin:accounts_keycrmaccount_check", args=[account.pk]), {}),
        "connection check (POST)": (
            "post", reverse("admin:accounts_basconnection_check", args=[connection.pk]), {}),
        "run status": ("get", reverse("admin:runs_run_status", args=[objects["runs.run"].pk]),
                       {}),
        "bas-elements picker": ("get", reverse("mappings_bas_elements"),
                                {"account": account.pk, "set": COUNTERPARTIES}),
        "configuration export": (
            "get", reverse("admin:mappings_correspondence_configuration_export"), {}),
        "configuration import": (
            "get", reverse("admin:mappings_correspondence_configuration_import"), {}),
        "profile preview": (
            "get", reverse("admin:mappings_documentprofile_preview", args=[profile.pk]), {}),
        "profile fill (POST)": (
            "post", reverse("admin:mappings_documentprofile_fill", args=[profile.pk]), {}),
        "dashboard re-process (POST)": (
            "post", reverse("dashboard_cause_reprocess", args=[cause.key]), {}),
    }


# Per custom view: (status for staff, operator, configurator, superuser). A redirect (302)
# to a page the caller may not see is how several of them refuse; the effects below say
# what happened.
CUSTOM_EXPECTED = {
    "account check (POST)": (302, 302, 302, 302),
    "connection check (POST)": (302, 302, 302, 302),
    "run status": (403, 200, 200, 200),
    "bas-elements picker": (403, 403, 200, 200),
    "configuration export": (403, 200, 200, 200),
    "configuration import": (403, 403, 200, 200),
    "profile preview": (302, 302, 200, 200),
    "profile fill (POST)": (302, 302, 302, 302),
    "dashboard re-process (POST)": (403, 302, 302, 302),
}


@pytest.mark.parametrize("role", ROLES)
def test_every_custom_admin_view_follows_the_role(role, objects, bas):
    client = _client_as(role)
    pages = _custom_pages(objects)
    assert set(pages) == set(CUSTOM_EXPECTED)

    answers = {}
    for name, (method, url, data) in pages.items():
        response = getattr(client, method)(url, data)
        _note(name, role, response)
        answers[name] = response

    if role == "anonymous":
        assert {name: (r.status_code, r["Location"].split("?")[0])
                for name, r in answers.items()} == dict.fromkeys(pages, (302, LOGIN))
        return
    column = ROLES.index(role) - 1  # CUSTOM_EXPECTED has no column for anonymous callers
    expected = {name: statuses[column] for name, statuses in CUSTOM_EXPECTED.items()}
    assert {name: r.status_code for name, r in answers.items()} == expected
    configures = role in {"configurator", "superuser"}
    account = objects["accounts.keycrmaccount"]
    connection = objects["accounts.basconnection"]
    profile = objects["mappings.documentprofile"]
    account.refresh_from_db()
    connection.refresh_from_db()
    # A check ran (and stored its outcome) only for whoever may change the connection.
    assert (account.last_check_at is not None) == configures
    assert (connection.last_check_at is not None) == configures
    profile_page = reverse("admin:mappings_documentprofile_change", args=[profile.pk])
    profiles = reverse("admin:mappings_documentprofile_changelist")
    assert answers["profile fill (POST)"]["Location"] == (profile_page if configures
                                                          else profiles)
    assert answers["profile preview"].get("Location") == (None if configures else profiles)
    if role != "staff":
        assert answers["configuration export"]["Content-Disposition"].startswith("attachment")
        picked = answers["bas-elements picker"].json()
        if configures:
            assert "Олена Коваль" in str(picked["elements"]), picked
        else:
            assert picked == {"error": "You may not read BAS elements."}
    record = InboundRecord.objects.get(pk=objects["staging.inboundrecord"].pk)
    assert record.state == (RecordState.WAITING if role == "staff" else RecordState.QUEUED)
