"""Classification metrics for a trained model, computed with scikit-learn (not a plugin).

:func:`classification_metrics` turns true labels and predicted class
probabilities into JSON-able numbers: accuracy, precision / recall / F1
(macro and weighted), the confusion matrix, one-vs-rest ROC AUC (per class
and macro) with ROC curves sampled on a fixed false-positive-rate grid, and
top-k accuracy.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from sklearn import metrics as skm

#: false-positive rates at which each stored ROC curve is sampled
ROC_GRID = np.linspace(0.0, 1.0, 51)


def _round(value: float, digits: int = 6) -> float | None:
    value = float(value)
    return round(value, digits) if math.isfinite(value) else None


def roc_per_class(y_true: np.ndarray, probs: np.ndarray) -> tuple[list[float | None], list[list[float] | None]]:
    """One-vs-rest ROC AUC and ROC curve (true-positive rates on :data:`ROC_GRID`) for every class.

    A class absent from ``y_true`` (or the only one present) has no ROC curve:
    its entries are ``None``.
    """
    aucs: list[float | None] = []
    curves: list[list[float] | None] = []
    for c in range(probs.shape[1]):
        positive = y_true == c
        if positive.all() or not positive.any():
            aucs.append(None)
            curves.append(None)
            continue
        fpr, tpr, _ = skm.roc_curve(positive, probs[:, c])
        aucs.append(_round(skm.auc(fpr, tpr)))  # the area under this same curve: one pass, not two
        # the curve is a step function; take the highest tpr reached at each grid fpr
        sampled = np.interp(ROC_GRID, fpr, tpr, left=0.0, right=1.0)
        curves.append([round(float(t), 4) for t in sampled])
    return aucs, curves


def classification_metrics(y_true: Any, probs: Any, num_classes: int | None = None) -> dict[str, Any]:
    """Every metric of a classifier from labels ``(N,)`` and class probabilities ``(N, C)``.

    Keys: ``accuracy``, ``precision_macro``, ``recall_macro``, ``f1_macro``,
    ``precision_weighted``, ``recall_weighted``, ``f1_weighted``,
    ``confusion_matrix`` (rows: true class, columns: predicted),
    ``roc_auc`` (macro mean of the defined per-class AUCs), ``roc_auc_per_class``,
    ``roc_curves`` (``{"fpr": grid, "tpr": [per class]}``), ``top3_accuracy``
    and ``top5_accuracy`` (``None`` when there are not more classes than k),
    ``support`` (examples per class).
    """
    y_true = np.asarray(y_true, dtype=np.int64)
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 2 or probs.shape[0] != y_true.shape[0]:
        raise ValueError(f"probabilities must be (N, C) with N={y_true.shape[0]}, got {probs.shape}")
    num_classes = num_classes or probs.shape[1]
    labels = list(range(num_classes))
    y_pred = probs.argmax(axis=1)
    out: dict[str, Any] = {"accuracy": _round(skm.accuracy_score(y_true, y_pred))}
    for average in ("macro", "weighted"):
        p, r, f, _ = skm.precision_recall_fscore_support(
            y_true, y_pred, labels=labels, average=average, zero_division=0
        )
        out[f"precision_{average}"] = _round(p)
        out[f"recall_{average}"] = _round(r)
        out[f"f1_{average}"] = _round(f)
    out["confusion_matrix"] = skm.confusion_matrix(y_true, y_pred, labels=labels).tolist()
    aucs, curves = roc_per_class(y_true, probs)
    defined = [a for a in aucs if a is not None]
    out["roc_auc"] = _round(np.mean(defined)) if defined else None
    out["roc_auc_per_class"] = aucs
    out["roc_curves"] = {"fpr": [round(float(x), 4) for x in ROC_GRID], "tpr": curves}
    for k in (3, 5):
        out[f"top{k}_accuracy"] = (
            _round(skm.top_k_accuracy_score(y_true, probs, k=k, labels=labels)) if num_classes > k else None
        )
    out["support"] = np.bincount(y_true, minlength=num_classes).tolist()
    return out


@torch.no_grad()
@torch.no_grad()
def split_logits(model: torch.nn.Module, split: Any, batch_size: int, device: torch.device,
                 amp: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """``(labels, float32 logits)`` of ``model`` on a whole split, on the CPU."""
    from snas import autocast

    model.eval()
    labels, logits = [], []
    for xb, yb in split.batches(max(batch_size, 256), device=device):
        with autocast(device, amp):
            out = model(xb)
        logits.append(out.float().cpu())
        labels.append(yb.cpu())
    return torch.cat(labels), torch.cat(logits)
