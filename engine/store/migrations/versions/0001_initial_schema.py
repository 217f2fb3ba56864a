"""Initial schema: creditors, debtors, invoices, payments, credit notes, cases, events, documents.

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-22 19:07:53.843269
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('creditor',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ref', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('siren', sa.String(length=9), nullable=True),
    sa.Column('address_line1', sa.String(length=200), nullable=True),
    sa.Column('address_line2', sa.String(length=200), nullable=True),
    sa.Column('postal_code', sa.String(length=20), nullable=True),
    sa.Column('city', sa.String(length=100), nullable=True),
    sa.Column('country', sa.String(length=2), nullable=False),
    sa.Column('email', sa.String(length=200), nullable=True),
    sa.Column('phone', sa.String(length=50), nullable=True),
    sa.Column('iban', sa.String(length=34), nullable=True),
    sa.Column('bic', sa.String(length=11), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_creditor')),
    sa.UniqueConstraint('ref', name=op.f('uq_creditor_ref'))
    )
    op.create_table('debtor',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('creditor_id', sa.Integer(), nullable=False),
    sa.Column('ref', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=3), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('siren', sa.String(length=9), nullable=True),
    sa.Column('address_line1', sa.String(length=200), nullable=True),
    sa.Column('address_line2', sa.String(length=200), nullable=True),
    sa.Column('postal_code', sa.String(length=20), nullable=True),
    sa.Column('city', sa.String(length=100), nullable=True),
    sa.Column('country', sa.String(length=2), nullable=False),
    sa.Column('email', sa.String(length=200), nullable=True),
    sa.Column('phone', sa.String(length=50), nullable=True),
    sa.CheckConstraint("kind IN ('b2b', 'b2c')", name=op.f('ck_debtor_kind')),
    sa.ForeignKeyConstraint(['creditor_id'], ['creditor.id'], name=op.f('fk_debtor_creditor_id_creditor')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_debtor')),
    sa.UniqueConstraint('creditor_id', 'ref', name=op.f('uq_debtor_creditor_id_ref'))
    )
    op.create_table('cases',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ref', sa.String(length=140), nullable=False),
    sa.Column('creditor_id', sa.Integer(), nullable=False),
    sa.Column('debtor_id', sa.Integer(), nullable=False),
    sa.Column('workflow_name', sa.String(length=100), nullable=False),
    sa.Column('workflow_version', sa.Integer(), nullable=False),
    sa.Column('state', sa.String(length=64), nullable=False),
    sa.Column('state_entered', sa.Date(), nullable=False),
    sa.Column('due_date', sa.Date(), nullable=False),
    sa.Column('promise_until', sa.Date(), nullable=True),
    sa.Column('on_hold', sa.Boolean(), nullable=False),
    sa.Column('resume_state', sa.String(length=64), nullable=True),
    sa.Column('disputed', sa.Boolean(), nullable=False),
    sa.Column('letters_sent', sa.Integer(), nullable=False),
    sa.Column('steps_taken', sa.JSON(), nullable=False),
    sa.Column('paid_seen', sa.Numeric(precision=14, scale=2), nullable=False),
    sa.Column('step_count', sa.Integer(), nullable=False),
    sa.Column('event_count', sa.Integer(), nullable=False),
    sa.Column('last_hash', sa.String(length=64), nullable=True),
    sa.Column('next_check_at', sa.Date(), nullable=True),
    sa.Column('closed', sa.Boolean(), nullable=False),
    sa.Column('opened_on', sa.Date(), nullable=False),
    sa.Column('closed_on', sa.Date(), nullable=True),
    sa.ForeignKeyConstraint(['creditor_id'], ['creditor.id'], name=op.f('fk_cases_creditor_id_creditor')),
    sa.ForeignKeyConstraint(['debtor_id'], ['debtor.id'], name=op.f('fk_cases_debtor_id_debtor')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cases')),
    sa.UniqueConstraint('ref', name=op.f('uq_cases_ref'))
    )
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.create_index('ix_case_open_debtor', ['debtor_id', 'workflow_name', 'closed'], unique=False)
        batch_op.create_index(batch_op.f('ix_cases_debtor_id'), ['debtor_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_cases_next_check_at'), ['next_check_at'], unique=False)

    op.create_table('credit_note',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('creditor_id', sa.Integer(), nullable=False),
    sa.Column('debtor_id', sa.Integer(), nullable=False),
    sa.Column('number', sa.String(length=64), nullable=False),
    sa.Column('issue_date', sa.Date(), nullable=False),
    sa.Column('amount', sa.Numeric(precision=14, scale=2), nullable=False),
    sa.Column('invoice_number', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['creditor_id'], ['creditor.id'], name=op.f('fk_credit_note_creditor_id_creditor')),
    sa.ForeignKeyConstraint(['debtor_id'], ['debtor.id'], name=op.f('fk_credit_note_debtor_id_debtor')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_credit_note')),
    sa.UniqueConstraint('creditor_id', 'number', name=op.f('uq_credit_note_creditor_id_number'))
    )
    with op.batch_alter_table('credit_note', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_credit_note_debtor_id'), ['debtor_id'], unique=False)

    op.create_table('payment',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('creditor_id', sa.Integer(), nullable=False),
    sa.Column('debtor_id', sa.Integer(), nullable=False),
    sa.Column('payment_date', sa.Date(), nullable=False),
    sa.Column('amount', sa.Numeric(precision=14, scale=2), nullable=False),
    sa.Column('reference', sa.String(length=100), nullable=True),
    sa.Column('invoice_number', sa.String(length=64), nullable=True),
    sa.Column('natural_key', sa.String(length=300), nullable=False),
    sa.ForeignKeyConstraint(['creditor_id'], ['creditor.id'], name=op.f('fk_payment_creditor_id_creditor')),
    sa.ForeignKeyConstraint(['debtor_id'], ['debtor.id'], name=op.f('fk_payment_debtor_id_debtor')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payment')),
    sa.UniqueConstraint('creditor_id', 'natural_key', name=op.f('uq_payment_creditor_id_natural_key'))
    )
    with op.batch_alter_table('payment', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_payment_debtor_id'), ['debtor_id'], unique=False)

    op.create_table('event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('occurred_on', sa.Date(), nullable=False),
    sa.Column('recorded_at', sa.DateTime(), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('actor', sa.String(length=100), nullable=True),
    sa.Column('step_key', sa.String(length=100), nullable=True),
    sa.Column('prev_hash', sa.String(length=64), nullable=True),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_event_case_id_cases')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_event')),
    sa.UniqueConstraint('case_id', 'seq', name=op.f('uq_event_case_id_seq')),
    sa.UniqueConstraint('case_id', 'step_key', name=op.f('uq_event_case_id_step_key'))
    )
    op.create_table('invoice',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('creditor_id', sa.Integer(), nullable=False),
    sa.Column('debtor_id', sa.Integer(), nullable=False),
    sa.Column('number', sa.String(length=64), nullable=False),
    sa.Column('issue_date', sa.Date(), nullable=False),
    sa.Column('due_date', sa.Date(), nullable=False),
    sa.Column('amount', sa.Numeric(precision=14, scale=2), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_invoice_case_id_cases')),
    sa.ForeignKeyConstraint(['creditor_id'], ['creditor.id'], name=op.f('fk_invoice_creditor_id_creditor')),
    sa.ForeignKeyConstraint(['debtor_id'], ['debtor.id'], name=op.f('fk_invoice_debtor_id_debtor')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_invoice')),
    sa.UniqueConstraint('creditor_id', 'number', name=op.f('uq_invoice_creditor_id_number'))
    )
    with op.batch_alter_table('invoice', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_invoice_case_id'), ['case_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_invoice_debtor_id'), ['debtor_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_invoice_due_date'), ['due_date'], unique=False)

    op.create_table('document',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('event_id', sa.Integer(), nullable=True),
    sa.Column('step_key', sa.String(length=100), nullable=False),
    sa.Column('state', sa.String(length=64), nullable=False),
    sa.Column('template', sa.String(length=200), nullable=True),
    sa.Column('path', sa.Text(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_document_case_id_cases')),
    sa.ForeignKeyConstraint(['event_id'], ['event.id'], name=op.f('fk_document_event_id_event')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_document')),
    sa.UniqueConstraint('case_id', 'step_key', name=op.f('uq_document_case_id_step_key'))
    )
    with op.batch_alter_table('document', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_document_case_id'), ['case_id'], unique=False)

    op.create_table('payment_allocation',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('invoice_id', sa.Integer(), nullable=False),
    sa.Column('payment_id', sa.Integer(), nullable=True),
    sa.Column('credit_note_id', sa.Integer(), nullable=True),
    sa.Column('amount', sa.Numeric(precision=14, scale=2), nullable=False),
    sa.CheckConstraint('(payment_id IS NULL) <> (credit_note_id IS NULL)', name=op.f('ck_payment_allocation_one_source')),
    sa.ForeignKeyConstraint(['credit_note_id'], ['credit_note.id'], name=op.f('fk_payment_allocation_credit_note_id_credit_note')),
    sa.ForeignKeyConstraint(['invoice_id'], ['invoice.id'], name=op.f('fk_payment_allocation_invoice_id_invoice')),
    sa.ForeignKeyConstraint(['payment_id'], ['payment.id'], name=op.f('fk_payment_allocation_payment_id_payment')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payment_allocation'))
    )
    with op.batch_alter_table('payment_allocation', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_payment_allocation_credit_note_id'), ['credit_note_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_payment_allocation_invoice_id'), ['invoice_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_payment_allocation_payment_id'), ['payment_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('payment_allocation', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_payment_allocation_payment_id'))
        batch_op.drop_index(batch_op.f('ix_payment_allocation_invoice_id'))
        batch_op.drop_index(batch_op.f('ix_payment_allocation_credit_note_id'))

    op.drop_table('payment_allocation')
    with op.batch_alter_table('document', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_document_case_id'))

    op.drop_table('document')
    with op.batch_alter_table('invoice', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_invoice_due_date'))
        batch_op.drop_index(batch_op.f('ix_invoice_debtor_id'))
        batch_op.drop_index(batch_op.f('ix_invoice_case_id'))

    op.drop_table('invoice')
    op.drop_table('event')
    with op.batch_alter_table('payment', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_payment_debtor_id'))

    op.drop_table('payment')
    with op.batch_alter_table('credit_note', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_credit_note_debtor_id'))

    op.drop_table('credit_note')
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cases_next_check_at'))
        batch_op.drop_index(batch_op.f('ix_cases_debtor_id'))
        batch_op.drop_index('ix_case_open_debtor')

    op.drop_table('cases')
    op.drop_table('debtor')
    op.drop_table('creditor')
