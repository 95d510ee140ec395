"""An XGBoost regression ensemble evaluated with numpy, for the worker's hot path.

`Booster.inplace_predict` costs ~150-200 µs per call whatever the row count
(Python argument handling and XGBoost's per-call set-up), which is most of a
window's scoring cost when windows close one or a few at a time. Here every
tree is a row of padded node arrays and all trees descend together, one
numpy step per level, so a single row costs a few tens of µs. The numbers are
XGBoost's own: features and thresholds compared in float32 (`x < split`,
NaN takes the default branch), leaves summed in float32 in tree order onto
the base score, as its CPU predictor does; tests/models/test_trees.py checks
equality with `inplace_predict`. Only what the trainer makes is supported
(gbtree, one target, numeric splits); anything else is refused at load.
"""

from __future__ import annotations

import json

import numpy as np


class Ensemble:
    def __init__(self, booster) -> None:
        learner = json.loads(booster.save_raw("json"))["learner"]
        params = learner["learner_model_param"]
        model = learner["gradient_booster"]
        if model["name"] != "gbtree" or int(params.get("num_target", "1")) != 1 \
                or int(params.get("num_class", "0")) > 1:
            raise ValueError(f"unsupported booster: {model['name']}, {params}")
        if learner["objective"]["name"] != "reg:squarederror":
            raise ValueError(f"unsupported objective {learner['objective']['name']}")
        trees = model["model"]["trees"]
        if any(any(t["split_type"]) for t in trees):
            raise ValueError("categorical splits are not supported")
        # "5E-1" in older models, "[5E-1]" (one per target) in newer ones
        self.base = np.float32(np.ravel(json.loads(params["base_score"]))[0])
        width = max(len(t["left_children"]) for t in trees)
        count = len(trees)
        # every node of every tree in flat arrays; children as flat indices
        left = np.zeros(count * width, np.intp)
        right = np.zeros(count * width, np.intp)
        feature = np.zeros(count * width, np.intp)
        split = np.zeros(count * width, np.float32)
        default_left = np.zeros(count * width, bool)
        depth = 0
        for k, tree in enumerate(trees):
            lc = np.asarray(tree["left_children"], np.intp)
            rc = np.asarray(tree["right_children"], np.intp)
            n, first = len(lc), k * width
            leaf = lc == -1
            nodes = np.arange(n)
            at = slice(first, first + n)
            # a leaf points at itself, so every tree can take the same number of steps
            left[at] = first + np.where(leaf, nodes, lc)
            right[at] = first + np.where(leaf, nodes, rc)
            feature[at] = np.where(leaf, 0, tree["split_indices"])
            split[at] = tree["split_conditions"]  # a leaf's value, for a leaf
            default_left[at] = np.asarray(tree["default_left"], bool)
            depth = max(depth, _depth(lc, rc))
        self.depth, self.count, self.features = depth, count, int(params["num_feature"])
        self.left, self.right, self.feature = left, right, feature
        self.split, self.default_left = split, default_left
        self.roots = np.arange(count, dtype=np.intp) * width

    def predict(self, rows: np.ndarray) -> np.ndarray:
        """float32 predictions for a 2-d array of rows (the booster's column order)."""
        x = np.asarray(rows, dtype=np.float32)
        if x.ndim != 2 or x.shape[1] != self.features:
            raise ValueError(f"feature shape mismatch: expected (n, {self.features}), "
                             f"got {x.shape}")
        n = x.shape[0]
        flat = np.ascontiguousarray(x).ravel()
        offsets = (np.arange(n, dtype=np.intp) * self.features)[:, None]
        node = np.broadcast_to(self.roots, (n, self.count))
        for _ in range(self.depth):
            value = flat.take(offsets + self.feature.take(node))
            go_left = value < self.split.take(node)
            missing = np.isnan(value)
            if missing.any():
                go_left = np.where(missing, self.default_left.take(node), go_left)
            node = np.where(go_left, self.left.take(node), self.right.take(node))
        leaves = self.split.take(node)
        # float32, sequentially in tree order, onto the base score: XGBoost's own sum
        total = np.concatenate([np.full((n, 1), self.base, np.float32), leaves], axis=1)
        return np.cumsum(total, axis=1, dtype=np.float32)[:, -1]


def _depth(left: np.ndarray, right: np.ndarray) -> int:
    """Edges on the longest root-to-leaf path."""
    deepest, stack = 0, [(0, 0)]
    while stack:
        node, d = stack.pop()
        if left[node] == -1:
            deepest = max(deepest, d)
        else:
            stack += [(left[node], d + 1), (right[node], d + 1)]
    return deepest
