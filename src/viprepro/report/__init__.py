"""What a reviewer reads: figures, the reproduction certificate, the leaderboard page, reruns.

Everything here reads the records the pipeline already wrote (verdict.json, history.json,
scores.json, the figures the scoring step rendered) and never the hidden test ground truth:
the figures that need it (confusion matrix, example test predictions) are rendered by the
scoring step, the only one allowed to read it, and picked up from its score folder.
"""
