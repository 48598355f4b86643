#!/usr/bin/env python3
"""A stand-in for a model's batch inference: texts in, one flat JSON line per text out.

    python3 sample_data/sentiment/infer.py sample_data/sentiment/reviews.txt \
        | lsimport upload - --project 5 --preannotated-from-fields sentiment,score

Each line is `{"text": ..., "sentiment": LABEL, "score": P}`: the shape most inference code
writes, which `--preannotated-from-fields sentiment,score` turns into a Label Studio prediction.
The "model" counts a few words; a real one would be loaded and called here.
"""

import json
import signal
import sys

POSITIVE = {"love", "great", "perfect", "excellent", "comfortable", "recommend"}
NEGATIVE = {"broke", "broken", "refund", "worse", "useless", "disappointed"}


def predict(text: str) -> tuple[str, float]:
    words = {w.strip(".,!?").lower() for w in text.split()}
    pos, neg = len(words & POSITIVE), len(words & NEGATIVE)
    if pos == neg:
        return "Neutral", 0.5
    label = "Positive" if pos > neg else "Negative"
    return label, round(min(0.99, 0.6 + 0.15 * abs(pos - neg)), 2)


signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `| head` closing the pipe is fine

with open(sys.argv[1], encoding="utf-8") if len(sys.argv) > 1 else sys.stdin as texts:
    for line in texts:
        if line.strip():
            label, score = predict(line.strip())
            print(json.dumps({"text": line.strip(), "sentiment": label, "score": score}))
