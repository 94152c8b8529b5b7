"""Builders of the embedded sample pool (refmatte/sample/); run tools/build_sample_pool.py."""
