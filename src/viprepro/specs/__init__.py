"""Submission specs: what a submission claims and how to rerun it, checked when it is loaded."""
