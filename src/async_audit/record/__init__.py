"""Stage 1, the recorder: runs inside the audited site, so it imports nothing heavy and never raises into it."""
