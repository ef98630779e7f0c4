"""Accounts (member, business, advertiser), passwords and bearer tokens."""
