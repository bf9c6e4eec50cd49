"""Experiment ``training``: CNNs trained with ProxyGrad and peer rules against ReLU.

The protocol lives in :mod:`.experiment`; tables and claims in :mod:`.analysis`; figures in :mod:`.figures`.
"""
