"""The Cityscapes label table, as lookup arrays indexed by label id 0..33.

Read from torchvision's copy of cityscapesScripts' `labels.py`, so the ids, train ids,
categories and eval flags are the official ones. Training uses train ids 0..18 plus a void
class (19, as in the official baseline); submissions hold label ids.
"""

from __future__ import annotations

import numpy as np
from torchvision.datasets import Cityscapes

LABELS = tuple(c for c in Cityscapes.classes if c.id >= 0)
NUM_IDS = 34
assert [c.id for c in LABELS] == list(range(NUM_IDS))

NUM_TRAIN_CLASSES = 19
VOID_TRAIN_ID = 19
NAMES = tuple(c.name for c in LABELS)
EVALUATED = np.array([not c.ignore_in_eval for c in LABELS])
EVAL_IDS = tuple(int(i) for i in np.flatnonzero(EVALUATED))
HAS_INSTANCES = np.array([c.has_instances for c in LABELS])

#: categories in the order cityscapesScripts' `category2labels` lists them.
CATEGORIES = tuple(dict.fromkeys(c.category for c in LABELS))
CATEGORY_OF = np.array([CATEGORIES.index(c.category) for c in LABELS])

#: label id -> train id (0..18, 19 = void); every id above 33 is void too.
ID_TO_TRAIN = np.full(256, VOID_TRAIN_ID, dtype=np.uint8)
for _c in LABELS:
    if 0 <= _c.train_id < NUM_TRAIN_CLASSES:
        ID_TO_TRAIN[_c.id] = _c.train_id
#: train id -> label id; void (19) becomes 0, "unlabeled", as the baseline's `trainid2id`.
TRAIN_TO_ID = np.zeros(NUM_TRAIN_CLASSES + 1, dtype=np.uint8)
for _c in LABELS:
    if 0 <= _c.train_id < NUM_TRAIN_CLASSES:
        TRAIN_TO_ID[_c.train_id] = _c.id
TRAIN_NAMES = tuple(NAMES[i] for i in TRAIN_TO_ID[:NUM_TRAIN_CLASSES])

#: cityscapesScripts' `args.avgClassSize`: the instance weights of iIoU.
AVG_CLASS_SIZE = {
    "bicycle": 4672.3249222261,
    "caravan": 36771.8241758242,
    "motorcycle": 6298.7200839748,
    "rider": 3930.4788056518,
    "bus": 35732.1511111111,
    "train": 67583.7075812274,
    "car": 12794.0202738185,
    "person": 3462.4756337644,
    "truck": 27855.1264367816,
    "trailer": 16926.9763313609,
}

ID = {c.name: c.id for c in LABELS}
