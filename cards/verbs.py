"""The contract between the cards and the bot: every Action.Execute verb and the keys its data
carries, so neither side spells a verb or an input id by hand.

Every action sends ``data`` = the fixed keys below (ids and the aggregate ``version``, never
display text) merged by Teams with the values of the inputs it gathers. The ``Action.Submit``
fallback sends the same object with the verb under ``"verb"``.
"""

from __future__ import annotations

from typing import Final

# --- data keys every verb may carry ---------------------------------------------------------
VERB: Final = "verb"
LEAD_ID: Final = "lead_id"
ACCOUNT_ID: Final = "account_id"
CONTACT_ID: Final = "contact_id"
PIPELINE_ID: Final = "pipeline_id"
VERSION: Final = "version"
QUERY: Final = "query"
CURSOR: Final = "cursor"

# --- input ids (unique inside one card, because Teams gathers inputs by id) -----------------
IN_STAGE_ID: Final = "stage_id"
IN_REASON: Final = "reason"
IN_PARTICIPANT_ID: Final = "participant_contact_id"
IN_PARTICIPANT_ROLE: Final = "participant_role"
IN_NEW_NAME: Final = "new_contact_name"
IN_NEW_EMAIL: Final = "new_contact_email"
IN_NEW_ROLE: Final = "new_contact_role"
IN_REMOVE_CONTACT_ID: Final = "remove_contact_id"
IN_PRIMARY_CONTACT_ID: Final = "primary_contact_id"
IN_KEEP_PREVIOUS: Final = "keep_previous"  # "true" / "false"
IN_FOLLOWER_USER_ID: Final = "follower_user_id"
IN_FOLLOWER_EMAIL: Final = "follower_email"
IN_COMMENT: Final = "comment_text"
IN_DUPLICATE_TITLE: Final = "duplicate_title"
IN_LEAD_TITLE: Final = "lead_title"
IN_CLASSIFICATION: Final = "classification"
IN_OTHER_ACCOUNT_ID: Final = "other_account_id"
IN_RELATIONSHIP_REASON: Final = "relationship_reason"
IN_CONTACT_NAME: Final = "contact_name"
IN_CONTACT_EMAIL: Final = "contact_email"
IN_CONTACT_JOB_TITLE: Final = "contact_job_title"
IN_PROSPECT_STATUS: Final = "prospect_status"
IN_CUSTOMER_STATUS: Final = "customer_status"
IN_QUERY: Final = "query_text"
IN_KIND_PREFIX: Final = "kind_"  # one toggle per notification kind: kind_stage, kind_status...
IN_MUTE_ALL: Final = "mute_all"
IN_MUTE_LEAD: Final = "mute_lead"
IN_REMINDER_DATE: Final = "reminder_date"
IN_REMINDER_TIME: Final = "reminder_time"
IN_REMINDER_TEXT: Final = "reminder_text"
IN_EDIT_TITLE: Final = "edit_title"
IN_AMOUNT: Final = "amount"
IN_CURRENCY: Final = "currency"
IN_CLOSE_DATE: Final = "close_date"
IN_TAGS: Final = "tags"
IN_DESCRIPTION: Final = "description"
IN_ACCOUNT_NAME: Final = "account_name"
IN_CHARACTERISTICS: Final = "characteristics"
IN_INTERESTS: Final = "interests"
IN_DISINTERESTS: Final = "disinterests"
IN_RESPONSIBLE_USER_ID: Final = "responsible_user_id"
IN_RESPONSIBLE_EMAIL: Final = "responsible_email"
IN_REMOVE_RESPONSIBLE_ID: Final = "remove_responsible_id"
IN_DOCUMENT_TITLE: Final = "document_title"
IN_DOCUMENT_URL: Final = "document_url"
IN_REMOVE_DOCUMENT_ID: Final = "remove_document_id"

# --- verbs ----------------------------------------------------------------------------------
HELP: Final = "help"
MY_LEADS: Final = "my_leads"
PIPELINE: Final = "pipeline"
FIND: Final = "find"

LEAD_CREATE: Final = "lead.create"
LEAD_SHOW: Final = "lead.show"
LEAD_REFRESH: Final = "lead.refresh"
LEAD_CHANGE_STAGE: Final = "lead.change_stage"
LEAD_WIN: Final = "lead.win"
LEAD_LOSE: Final = "lead.lose"
LEAD_DISQUALIFY: Final = "lead.disqualify"
LEAD_REOPEN: Final = "lead.reopen"
LEAD_ADD_PARTICIPANT: Final = "lead.add_participant"
LEAD_ADD_NEW_PARTICIPANT: Final = "lead.add_new_participant"
LEAD_REMOVE_PARTICIPANT: Final = "lead.remove_participant"
LEAD_SET_PRIMARY_CONTACT: Final = "lead.set_primary_contact"
LEAD_FOLLOW: Final = "lead.follow"
LEAD_UNFOLLOW: Final = "lead.unfollow"
LEAD_ADD_FOLLOWER: Final = "lead.add_follower"
LEAD_COMMENT: Final = "lead.comment"
LEAD_DUPLICATE: Final = "lead.duplicate"
LEAD_REMIND: Final = "lead.remind"
LEAD_EDIT: Final = "lead.edit"

ACCOUNT_SHOW: Final = "account.show"
ACCOUNT_CLASSIFY: Final = "account.classify"
ACCOUNT_ADD_RELATIONSHIP: Final = "account.add_relationship"
ACCOUNT_ADD_CONTACT: Final = "account.add_contact"
ACCOUNT_NEW_LEAD: Final = "account.new_lead"
ACCOUNT_EDIT: Final = "account.edit"
ACCOUNT_ADD_RESPONSIBLE: Final = "account.add_responsible"
ACCOUNT_REMOVE_RESPONSIBLE: Final = "account.remove_responsible"
ACCOUNT_ADD_DOCUMENT: Final = "account.add_document"
ACCOUNT_REMOVE_DOCUMENT: Final = "account.remove_document"

CONTACT_SHOW: Final = "contact.show"
CONTACT_SET_STATUS: Final = "contact.set_status"

NOTIFY_SETTINGS: Final = "notify.settings"
NOTIFY_SAVE_DEFAULTS: Final = "notify.save_defaults"
NOTIFY_LEAD: Final = "notify.lead"
NOTIFY_SAVE_LEAD: Final = "notify.save_lead"

_KINDS = tuple(
    f"{IN_KIND_PREFIX}{kind}" for kind in ("stage", "status", "comment", "people", "amount_date")
)
_LEAD = (LEAD_ID, VERSION)
_ACCOUNT = (ACCOUNT_ID, VERSION)
_CONTACT = (CONTACT_ID, VERSION)

# Verb -> (fixed data keys, input ids it may gather). Optional inputs may be absent or "".
# Tests hold every card to this table; the bot can use it to read an action.
CONTRACT: Final[dict[str, tuple[tuple[str, ...], tuple[str, ...]]]] = {
    HELP: ((), ()),
    MY_LEADS: ((), ()),  # optional CURSOR in data
    PIPELINE: ((), ()),  # optional PIPELINE_ID in data
    FIND: ((), (IN_QUERY,)),  # optional QUERY and CURSOR in data (next page)
    LEAD_CREATE: ((), (IN_LEAD_TITLE,)),
    LEAD_SHOW: ((LEAD_ID,), ()),
    LEAD_REFRESH: ((LEAD_ID,), ()),
    LEAD_CHANGE_STAGE: (_LEAD, (IN_STAGE_ID,)),
    LEAD_WIN: (_LEAD, ()),
    LEAD_LOSE: (_LEAD, (IN_REASON,)),
    LEAD_DISQUALIFY: (_LEAD, (IN_REASON,)),
    LEAD_REOPEN: (_LEAD, ()),
    LEAD_ADD_PARTICIPANT: (_LEAD, (IN_PARTICIPANT_ID, IN_PARTICIPANT_ROLE)),
    LEAD_ADD_NEW_PARTICIPANT: (_LEAD, (IN_NEW_NAME, IN_NEW_EMAIL, IN_NEW_ROLE)),
    LEAD_REMOVE_PARTICIPANT: (_LEAD, (IN_REMOVE_CONTACT_ID,)),
    LEAD_SET_PRIMARY_CONTACT: (_LEAD, (IN_PRIMARY_CONTACT_ID, IN_KEEP_PREVIOUS)),
    LEAD_FOLLOW: (_LEAD, ()),
    LEAD_UNFOLLOW: (_LEAD, ()),
    LEAD_ADD_FOLLOWER: (_LEAD, (IN_FOLLOWER_USER_ID, IN_FOLLOWER_EMAIL)),
    LEAD_COMMENT: (_LEAD, (IN_COMMENT,)),
    LEAD_DUPLICATE: (_LEAD, (IN_DUPLICATE_TITLE,)),
    LEAD_REMIND: (_LEAD, (IN_REMINDER_DATE, IN_REMINDER_TIME, IN_REMINDER_TEXT)),
    LEAD_EDIT: (
        _LEAD,
        (IN_EDIT_TITLE, IN_AMOUNT, IN_CURRENCY, IN_CLOSE_DATE, IN_TAGS, IN_DESCRIPTION),
    ),
    ACCOUNT_SHOW: ((ACCOUNT_ID,), ()),
    ACCOUNT_CLASSIFY: (_ACCOUNT, (IN_CLASSIFICATION,)),
    ACCOUNT_ADD_RESPONSIBLE: (_ACCOUNT, (IN_RESPONSIBLE_USER_ID, IN_RESPONSIBLE_EMAIL)),
    ACCOUNT_REMOVE_RESPONSIBLE: (_ACCOUNT, (IN_REMOVE_RESPONSIBLE_ID,)),
    ACCOUNT_ADD_DOCUMENT: (_ACCOUNT, (IN_DOCUMENT_TITLE, IN_DOCUMENT_URL)),
    ACCOUNT_REMOVE_DOCUMENT: (_ACCOUNT, (IN_REMOVE_DOCUMENT_ID,)),
    ACCOUNT_EDIT: (
        _ACCOUNT,
        (IN_ACCOUNT_NAME, IN_TAGS, IN_CHARACTERISTICS, IN_INTERESTS, IN_DISINTERESTS),
    ),
    ACCOUNT_ADD_RELATIONSHIP: (_ACCOUNT, (IN_OTHER_ACCOUNT_ID, IN_RELATIONSHIP_REASON)),
    ACCOUNT_ADD_CONTACT: (_ACCOUNT, (IN_CONTACT_NAME, IN_CONTACT_EMAIL, IN_CONTACT_JOB_TITLE)),
    ACCOUNT_NEW_LEAD: ((ACCOUNT_ID,), (IN_LEAD_TITLE,)),
    CONTACT_SHOW: ((CONTACT_ID,), ()),
    CONTACT_SET_STATUS: (_CONTACT, (IN_PROSPECT_STATUS, IN_CUSTOMER_STATUS)),
    NOTIFY_SETTINGS: ((), ()),
    NOTIFY_SAVE_DEFAULTS: ((), (*_KINDS, IN_MUTE_ALL)),
    NOTIFY_LEAD: ((LEAD_ID,), ()),
    NOTIFY_SAVE_LEAD: ((LEAD_ID,), (*_KINDS, IN_MUTE_LEAD)),
}

ALL_VERBS: Final = frozenset(CONTRACT)

# Verbs that only show something: pressing one twice (a redelivery) does no harm, so the bot
# does not spend a database write making sure it runs once.
READ_ONLY: Final = frozenset(
    {
        HELP,
        MY_LEADS,
        PIPELINE,
        FIND,
        LEAD_SHOW,
        LEAD_REFRESH,
        ACCOUNT_SHOW,
        CONTACT_SHOW,
        NOTIFY_SETTINGS,
        NOTIFY_LEAD,
    }
)
