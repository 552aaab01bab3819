"""Stage 1, the recorder: runs inside the audited site, imports nothing heavy, never raises into it."""
