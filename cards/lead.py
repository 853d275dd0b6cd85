"""The lead card: the deal, its people and its latest comments, with the actions the viewer
may take. What the viewer may do comes from the view (``can_change``), never from the card.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Final, Protocol
from urllib.parse import quote

from cards import verbs
from cards.elements import (
    BUDGET_BYTES,
    Card,
    Choice,
    Element,
    capped,
    card,
    card_size,
    choice_set,
    execute,
    heading,
    joined,
    measured,
    more_line,
    open_url,
    plain,
    shorten,
    show_card,
    text,
    text_input,
    toggle,
)
from cards.i18n import Translator
from domain.contacts import Contact
from domain.ids import UserId
from domain.services import LeadView
from domain.settings import Stage
from domain.users import User
from domain.validation import (
    EMAIL_MAX,
    NAME_MAX,
    REASON_MAX,
    SHORT_MAX,
    TAG_MAX,
    TAGS_MAX,
    TEXT_MAX,
    TITLE_MAX,
)

REFRESH_USERS_MAX: Final = 60  # Teams refreshes a card automatically for at most 60 users
MAILTO_MAX: Final = 2000  # longer mailto links are cut by some mail clients
# The most of the card's 28 KB the details form may spend carrying the description (as the
# budget measures it, non-ASCII escaped: 4,000 accented or CJK characters take 24 KB).
FORM_TEXT_BYTES: Final = 8 * 1024
TAGS_INPUT_MAX: Final = TAGS_MAX * (TAG_MAX + 2)  # every tag and its ", "


@dataclass(frozen=True, slots=True, kw_only=True)
class LeadCardLimits:
    """How much of each list the card shows; halved until the card fits the size budget."""

    participants: int = 10
    followers: int = 15
    choices: int = 25
    comment_chars: int = 600
    cc: int = 20

    def halved(self) -> LeadCardLimits:
        return LeadCardLimits(
            participants=max(self.participants // 2, 1),
            followers=max(self.followers // 2, 1),
            choices=max(self.choices // 2, 1),
            comment_chars=max(self.comment_chars // 2, 80),
            cc=max(self.cc // 2, 1),
        )


class Pickable(Protocol):
    """Anything offered in a contact picker: a Contact, or a contact summary from a query."""

    @property
    def id(self) -> str: ...
    @property
    def name(self) -> str: ...


class Colleague(Protocol):
    """Anything offered in the colleague picker: a User, or a user summary from a query."""

    @property
    def id(self) -> str: ...
    @property
    def display_name(self) -> str: ...


def tags_input(t: Translator, tags: frozenset[str]) -> Element:
    """Tags in one box, comma-separated, as a details form shows and reads them."""
    value = ", ".join(sorted(tags)) or None
    return text_input(verbs.IN_TAGS, t.t("input.tags"), max_length=TAGS_INPUT_MAX, value=value)


def colleague_inputs(
    t: Translator,
    colleagues: Sequence[Colleague],
    *,
    already: set[str],
    picked_id: str,
    email_id: str,
    limit: int,
) -> list[Element]:
    """Pick a colleague not ``already`` in, or type the email of one the picker doesn't list
    (it shows the first ``limit`` by name)."""
    others = [user for user in colleagues if user.id not in already][:limit]
    body: list[Element] = []
    if others:
        choices = [Choice(value=user.id, title=user.display_name) for user in others]
        body.append(choice_set(picked_id, t.t("input.colleague"), choices))
    email = t.t("input.colleague_email")
    body.append(text_input(email_id, email, max_length=EMAIL_MAX, style="email"))
    return body


def teams_user_id(user_id: UserId) -> str:
    """The Teams user MRI for an Entra object id, as ``refresh.userIds`` expects."""
    return f"8:orgid:{user_id}"


def stage_label(t: Translator, stage: Stage) -> str:
    return t.t("stage.with_probability", stage=t.stage(stage), probability=stage.probability)


def mailto_link(
    to: str | None, cc: Sequence[str], subject: str, *, max_length: int = MAILTO_MAX
) -> str | None:
    """A mail-compose link (RFC 6068): addresses and subject percent-encoded, so a "&" or "?"
    in a title cannot end the subject early. Cc addresses that would make the link too long
    for mail clients are left out rather than cutting one in half."""
    if not to and not cc:
        return None
    head = "mailto:" + (quote(to, safe="@") if to else "")
    subject_part = ["subject=" + quote(subject, safe="")] if subject else []
    addresses = [quote(address, safe="@") for address in dict.fromkeys(cc) if address != to]
    while True:
        fields = ([f"cc={','.join(addresses)}"] if addresses else []) + subject_part
        link = f"{head}?{'&'.join(fields)}" if fields else head
        if len(link) <= max_length or not addresses:
            return link
        addresses.pop()


def _person_line(t: Translator, contact: Contact, role: str | None = None) -> str:
    name = t.t("participant.role", name=contact.name, role=role) if role else contact.name
    details = [part for part in (contact.job_title, contact.email) if part]
    return " · ".join([name, *details])


def _facts(view: LeadView, t: Translator) -> list[Element]:
    lead = view.lead
    facts = [plain(view.account.name, label=t.label("label.account"))] if view.account else []
    facts.append(plain(stage_label(t, view.stage), label=t.label("label.stage")))
    facts.append(plain(t.lead_status(lead.status), label=t.label("label.status")))
    if lead.lost_reason:
        facts.append(plain(lead.lost_reason, label=t.label("label.lost_reason")))
    if lead.amount is not None:
        facts.append(
            plain(t.format_amount(lead.amount, lead.currency), label=t.label("label.amount"))
        )
    if lead.close_date is not None:
        facts.append(plain(t.format_date(lead.close_date), label=t.label("label.close_date")))
    if view.owner is not None:
        facts.append(plain(view.owner.display_name, label=t.label("label.owner")))
    if lead.tags:
        facts.append(plain(", ".join(sorted(lead.tags)), label=t.label("label.tags")))
    for element in facts:
        element["spacing"] = "none"
    return facts


def _people(view: LeadView, t: Translator, limits: LeadCardLimits) -> list[Element]:
    body = [heading(t.t("label.contact"))]
    if view.contact is not None:
        body.append(plain(_person_line(t, view.contact)))
    else:
        body.append(text(t.t("lead.no_contact"), subtle=True))
    if view.participants:
        body.append(heading(t.t("label.participants")))
        shown, hidden = capped(view.participants, limits.participants)
        body += [plain(_person_line(t, contact, role), spacing="none") for contact, role in shown]
        body += more_line(t, hidden)
    if view.followers:
        body.append(heading(t.t("label.followers")))
        names = [user.display_name for user in view.followers]
        body.append(plain(joined(t, names, limits.followers)))
    return body


def _comments(
    view: LeadView, t: Translator, authors: Mapping[str, User], limits: LeadCardLimits
) -> list[Element]:
    body = [heading(t.t("label.comments"))]
    if not view.latest_comments:
        return [*body, text(t.t("lead.no_comments"), subtle=True)]
    for comment in view.latest_comments:
        author = authors.get(comment.author_id)
        meta = t.t(
            "comment.meta",
            author=author.display_name if author else t.t("user.unknown"),
            time=t.format_datetime(comment.created_at),
        )
        body.append(plain(meta, subtle=True, spacing="small"))
        body.append(plain(shorten(comment.text, limits.comment_chars), spacing="none"))
    return body


def _lead_data(view: LeadView) -> dict[str, str | int]:
    return {verbs.LEAD_ID: view.lead.id, verbs.VERSION: view.lead.version}


def _stage_action(view: LeadView, t: Translator) -> Element:
    choices = [
        Choice(value=stage.id, title=stage_label(t, stage)) for stage in view.pipeline.stages
    ]
    body = [
        choice_set(
            verbs.IN_STAGE_ID,
            t.t("input.stage"),
            choices,
            value=view.stage.id,
            required=True,
            error=t.t("input.required"),
        )
    ]
    move = execute(t.t("action.move"), verbs.LEAD_CHANGE_STAGE, _lead_data(view))
    return show_card(t.t("action.change_stage"), body, [move])


def _close_action(view: LeadView, t: Translator) -> Element:
    data = _lead_data(view)
    body = [text_input(verbs.IN_REASON, t.t("input.reason"), max_length=REASON_MAX)]
    actions = [
        execute(t.t("action.win"), verbs.LEAD_WIN, data, inputs=False, style="positive"),
        execute(t.t("action.lose"), verbs.LEAD_LOSE, data, style="destructive"),
        execute(t.t("action.disqualify"), verbs.LEAD_DISQUALIFY, data),
    ]
    return show_card(t.t("action.close"), body, actions)


def _people_action(
    view: LeadView,
    t: Translator,
    account_contacts: Sequence[Pickable],
    colleagues: Sequence[Colleague],
    limits: LeadCardLimits,
) -> Element:
    data = _lead_data(view)
    required = t.t("input.required")
    on_lead = {contact.id for contact, _role in view.participants}
    if view.contact is not None:
        on_lead.add(view.contact.id)
    sections: list[Element] = []

    candidates = [contact for contact in account_contacts if contact.id not in on_lead]
    if candidates:
        choices = [Choice(value=c.id, title=c.name) for c in candidates[: limits.choices]]
        body = [
            choice_set(
                verbs.IN_PARTICIPANT_ID,
                t.t("input.existing_contact"),
                choices,
                required=True,
                error=required,
            ),
            text_input(verbs.IN_PARTICIPANT_ROLE, t.t("input.role"), max_length=SHORT_MAX),
        ]
        add = execute(t.t("action.add"), verbs.LEAD_ADD_PARTICIPANT, data)
        sections.append(show_card(t.t("action.add_participant"), body, [add]))

    new_person = [
        text_input(
            verbs.IN_NEW_NAME, t.t("input.name"), max_length=NAME_MAX, required=True, error=required
        ),
        text_input(verbs.IN_NEW_EMAIL, t.t("input.email"), max_length=EMAIL_MAX, style="email"),
        text_input(verbs.IN_NEW_ROLE, t.t("input.role"), max_length=SHORT_MAX),
    ]
    add_new = execute(t.t("action.add"), verbs.LEAD_ADD_NEW_PARTICIPANT, data)
    sections.append(show_card(t.t("action.add_new_participant"), new_person, [add_new]))

    if view.participants:
        shown = view.participants[: limits.choices]
        choices = [Choice(value=contact.id, title=contact.name) for contact, _role in shown]
        body = [
            choice_set(
                verbs.IN_REMOVE_CONTACT_ID,
                t.t("input.participant_to_remove"),
                choices,
                required=True,
                error=required,
            )
        ]
        remove = execute(
            t.t("action.remove"), verbs.LEAD_REMOVE_PARTICIPANT, data, style="destructive"
        )
        sections.append(show_card(t.t("action.remove_participant"), body, [remove]))

    primaries: list[Pickable] = [contact for contact, _role in view.participants]
    primaries += candidates
    if primaries:
        choices = [Choice(value=c.id, title=c.name) for c in primaries[: limits.choices]]
        body = [
            choice_set(
                verbs.IN_PRIMARY_CONTACT_ID,
                t.t("input.new_primary"),
                choices,
                required=True,
                error=required,
            )
        ]
        if view.contact is not None:
            body.append(toggle(verbs.IN_KEEP_PREVIOUS, t.t("input.keep_previous")))
        save = execute(t.t("action.save"), verbs.LEAD_SET_PRIMARY_CONTACT, data)
        sections.append(show_card(t.t("action.set_primary_contact"), body, [save]))

    body = colleague_inputs(
        t,
        colleagues,
        already={user.id for user in view.followers},
        picked_id=verbs.IN_FOLLOWER_USER_ID,
        email_id=verbs.IN_FOLLOWER_EMAIL,
        limit=limits.choices,
    )
    add_follower = execute(t.t("action.add"), verbs.LEAD_ADD_FOLLOWER, data)
    sections.append(show_card(t.t("action.add_follower"), body, [add_follower]))
    return show_card(t.t("action.people"), [], sections)


def _comment_action(view: LeadView, t: Translator) -> Element:
    body = [
        text_input(
            verbs.IN_COMMENT,
            t.t("input.comment"),
            max_length=TEXT_MAX,
            multiline=True,
            required=True,
            error=t.t("input.required"),
        )
    ]
    post = execute(t.t("action.post"), verbs.LEAD_COMMENT, _lead_data(view))
    return show_card(t.t("action.comment"), body, [post])


def _email_link(view: LeadView, limits: LeadCardLimits) -> str | None:
    to = view.contact.email if view.contact else None
    cc = [contact.email for contact, _role in view.participants if contact.email]
    return mailto_link(to, cc[: limits.cc], view.lead.title)


def _remind_action(view: LeadView, t: Translator) -> Element:
    """A reminder for myself: a day, a time (in my time zone) and what to do."""
    required = t.t("input.required")
    body: list[Element] = [
        {
            "type": "Input.Date",
            "id": verbs.IN_REMINDER_DATE,
            "label": t.t("input.reminder_date"),
            "isRequired": True,
            "errorMessage": required,
        },
        {
            "type": "Input.Time",
            "id": verbs.IN_REMINDER_TIME,
            "label": t.t("input.reminder_time"),
            "value": "09:00",
        },
        text_input(
            verbs.IN_REMINDER_TEXT,
            t.t("input.reminder_text"),
            max_length=REASON_MAX,
            required=True,
            error=required,
        ),
    ]
    save = execute(t.t("action.save"), verbs.LEAD_REMIND, _lead_data(view))
    return show_card(t.t("action.remind_me"), body, [save])


def _edit_action(view: LeadView, t: Translator) -> Element:
    """The deal's own details, filled in with what they are now: a field left blank clears
    it (the title excepted), so the form says what the lead will hold once saved."""
    lead = view.lead
    body: list[Element] = [
        text_input(
            verbs.IN_EDIT_TITLE,
            t.t("input.title"),
            max_length=TITLE_MAX,
            value=lead.title,
            required=True,
            error=t.t("input.required"),
        ),
        text_input(
            verbs.IN_AMOUNT,
            t.t("input.amount"),
            max_length=SHORT_MAX,
            value=t.format_number(lead.amount) if lead.amount is not None else None,
            placeholder=t.format_number(Decimal("1234.5")),
        ),
        text_input(verbs.IN_CURRENCY, t.t("input.currency"), max_length=3, value=lead.currency),
        {
            "type": "Input.Date",
            "id": verbs.IN_CLOSE_DATE,
            "label": t.t("input.close_date"),
            **({"value": lead.close_date.isoformat()} if lead.close_date else {}),
        },
        tags_input(t, lead.tags),
    ]
    description = lead.description or ""
    # Escaped, a character takes at most 6 bytes: most descriptions need no measuring.
    if len(description) * 6 <= FORM_TEXT_BYTES or len(json.dumps(description)) <= FORM_TEXT_BYTES:
        body.append(
            text_input(
                verbs.IN_DESCRIPTION,
                t.t("input.description"),
                max_length=TEXT_MAX,
                value=description,
                multiline=True,
            )
        )
    else:
        # Without its input, saving leaves the description as it is.
        body.append(text(t.t("lead.description_too_long"), subtle=True))
    save = execute(t.t("action.save"), verbs.LEAD_EDIT, _lead_data(view))
    return show_card(t.t("action.edit"), body, [save])


def _more_action(view: LeadView, t: Translator, limits: LeadCardLimits) -> Element:
    actions: list[Element] = []
    if view.can_change:
        actions.append(_edit_action(view, t))
        body = [
            text_input(
                verbs.IN_DUPLICATE_TITLE,
                t.t("input.duplicate_title"),
                max_length=TITLE_MAX,
                value=view.lead.title,
            )
        ]
        duplicate = execute(t.t("action.duplicate"), verbs.LEAD_DUPLICATE, _lead_data(view))
        actions.append(show_card(t.t("action.duplicate"), body, [duplicate]))
        actions.append(_remind_action(view, t))
    link = _email_link(view, limits)
    if link:
        actions.append(open_url(t.t("action.email"), link))
    actions.append(
        execute(
            t.t("action.refresh"), verbs.LEAD_REFRESH, {verbs.LEAD_ID: view.lead.id}, inputs=False
        )
    )
    return show_card(t.t("action.more"), [], actions)


def _actions(
    view: LeadView,
    t: Translator,
    account_contacts: Sequence[Pickable],
    colleagues: Sequence[Colleague],
    limits: LeadCardLimits,
) -> list[Element]:
    """At most six top-level buttons (what Teams shows); the rest sit behind "More"."""
    data = _lead_data(view)
    actions: list[Element] = []
    if view.can_change:
        if view.lead.is_open:
            actions += [_stage_action(view, t), _close_action(view, t)]
        else:
            actions.append(execute(t.t("action.reopen"), verbs.LEAD_REOPEN, data, inputs=False))
        actions.append(_people_action(view, t, account_contacts, colleagues, limits))
    if view.viewer_follows:
        actions.append(execute(t.t("action.unfollow"), verbs.LEAD_UNFOLLOW, data, inputs=False))
    else:
        actions.append(execute(t.t("action.follow"), verbs.LEAD_FOLLOW, data, inputs=False))
    actions.append(_comment_action(view, t))
    actions.append(_more_action(view, t, limits))
    return actions


def _refresh(view: LeadView, t: Translator, user_ids: Sequence[str] | None) -> Element:
    if user_ids is None:
        people = [view.lead.owner_id, *(user.id for user in view.followers)]
        user_ids = [teams_user_id(uid) for uid in people]
    unique = list(dict.fromkeys(user_ids))[:REFRESH_USERS_MAX]
    action = execute(
        t.t("action.refresh"), verbs.LEAD_REFRESH, {verbs.LEAD_ID: view.lead.id}, inputs=False
    )
    return {"type": "Refresh", "action": action, "userIds": unique}


def _build(
    view: LeadView,
    t: Translator,
    *,
    account_contacts: Sequence[Pickable],
    colleagues: Sequence[Colleague],
    authors: Mapping[str, User],
    refresh_user_ids: Sequence[str] | None,
    limits: LeadCardLimits,
) -> Card:
    lead = view.lead
    body: list[Element] = [
        text(t.t("lead.heading", number=lead.number), subtle=True, spacing="none"),
        plain(lead.title, size="large", weight="bolder", spacing="none"),
        *_facts(view, t),
    ]
    if lead.description:
        body.append(plain(shorten(lead.description, limits.comment_chars), spacing="small"))
    if not lead.is_open and view.can_change:
        body.append(text(t.t("lead.closed_hint"), subtle=True))
    body += _people(view, t, limits)
    body += _comments(view, t, authors, limits)
    if not view.can_change:
        body.append(text(t.t("lead.read_only"), subtle=True, separator=True))
    return card(
        t,
        body,
        _actions(view, t, account_contacts, colleagues, limits),
        fallback_text=f"{t.t('lead.heading', number=lead.number)}: {lead.title}",
        refresh=_refresh(view, t, refresh_user_ids),
    )


def lead_card(
    view: LeadView,
    t: Translator,
    *,
    account_contacts: Sequence[Pickable] = (),
    colleagues: Sequence[Colleague] = (),
    authors: Mapping[str, User] | None = None,
    refresh_user_ids: Sequence[str] | None = None,
    limits: LeadCardLimits | None = None,
) -> Card:
    """The lead as one viewer sees it.

    ``account_contacts`` feed the "add a participant" and "change the Contact" pickers,
    ``colleagues`` the "add a follower" picker (the bot passes the people worth proposing:
    Adaptive Cards 1.5 has no schema-valid typeahead, so the picker is static and an email
    field covers anyone else). ``authors`` resolves comment authors who are no longer
    followers. ``refresh_user_ids`` are Teams user ids (MRIs) to refresh the card for
    automatically; by default the owner and followers, as ``8:orgid:<object id>``.
    The lists are cut to ``limits`` and cut further until the card fits the 28 KB budget.
    """
    known: dict[str, User] = {user.id: user for user in view.followers}
    if view.owner is not None:
        known[view.owner.id] = view.owner
    known.update(authors or {})
    current = limits or LeadCardLimits()
    while True:
        result = measured(
            _build(
                view,
                t,
                account_contacts=account_contacts,
                colleagues=colleagues,
                authors=known,
                refresh_user_ids=refresh_user_ids,
                limits=current,
            )
        )
        smaller = current.halved()
        if card_size(result) <= BUDGET_BYTES or smaller == current:
            return result
        current = smaller


__all__ = [
    "REFRESH_USERS_MAX",
    "LeadCardLimits",
    "lead_card",
    "mailto_link",
    "stage_label",
    "teams_user_id",
]
