"""The use cases: open and advance cases (the run), act on one case (pay, dispute, promise, hold, jump...),
find and show cases, verify the record. The command line and any other front end call these."""
