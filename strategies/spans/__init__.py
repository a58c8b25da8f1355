"""Spans (named entities) as a pure library: no Django, arrays in, arrays out.

tokens      tokenize (character offsets kept), Span, spans_to_tags / tags_to_spans (BIO,
            spans snapped to tokens, overlaps refused), tag_runs (IOB1/IOB2/BIOES)
features    sentence_token_features (shape, affixes, case, digits, neighbours, gazetteer),
            sentence_features (one hashed row per sentence, for the batch selectors)
crf         train_span_model (sklearn-crfsuite), SpanModel.predict_sequences (Viterbi
            paths, P(y*|x), padded token marginals), train_span_committee (bagging)
paths       path_spans: padded Viterbi paths to character spans, many sentences at once
query       SEQUENCE_STRATEGIES, SequenceContext, score_sequences: least confidence,
            MNLP, token entropy (sum, mean), committee vote entropy
metrics     evaluate_spans: entity precision/recall/F1 (seqeval), bootstrap intervals
agreement   span_f1 / pairwise_span_agreement (exact; partial and overlap via
            nervaluate), token_units (token-level Krippendorff data), span_consensus
formats     read_conll / write_conll, read_jsonl / write_jsonl: files <-> SpanDocument;
            span_label_problem: label names the formats cannot carry (O, B-, I-, spaces)
simulate    python -m strategies.spans.simulate; simulate_spans, run_span_loop
"""
