"""Property tests: random deal histories against a small independent model of the rules.

The model below restates the product rules in the plainest way (who has which leads, what just
happened); the CRM must agree with it after every step, refusals included.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from hypothesis import example, given, settings
from hypothesis import strategies as st

from domain.errors import DomainError
from domain.events import LeadStageChanged
from domain.ids import LeadId
from domain.services import CRM
from domain.statuses import CustomerStatus, ProspectStatus
from tests.domain.fakes import FakeClock, FakeDatabase
from tests.domain.people import ADMIN, TENANT

OPEN, WON, LOST, UNQUALIFIED = "open", "won", "lost", "unqualified"
CURRENT, PAST, NONE = "current", "past", "none"

# Four people: two at account 0, one at account 1, one freelancer without an account.
EMPLOYER: tuple[int | None, ...] = (0, 0, 1, None)
MAX_LEADS = 6


@dataclass
class ModelLead:
    status: str
    contact: int | None


@dataclass
class Model:
    """The rules, written as plainly as possible, independent of domain/statuses.py."""

    leads: list[ModelLead] = field(default_factory=list)
    contact: dict[int, tuple[str, str]] = field(
        default_factory=lambda: dict.fromkeys(range(len(EMPLOYER)), (NONE, NONE))
    )
    account: dict[int, tuple[str, str]] = field(
        default_factory=lambda: {0: (NONE, NONE), 1: (NONE, NONE)}
    )

    def _leads_of(self, people: set[int]) -> list[str]:
        return [lead.status for lead in self.leads if lead.contact in people]

    @staticmethod
    def _follow(previous: tuple[str, str], leads: list[str], just_won: bool) -> tuple[str, str]:
        if not leads:
            return (NONE, NONE)
        if OPEN in leads:
            prospect = CURRENT
        elif WON in leads:
            prospect = NONE
        else:
            prospect = "lost"
        customer = CURRENT if just_won else previous[1]
        return (prospect, customer)

    def touch(self, people: set[int | None], won_by: int | None = None) -> None:
        """Some leads of these people changed; ``won_by`` has just become the winner of one."""
        touched = {p for p in people if p is not None}
        for person in touched:
            self.contact[person] = self._follow(
                self.contact[person], self._leads_of({person}), person == won_by
            )
        for account in {e for e in (EMPLOYER[p] for p in touched) if e is not None}:
            staff = {p for p, employer in enumerate(EMPLOYER) if employer == account}
            self.account[account] = self._follow(
                self.account[account], self._leads_of(staff), won_by in staff
            )

    def refuses_manual(self, leads: list[str], prospect: str | None) -> bool:
        if prospect is None:
            return False
        if OPEN in leads and prospect in {NONE, "lost"}:
            return True
        return WON in leads and prospect == "lost"


@dataclass(frozen=True, slots=True)
class CreateLead:
    person: int


@dataclass(frozen=True, slots=True)
class MoveStatus:
    action: str  # win, lose, disqualify or reopen
    pick: int


@dataclass(frozen=True, slots=True)
class ChangePrimary:
    pick: int
    shift: int | None  # None: no Contact; 0: the same Contact again; else the next people
    keep_previous: bool


@dataclass(frozen=True, slots=True)
class SetStatuses:
    of_account: bool
    index: int
    prospect: ProspectStatus | None
    customer: CustomerStatus | None


Step = CreateLead | MoveStatus | ChangePrimary | SetStatuses

people = st.integers(0, len(EMPLOYER) - 1)
lead_picks = st.integers(0, MAX_LEADS - 1)
prospects = st.sampled_from([None, *ProspectStatus])
customers = st.sampled_from([None, *CustomerStatus])
steps: st.SearchStrategy[Step] = st.one_of(
    st.builds(CreateLead, people),
    st.builds(MoveStatus, st.sampled_from(["win", "lose", "disqualify", "reopen"]), lead_picks),
    st.builds(ChangePrimary, lead_picks, st.one_of(st.none(), people), st.booleans()),
    st.builds(SetStatuses, st.just(False), people, prospects, customers),
    st.builds(SetStatuses, st.just(True), st.integers(0, 1), prospects, customers),
)


def _attempt(database: FakeDatabase, call: Callable[[], object]) -> DomainError | None:
    """Run a use case and hand back its refusal, if any; a refusal must leave no event."""
    before = len(database.events)
    try:
        call()
    except DomainError as refused:
        assert database.events[before:] == []
        return refused
    return None


def _move_status(crm: CRM, action: str, lead_id: LeadId) -> None:
    if action == "win":
        crm.win_lead(TENANT, ADMIN, lead_id)
    elif action == "lose":
        crm.lose_lead(TENANT, ADMIN, lead_id, "Lost to a competitor")
    elif action == "disqualify":
        crm.disqualify_lead(TENANT, ADMIN, lead_id)
    else:
        crm.reopen_lead(TENANT, ADMIN, lead_id)


NEW_STATUS = {"win": WON, "lose": LOST, "disqualify": UNQUALIFIED, "reopen": OPEN}


class Simulation:
    """The CRM and the model side by side, fed the same steps."""

    def __init__(self) -> None:
        self.database = FakeDatabase()
        self.crm = CRM(self.database.uow, FakeClock())
        self.crm.register_user(TENANT, ADMIN, display_name="Ada")
        self.accounts = [
            self.crm.create_account(TENANT, ADMIN, name=f"Account {i}").id for i in range(2)
        ]
        self.contacts = [
            self.crm.create_contact(
                TENANT,
                ADMIN,
                name=f"Person {i}",
                account_id=None if employer is None else self.accounts[employer],
            ).id
            for i, employer in enumerate(EMPLOYER)
        ]
        self.leads: list[LeadId] = []
        self.model = Model()

    def statuses(self) -> tuple[dict[int, tuple[str, str]], dict[int, tuple[str, str]]]:
        """The committed statuses, read straight from the fake database."""
        store = self.database.store(TENANT)
        contacts = {
            i: (
                store.contacts[cid].prospect_status.value,
                store.contacts[cid].customer_status.value,
            )
            for i, cid in enumerate(self.contacts)
        }
        accounts = {
            i: (
                store.accounts[aid].prospect_status.value,
                store.accounts[aid].customer_status.value,
            )
            for i, aid in enumerate(self.accounts)
        }
        return contacts, accounts

    def _lead_index(self, pick: int) -> int:
        """Counted from the newest lead, so short histories keep working the same deal."""
        return len(self.leads) - 1 - pick % len(self.leads)

    def apply(self, step: Step) -> None:
        if isinstance(step, CreateLead):
            self.create_lead(step)
        elif isinstance(step, MoveStatus):
            self.move_status(step)
        elif isinstance(step, ChangePrimary):
            self.change_primary(step)
        else:
            self.set_statuses(step)

    def create_lead(self, step: CreateLead) -> None:
        if len(self.leads) >= MAX_LEADS:
            return
        lead = self.crm.create_lead(
            TENANT, ADMIN, title="Deal", contact_id=self.contacts[step.person]
        )
        self.leads.append(lead.id)
        self.model.leads.append(ModelLead(status=OPEN, contact=step.person))
        self.model.touch({step.person})

    def move_status(self, step: MoveStatus) -> None:
        if not self.leads:
            return
        index = self._lead_index(step.pick)
        lead = self.model.leads[index]
        refused = _attempt(
            self.database, lambda: _move_status(self.crm, step.action, self.leads[index])
        )
        if (lead.status == OPEN) == (step.action == "reopen"):
            assert refused is not None
            expected = "lead.already_open" if step.action == "reopen" else "lead.closed"
            assert refused.code == expected
            return
        assert refused is None
        lead.status = NEW_STATUS[step.action]
        self.model.touch({lead.contact}, won_by=lead.contact if step.action == "win" else None)

    def change_primary(self, step: ChangePrimary) -> None:
        if not self.leads:
            return
        index = self._lead_index(step.pick)
        lead = self.model.leads[index]
        person = None
        if step.shift is not None:
            person = ((lead.contact or 0) + step.shift) % len(EMPLOYER)
        self.crm.set_primary_contact(
            TENANT,
            ADMIN,
            self.leads[index],
            None if person is None else self.contacts[person],
            keep_previous_as_participant=step.keep_previous,
        )
        if person == lead.contact:
            return
        previous, lead.contact = lead.contact, person
        self.model.touch({previous, person}, won_by=person if lead.status == WON else None)

    def set_statuses(self, step: SetStatuses) -> None:
        if step.of_account:
            staff = {p for p, employer in enumerate(EMPLOYER) if employer == step.index}
            table, kind = self.model.account, "account"
            record_id: str = self.accounts[step.index]
            change: Callable[..., object] = self.crm.set_account_statuses
        else:
            staff, table, kind = {step.index}, self.model.contact, "contact"
            record_id = self.contacts[step.index]
            change = self.crm.set_contact_statuses
        refused = _attempt(
            self.database,
            lambda: change(
                TENANT, ADMIN, record_id, prospect=step.prospect, customer=step.customer
            ),
        )
        if self.model.refuses_manual(self.model._leads_of(staff), step.prospect):
            assert refused is not None
            assert refused.code == f"{kind}.status.manual_change_forbidden"
            return
        assert refused is None
        old = table[step.index]
        table[step.index] = (
            step.prospect.value if step.prospect else old[0],
            step.customer.value if step.customer else old[1],
        )


# Histories that once went wrong or are easy to get wrong, replayed on every run.
MARKED_PAST = [
    CreateLead(0),
    MoveStatus("win", 0),
    SetStatuses(of_account=False, index=0, prospect=None, customer=CustomerStatus.PAST),
]


@settings(max_examples=200, deadline=None)
@given(st.lists(steps, min_size=4, max_size=40))
@example([*MARKED_PAST, ChangePrimary(0, 0, keep_previous=False)])
@example([*MARKED_PAST, MoveStatus("reopen", 0), MoveStatus("win", 0)])
@example([*MARKED_PAST, MoveStatus("reopen", 0), MoveStatus("lose", 0)])
@example([CreateLead(0), CreateLead(1), MoveStatus("win", 0), ChangePrimary(0, 2, True)])
@example(
    [
        CreateLead(0),
        MoveStatus("win", 0),
        SetStatuses(of_account=False, index=0, prospect=ProspectStatus.LOST, customer=None),
        SetStatuses(of_account=True, index=0, prospect=ProspectStatus.LOST, customer=None),
        SetStatuses(of_account=False, index=0, prospect=ProspectStatus.NONE, customer=None),
    ]
)
def test_contact_and_account_statuses_follow_the_model(history: list[Step]) -> None:
    simulation = Simulation()
    for step in history:
        simulation.apply(step)
        assert simulation.statuses() == (simulation.model.contact, simulation.model.account), step


# --- stage transitions -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChangeStage:
    where: str  # main, other or unknown
    pick: int


@dataclass(frozen=True, slots=True)
class ChangePipeline:
    where: str


StageStep = ChangeStage | ChangePipeline | MoveStatus

stage_steps: st.SearchStrategy[StageStep] = st.one_of(
    st.builds(ChangeStage, st.sampled_from(["main", "other", "unknown"]), st.integers(0, 3)),
    st.builds(ChangePipeline, st.sampled_from(["main", "other"])),
    st.builds(MoveStatus, st.sampled_from(["win", "lose", "disqualify", "reopen"]), st.just(0)),
)


class StageSimulation:
    """One lead moved around two pipelines, with what the rules say its stage must be."""

    def __init__(self) -> None:
        self.database = FakeDatabase()
        self.crm = CRM(self.database.uow, FakeClock())
        self.crm.register_user(TENANT, ADMIN, display_name="Ada")
        main = self.crm.pipelines(TENANT)[0]
        other = self.crm.create_pipeline(
            TENANT, ADMIN, name="Renewals", stages=[("Due", 30), ("Quoted", 60), ("Signed", 90)]
        )
        self.stages = {"main": [s.id for s in main.stages], "other": [s.id for s in other.stages]}
        self.pipelines = {"main": main.id, "other": other.id}
        self.lead_id = self.crm.create_lead(TENANT, ADMIN, title="Deal").id
        self.is_open, self.pipeline = True, "main"
        self.stage: str = self.stages["main"][0]

    def apply(self, step: StageStep) -> None:
        if isinstance(step, ChangeStage):
            self.change_stage(step)
        elif isinstance(step, ChangePipeline):
            refused = _attempt(
                self.database,
                lambda: self.crm.move_lead_to_pipeline(
                    TENANT, ADMIN, self.lead_id, self.pipelines[step.where]
                ),
            )
            if not self.is_open:
                assert refused is not None
                assert refused.code == "lead.closed"
            elif step.where != self.pipeline:
                assert refused is None
                self.pipeline, self.stage = step.where, self.stages[step.where][0]
        else:
            refused = _attempt(
                self.database, lambda: _move_status(self.crm, step.action, self.lead_id)
            )
            assert (refused is None) == (self.is_open != (step.action == "reopen"))
            self.is_open = step.action == "reopen" if refused is None else self.is_open

    def change_stage(self, step: ChangeStage) -> None:
        known = self.stages.get(step.where)
        target = "no-such-stage" if known is None else known[step.pick % len(known)]
        before = len(self.database.events)
        refused = _attempt(
            self.database, lambda: self.crm.change_stage(TENANT, ADMIN, self.lead_id, target)
        )
        if known is None:
            assert refused is not None
            assert refused.code == "stage.not_found"
        elif not self.is_open:
            assert refused is not None
            assert refused.code == "lead.closed"
        elif step.where != self.pipeline:
            assert refused is not None
            assert refused.code == "lead.stage_not_in_pipeline"
        else:
            assert refused is None
            events = self.database.events[before:]
            if target == self.stage:
                assert events == []
            else:
                (event,) = events
                assert isinstance(event, LeadStageChanged)
                change = event.change("stage_id")
                assert change is not None
                assert (change.before, change.after) == (self.stage, target)
            self.stage = target

    def check(self) -> None:
        lead = self.crm.get_lead(TENANT, ADMIN, self.lead_id)
        assert lead.is_open == self.is_open
        assert (lead.pipeline_id, lead.stage_id) == (self.pipelines[self.pipeline], self.stage)


@settings(max_examples=150, deadline=None)
@given(st.lists(stage_steps, max_size=25))
def test_stage_changes_only_while_open_and_within_the_lead_pipeline(
    history: list[StageStep],
) -> None:
    simulation = StageSimulation()
    for step in history:
        simulation.apply(step)
        simulation.check()
