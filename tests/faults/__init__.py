"""Fault injection: crashes, lost responses, rate limits, garbage, secrets."""
