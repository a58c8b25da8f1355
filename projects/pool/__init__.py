"""The pool: feature shards computed once per item, and the pool read as arrays."""
