"""The web app: its users, the versions of uploaded letter templates, and what the case list reads.

`cases.balance_seen` is the ledger's balance when the engine last looked at a case (kept with
paid_seen); with the (closed, column, id) indexes each page of the case list is one index range
scan, whatever the number of cases. Existing cases get it from their invoices and paid_seen here.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN, not batch mode: on SQLite batch mode would copy and drop the cases table,
    # which the foreign keys of invoices and events refuse (see 0002).
    op.add_column('cases', sa.Column('balance_seen', sa.Numeric(14, 2), server_default='0', nullable=False))
    op.execute(
        "UPDATE cases SET balance_seen = COALESCE("
        "(SELECT SUM(invoice.amount) FROM invoice WHERE invoice.case_id = cases.id), 0) - paid_seen "
        "WHERE closed = false" if op.get_bind().dialect.name == "postgresql" else
        "UPDATE cases SET balance_seen = COALESCE("
        "(SELECT SUM(invoice.amount) FROM invoice WHERE invoice.case_id = cases.id), 0) - paid_seen "
        "WHERE closed = 0"
    )
    op.create_index('ix_cases_list_id', 'cases', ['closed', 'id'])
    op.create_index('ix_cases_list_balance', 'cases', ['closed', 'balance_seen', 'id'])
    op.create_index('ix_cases_list_due', 'cases', ['closed', 'due_date', 'id'])
    op.create_index('ix_cases_list_state', 'cases', ['closed', 'state', 'id'])
    op.create_index('ix_debtor_name', 'debtor', ['name'])
    op.create_index('ix_debtor_ref', 'debtor', ['ref'])
    op.create_table(
        'app_user',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=64), nullable=False),
        sa.Column('role', sa.String(length=16), nullable=False),
        sa.Column('password_hash', sa.String(length=200), nullable=False),
        sa.Column('active', sa.Boolean(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('disabled_at', sa.DateTime(), nullable=True),
        sa.CheckConstraint("role IN ('viewer', 'collector', 'legal', 'admin')", name=op.f('ck_app_user_role')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_app_user')),
        sa.UniqueConstraint('name', name=op.f('uq_app_user_name')),
    )
    op.create_table(
        'template_version',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('sha256', sa.String(length=64), nullable=False),
        sa.Column('content', sa.LargeBinary(), nullable=False),
        sa.Column('uploaded_by', sa.String(length=100), nullable=True),
        sa.Column('uploaded_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_template_version')),
        sa.UniqueConstraint('name', 'version', name=op.f('uq_template_version_name_version')),
    )


def downgrade() -> None:
    op.drop_table('template_version')
    op.drop_table('app_user')
    op.drop_index('ix_debtor_ref', table_name='debtor')
    op.drop_index('ix_debtor_name', table_name='debtor')
    for name in ('ix_cases_list_state', 'ix_cases_list_due', 'ix_cases_list_balance', 'ix_cases_list_id'):
        op.drop_index(name, table_name='cases')
    op.drop_column('cases', 'balance_seen')
