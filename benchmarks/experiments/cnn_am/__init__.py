"""Experiment ``cnn-am``: AM on real CNNs, plain against proxy, paired unit by unit.

The protocol lives in :mod:`.experiment`; tables and claims in :mod:`.analysis`; figures in :mod:`.figures`.
"""
