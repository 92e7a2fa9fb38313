"""Internals of the tree-structured Parzen estimator (see ``hpo_service.algorithms.tpe``)."""
