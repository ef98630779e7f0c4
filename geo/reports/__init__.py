"""Reach reports: hourly rollups, reach sketches, store-visit attribution, lift and the k-floor."""
