"""Winnow's active-learning library: pure numpy/scipy/scikit-learn, no Django.

features   text_features (hashed, stateless), vector_features, stack_rows
models     train_model, train_committee, train_multilabel_model (logistic regression)
query      STRATEGIES, QueryContext, score, pool_density
seeding    coverage_seed (cold-start batch)
selection  SELECTORS, SelectorOptions, select_batch, Selection, CostModel
stopping   RULES, BatchRecord, evaluate_rules, validate_rule, RuleResult
metrics    evaluate (accuracy and macro F1 with 95% intervals)
stream     StreamState, stream_decide, simulate_stream (Žliobaitė et al. 2014)
defaults   DEFAULT_STRATEGY, DEFAULT_SELECTOR
simulate   python -m strategies.simulate (simulated oracle, no database)
"""
