"""CSV files in (debtors, invoices, credit notes, payments), located errors out; one file, one transaction."""
