"""Monitoring for scaling: queue depth per channel, provider health, throughput and latency."""
