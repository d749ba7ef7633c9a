"""Metrics the paper reports: accuracy, per-class accuracy and confusion; BLEU, CIDEr-D, ROUGE-L; retrieval
R@K and median rank. Import submodules directly.
"""
