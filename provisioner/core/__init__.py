"""Use cases: enable, inventory, runs, lab. The core never prints."""
