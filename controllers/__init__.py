"""Controllers: policies, gradient estimators, trainers and baselines."""
