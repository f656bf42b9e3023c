"""Hostile ``prepare_jobs`` code run through ``minions.ask``, as root and as nobody."""
