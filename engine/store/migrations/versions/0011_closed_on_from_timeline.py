"""A closed case's closed_on is the day of its closing step, as its timeline dates it.

Before, closed_on took the day a run or an approval saw the case close (a payment received on the 21st, seen
by the run of the 25th: closed on the 25th, while the timeline dated the step the 21st). The engine now writes
the closing step's day; the rows closed before that keep the other date until this revision recomputes them
from the timeline: the day of the case's last state change (the step into the final state it sits in).
A closed case with no state change recorded (none is expected) keeps its date. Data only: nothing to undo on
a downgrade, the older engine reads the corrected dates as it reads its own.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

cases = sa.table("cases", sa.column("id", sa.Integer), sa.column("closed", sa.Boolean),
                 sa.column("closed_on", sa.Date))
event = sa.table("event", sa.column("case_id", sa.Integer), sa.column("seq", sa.Integer),
                 sa.column("kind", sa.String), sa.column("occurred_on", sa.Date))


def upgrade() -> None:
    # The (case_id, seq) unique index answers each case's last state change.
    closing_day = (sa.select(event.c.occurred_on)
                   .where(event.c.case_id == cases.c.id, event.c.kind == "state_change")
                   .order_by(event.c.seq.desc()).limit(1).scalar_subquery())
    has_step = (sa.select(event.c.seq)
                .where(event.c.case_id == cases.c.id, event.c.kind == "state_change").exists())
    op.execute(cases.update().where(cases.c.closed == sa.true(), has_step).values(closed_on=closing_day))


def downgrade() -> None:
    pass
