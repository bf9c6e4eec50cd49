"""Experiment ``toy-am``: AM on toy ReLU functions with derived or certified optima.

The protocol lives in :mod:`.experiment`; tables and claims in :mod:`.analysis`; figures in :mod:`.figures`.
"""
