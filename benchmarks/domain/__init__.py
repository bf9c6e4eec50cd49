"""The domain: data sets, models, the model zoo and the training loop used by the experiments."""
