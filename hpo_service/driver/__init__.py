"""The driver side of a study: everything that runs in ``hpo-driver`` (or in ``fmin``).

- ``_study_loop``: the study loop that keeps the queue filled until the study is done;
- ``_study``: creating or resuming a study (its stored settings are
  :mod:`hpo_service._common.settings`, shared with the worker);
- ``_suggest``: the suggestion stream (history in, trials out), shared with ``fmin``;
- ``_store_trials``: ``StoreTrials``, hyperopt's ``MongoTrials`` over any store;
- ``_local_workers``: workers that ``--workers K`` starts beside the driver;
- ``_progress``, ``_output``: the progress bar and what the command line prints
  (a trial's JSON record and CSV row are :mod:`hpo_service._common.trial_rows`,
  shared with the insight tools); ``_listing``: ``hpo-driver trials`` streamed;
- ``cli``: the ``hpo-driver`` command line.

Nothing here is imported by users directly: they reach ``StoreTrials`` through
``hpo_service`` and the rest through the ``hpo-driver`` command.
"""
