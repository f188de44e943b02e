"""The Cityscapes label table, as lookup arrays indexed by label id 0..33.

The table of cityscapesScripts' `labels.py` (ids, train ids, categories, eval flags, colours),
written out here rather than imported from torchvision's copy (`Cityscapes.classes`), which
would load torch and torchvision into every step that reads a label: synthesising, subsetting
and scoring never run a model. A test keeps the two tables equal. Training uses train ids
0..18 plus a void class (19, as in the official baseline); submissions hold label ids.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class Label(NamedTuple):
    """One row of cityscapesScripts' table (the fields of torchvision's `CityscapesClass`)."""

    name: str
    id: int
    train_id: int
    category: str
    category_id: int
    has_instances: bool
    ignore_in_eval: bool
    color: tuple[int, int, int]


LABELS = (
    Label('unlabeled', 0, 255, 'void', 0, False, True, (0, 0, 0)),
    Label('ego vehicle', 1, 255, 'void', 0, False, True, (0, 0, 0)),
    Label('rectification border', 2, 255, 'void', 0, False, True, (0, 0, 0)),
    Label('out of roi', 3, 255, 'void', 0, False, True, (0, 0, 0)),
    Label('static', 4, 255, 'void', 0, False, True, (0, 0, 0)),
    Label('dynamic', 5, 255, 'void', 0, False, True, (111, 74, 0)),
    Label('ground', 6, 255, 'void', 0, False, True, (81, 0, 81)),
    Label('road', 7, 0, 'flat', 1, False, False, (128, 64, 128)),
    Label('sidewalk', 8, 1, 'flat', 1, False, False, (244, 35, 232)),
    Label('parking', 9, 255, 'flat', 1, False, True, (250, 170, 160)),
    Label('rail track', 10, 255, 'flat', 1, False, True, (230, 150, 140)),
    Label('building', 11, 2, 'construction', 2, False, False, (70, 70, 70)),
    Label('wall', 12, 3, 'construction', 2, False, False, (102, 102, 156)),
    Label('fence', 13, 4, 'construction', 2, False, False, (190, 153, 153)),
    Label('guard rail', 14, 255, 'construction', 2, False, True, (180, 165, 180)),
    Label('bridge', 15, 255, 'construction', 2, False, True, (150, 100, 100)),
    Label('tunnel', 16, 255, 'construction', 2, False, True, (150, 120, 90)),
    Label('pole', 17, 5, 'object', 3, False, False, (153, 153, 153)),
    Label('polegroup', 18, 255, 'object', 3, False, True, (153, 153, 153)),
    Label('traffic light', 19, 6, 'object', 3, False, False, (250, 170, 30)),
    Label('traffic sign', 20, 7, 'object', 3, False, False, (220, 220, 0)),
    Label('vegetation', 21, 8, 'nature', 4, False, False, (107, 142, 35)),
    Label('terrain', 22, 9, 'nature', 4, False, False, (152, 251, 152)),
    Label('sky', 23, 10, 'sky', 5, False, False, (70, 130, 180)),
    Label('person', 24, 11, 'human', 6, True, False, (220, 20, 60)),
    Label('rider', 25, 12, 'human', 6, True, False, (255, 0, 0)),
    Label('car', 26, 13, 'vehicle', 7, True, False, (0, 0, 142)),
    Label('truck', 27, 14, 'vehicle', 7, True, False, (0, 0, 70)),
    Label('bus', 28, 15, 'vehicle', 7, True, False, (0, 60, 100)),
    Label('caravan', 29, 255, 'vehicle', 7, True, True, (0, 0, 90)),
    Label('trailer', 30, 255, 'vehicle', 7, True, True, (0, 0, 110)),
    Label('train', 31, 16, 'vehicle', 7, True, False, (0, 80, 100)),
    Label('motorcycle', 32, 17, 'vehicle', 7, True, False, (0, 0, 230)),
    Label('bicycle', 33, 18, 'vehicle', 7, True, False, (119, 11, 32)),
)
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
