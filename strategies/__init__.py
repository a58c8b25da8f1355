"""Winnow's active-learning library: pure numpy/scipy/scikit-learn, no Django.

features   TextVectorizer / pool_text_features (a pool's vocabulary TF-IDF), text_features
           (hashed, stateless: streams), vector_features, stack_rows
ngrams     NgramTfidf and hashed counts: word/char n-grams counted with numpy, equal to
           scikit-learn's TfidfVectorizer / HashingVectorizer (what features uses)
models     train_model (C by CV), ModelSpec / EstimatorModel (any classifier),
           train_multilabel_model
model_search  cv_search (a grid point by CV), reusable_choice (an earlier search's)
committee  train_committee, train_mixed_committee
embedders  sentence_transformer (a local model directory; optional extra)
query      STRATEGIES, QueryContext, score, pool_density
seeding    coverage_seed (cold-start batch)
selection  SELECTORS, SelectorOptions, select_batch, Selection, CostModel
stopping   RULES, BatchRecord, evaluate_rules, validate_rule, RuleResult
metrics    evaluate (accuracy and macro F1 with 95% intervals)
stream     StreamState, stream_decide, simulate_stream (Žliobaitė et al. 2014)
defaults   DEFAULT_STRATEGY, DEFAULT_SELECTOR (DEFAULT_SEQUENCE_* for span projects)
simulate   python -m strategies.simulate (simulated oracle, no database)
tasks      TASKS, strategies_for_task, strategy_fits (which strategies a task kind may use)
spans      span projects (named entities): tokens, CRF, sequence strategies, metrics,
           agreement, file formats, simulate_spans (see strategies/spans/__init__.py)
"""
