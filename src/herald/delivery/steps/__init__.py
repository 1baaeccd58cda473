"""The send path's steps, one rule each, run in order by `delivery.pipeline.Pipeline`."""
