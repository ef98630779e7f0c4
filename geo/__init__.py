"""Location-based check-ins across a closed and a public network, with proximity ads."""
