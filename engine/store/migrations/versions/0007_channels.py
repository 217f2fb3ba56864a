"""Channels that really happen: the e-mail outbox, the team's tasks, approvals and the debtor-level hold.

outbox: one e-mail per (case, step), committed with the step, delivered after the commit; task: the
calls a step asks for and the e-mails that could not go; cases.awaiting_approval: the state a due step
waits to enter until someone approves; debtor.do_not_chase: stop every case of a debtor.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN, never batch mode (see 0002: batch mode would copy tables other rows point to).
    op.add_column('debtor', sa.Column('do_not_chase', sa.Boolean(), server_default=sa.false(), nullable=False))
    op.add_column('cases', sa.Column('awaiting_approval', sa.String(length=64), nullable=True))
    op.create_table(
        'outbox',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('case_id', sa.Integer(), nullable=False),
        sa.Column('step_key', sa.String(length=100), nullable=False),
        sa.Column('state', sa.String(length=64), nullable=False),
        sa.Column('occurred_on', sa.Date(), nullable=False),
        sa.Column('message_id', sa.String(length=250), nullable=False),
        sa.Column('to_address', sa.String(length=200), nullable=True),
        sa.Column('subject', sa.Text(), nullable=False),
        sa.Column('body_text', sa.Text(), nullable=False),
        sa.Column('body_html', sa.Text(), nullable=True),
        sa.Column('document_path', sa.Text(), nullable=True),
        sa.Column('attach', sa.JSON(), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('next_attempt_at', sa.DateTime(), nullable=True),
        sa.Column('last_error', sa.Text(), nullable=True),
        sa.Column('smtp_response', sa.Text(), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('sent_at', sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_outbox_case_id_cases')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox')),
        sa.UniqueConstraint('case_id', 'step_key', name=op.f('uq_outbox_case_id_step_key')),
        sa.UniqueConstraint('message_id', name=op.f('uq_outbox_message_id')),
    )
    op.create_index(op.f('ix_outbox_case_id'), 'outbox', ['case_id'])
    op.create_index('ix_outbox_status', 'outbox', ['status', 'next_attempt_at'])
    op.create_table(
        'task',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('case_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=32), nullable=False),
        sa.Column('step_key', sa.String(length=100), nullable=True),
        sa.Column('state', sa.String(length=64), nullable=True),
        sa.Column('detail', sa.Text(), nullable=True),
        sa.Column('created_on', sa.Date(), nullable=False),
        sa.Column('due_on', sa.Date(), nullable=False),
        sa.Column('done_on', sa.Date(), nullable=True),
        sa.Column('done_by', sa.String(length=100), nullable=True),
        sa.Column('outcome', sa.String(length=32), nullable=True),
        sa.Column('note', sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_task_case_id_cases')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_task')),
        sa.UniqueConstraint('case_id', 'kind', 'step_key', name=op.f('uq_task_case_id_kind_step_key')),
    )
    op.create_index(op.f('ix_task_case_id'), 'task', ['case_id'])
    op.create_index('ix_task_open', 'task', ['done_on', 'due_on'])


def downgrade() -> None:
    op.drop_index('ix_task_open', table_name='task')
    op.drop_index(op.f('ix_task_case_id'), table_name='task')
    op.drop_table('task')
    op.drop_index('ix_outbox_status', table_name='outbox')
    op.drop_index(op.f('ix_outbox_case_id'), table_name='outbox')
    op.drop_table('outbox')
    op.drop_column('cases', 'awaiting_approval')
    op.drop_column('debtor', 'do_not_chase')
