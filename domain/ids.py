"""Typed identifiers, so a lead id can never be passed where a contact id is expected."""

from __future__ import annotations

import uuid
from typing import NewType

TenantId = NewType("TenantId", str)
UserId = NewType("UserId", str)
AccountId = NewType("AccountId", str)
ContactId = NewType("ContactId", str)
LeadId = NewType("LeadId", str)
PipelineId = NewType("PipelineId", str)
StageId = NewType("StageId", str)
CommentId = NewType("CommentId", str)
ReminderId = NewType("ReminderId", str)
DocumentId = NewType("DocumentId", str)
RelationshipId = NewType("RelationshipId", str)


def new_id() -> str:
    """A random, URL-safe id; random rather than sequential so ids leak no volume."""
    return uuid.uuid4().hex
