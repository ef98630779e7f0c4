"""The advertiser's web dashboard: server-rendered pages, no JavaScript, no network at run time."""
