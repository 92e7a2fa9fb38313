"""Internals of the tree-structured Parzen estimator (see ``algorithms.tpe``)."""
