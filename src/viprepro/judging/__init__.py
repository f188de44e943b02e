"""Judging a run: the verdict rule, the audits read from job records, independent rebuilds of initial weights."""
