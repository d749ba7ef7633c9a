"""Classification metrics: accuracy, confusion matrix, per-class accuracy."""
import numpy as np


def _check(labels, predictions, num_classes):
    labels = np.asarray(labels, np.int64)
    predictions = np.asarray(predictions, np.int64)
    if labels.shape != predictions.shape or labels.ndim != 1:
        raise ValueError(f"labels {labels.shape} and predictions {predictions.shape} must be equal 1-D")
    for name, a in (("label", labels), ("prediction", predictions)):
        bad = (a < 0) | (a >= num_classes)
        if bad.any():
            raise ValueError(f"{name} {a[bad][0]} outside [0, {num_classes})")
    return labels, predictions


def accuracy(labels, predictions):
    """Fraction of predictions equal to their labels."""
    labels, predictions = np.asarray(labels), np.asarray(predictions)
    if labels.shape != predictions.shape or labels.size == 0:
        raise ValueError(f"labels {labels.shape} and predictions {predictions.shape}: need equal, non-empty")
    return float(np.mean(labels == predictions))


def confusion_matrix(labels, predictions, num_classes):
    """num_classes x num_classes counts: row = true class, column = predicted class."""
    labels, predictions = _check(labels, predictions, num_classes)
    cm = np.zeros((num_classes, num_classes), np.int64)
    np.add.at(cm, (labels, predictions), 1)
    return cm


def per_class_accuracy(labels, predictions, num_classes):
    """Recall of each class (num_classes,); NaN for a class with no example."""
    cm = confusion_matrix(labels, predictions, num_classes)
    total = cm.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, np.diag(cm) / total, np.nan)
